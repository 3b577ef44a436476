//! Dispute resolution: the operator settles each discrepancy of a reconciliation in one of three
//! ways, always with a reason:
//!
//! - **accept ours**: our figures stand (for a line we have no order for, or a duplicate: the line
//!   is disregarded);
//! - **accept theirs**: the partner's figure wins. Since a CDR is never edited, that means a credit
//!   CDR for the difference when they collected less (all of it when they reported nothing); a
//!   figure higher than ours cannot be accepted (we never bill more than the CDR), and neither can
//!   a line we have no CDR for;
//! - **credit**: a credit CDR of a negotiated amount against the order's CDR.
//!
//! [`plan`] is pure: it says what a resolution does, and the service carries it out.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::money::Money;
use crate::settlement::cdr::CdrId;
use crate::settlement::reconcile::{Category, ReconciliationItem};

/// How a discrepancy was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    AcceptOurs,
    AcceptTheirs,
    Credit,
}

impl ResolutionKind {
    pub const ALL: [ResolutionKind; 3] = [Self::AcceptOurs, Self::AcceptTheirs, Self::Credit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcceptOurs => "accept_ours",
            Self::AcceptTheirs => "accept_theirs",
            Self::Credit => "credit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The operator's decision on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub kind: ResolutionKind,
    /// For `credit`: how much to credit (positive, at most 2 decimals).
    pub amount: Option<Money>,
    /// 1–500 characters; shown to the partner.
    pub reason: String,
}

/// What a resolution does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changes but the record of the decision.
    Record,
    /// Issue a credit CDR of `amount` against `original`.
    Credit { original: CdrId, amount: Money },
}

/// What carrying out `resolution` on `item` means, or why it cannot be done.
pub fn plan(item: &ReconciliationItem, resolution: &Resolution) -> Result<Effect, ValidationError> {
    let reason = resolution.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ValidationError::new(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    if !item.category.is_discrepancy() {
        return Err(ValidationError::new(
            "seq",
            format!("item {} matched; there is nothing to resolve", item.seq),
        ));
    }
    if resolution.kind != ResolutionKind::Credit && resolution.amount.is_some() {
        return Err(ValidationError::new(
            "amount",
            "is only given with resolution credit",
        ));
    }
    let no_cdr = || {
        ValidationError::new(
            "resolution",
            format!(
                "item {} ({}) has no CDR of ours to credit; accept ours to disregard the line",
                item.seq,
                item.category.as_str()
            ),
        )
    };
    match resolution.kind {
        ResolutionKind::AcceptOurs => Ok(Effect::Record),
        ResolutionKind::AcceptTheirs => {
            if matches!(
                item.category,
                Category::MissingOnOperator | Category::Duplicate
            ) {
                return Err(no_cdr());
            }
            let (Some(original), Some(ours)) = (item.cdr_id.clone(), item.our_amount) else {
                return Err(no_cdr());
            };
            let theirs = item.their_amount.unwrap_or(Money::ZERO);
            if theirs > ours {
                return Err(ValidationError::new(
                    "resolution",
                    format!(
                        "the partner's amount {} is higher than ours {}; a CDR is never increased",
                        theirs.amount(),
                        ours.amount()
                    ),
                ));
            }
            if theirs == ours {
                return Ok(Effect::Record);
            }
            Ok(Effect::Credit {
                original,
                amount: ours - theirs,
            })
        }
        ResolutionKind::Credit => {
            let amount = resolution
                .amount
                .ok_or_else(|| ValidationError::new("amount", "is required with credit"))?;
            if item.category == Category::MissingOnOperator {
                return Err(no_cdr());
            }
            let original = item.cdr_id.clone().ok_or_else(no_cdr)?;
            if amount.is_negative() || amount == Money::ZERO || amount.round() != amount {
                return Err(ValidationError::new(
                    "amount",
                    "must be a positive amount with at most 2 decimals",
                ));
            }
            Ok(Effect::Credit { original, amount })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::Wh;
    use rust_decimal::Decimal;

    fn m(cents: i64) -> Money {
        Money::new(Decimal::new(cents, 2))
    }

    fn item(category: Category, ours: Option<i64>, theirs: Option<i64>) -> ReconciliationItem {
        ReconciliationItem {
            seq: 3,
            category,
            order_id: Some("O-1".into()),
            cdr_id: ours.map(|_| CdrId::parse("s-1").unwrap()),
            report_line: theirs.map(|_| 3),
            our_energy: ours.map(|_| Wh(1000)),
            their_energy: theirs.map(|_| Wh(1000)),
            our_amount: ours.map(m),
            their_amount: theirs.map(m),
        }
    }

    fn res(kind: ResolutionKind, amount: Option<i64>) -> Resolution {
        Resolution {
            kind,
            amount: amount.map(m),
            reason: "agreed on the phone".into(),
        }
    }

    fn credit(cents: i64) -> Result<Effect, String> {
        Ok(Effect::Credit {
            original: CdrId::parse("s-1").unwrap(),
            amount: m(cents),
        })
    }

    #[test]
    fn resolution_table() {
        use Category as C;
        use ResolutionKind as K;
        type Case = (
            Category,
            Option<i64>,
            Option<i64>,
            Resolution,
            Result<Effect, String>,
        );
        let cases: Vec<Case> = vec![
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::AcceptOurs, None),
                Ok(Effect::Record),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::AcceptTheirs, None),
                credit(200),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1500),
                res(K::AcceptTheirs, None),
                Err("resolution".into()),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::Credit, Some(100)),
                credit(100),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::Credit, None),
                Err("amount".into()),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::Credit, Some(-100)),
                Err("amount".into()),
            ),
            (
                C::AmountMismatch,
                Some(1400),
                Some(1200),
                res(K::AcceptOurs, Some(100)),
                Err("amount".into()),
            ),
            (
                C::EnergyMismatch,
                Some(1400),
                Some(1400),
                res(K::AcceptTheirs, None),
                Ok(Effect::Record),
            ),
            (
                C::MissingOnPartner,
                Some(1400),
                None,
                res(K::AcceptTheirs, None),
                credit(1400),
            ),
            (
                C::MissingOnPartner,
                Some(1400),
                None,
                res(K::AcceptOurs, None),
                Ok(Effect::Record),
            ),
            (
                C::MissingOnOperator,
                None,
                Some(900),
                res(K::AcceptOurs, None),
                Ok(Effect::Record),
            ),
            (
                C::MissingOnOperator,
                None,
                Some(900),
                res(K::AcceptTheirs, None),
                Err("resolution".into()),
            ),
            (
                C::MissingOnOperator,
                None,
                Some(900),
                res(K::Credit, Some(100)),
                Err("resolution".into()),
            ),
            (
                C::Duplicate,
                Some(1400),
                Some(1400),
                res(K::AcceptTheirs, None),
                Err("resolution".into()),
            ),
            (
                C::Duplicate,
                Some(1400),
                Some(1400),
                res(K::AcceptOurs, None),
                Ok(Effect::Record),
            ),
            (
                C::Matched,
                Some(1400),
                Some(1400),
                res(K::AcceptOurs, None),
                Err("seq".into()),
            ),
        ];
        for (i, (category, ours, theirs, resolution, want)) in cases.into_iter().enumerate() {
            let got = plan(&item(category, ours, theirs), &resolution).map_err(|e| e.field);
            assert_eq!(got, want, "case {i}: {category:?} {resolution:?}");
        }
    }

    #[test]
    fn a_reason_is_required() {
        let mut r = res(ResolutionKind::AcceptOurs, None);
        r.reason = "  ".into();
        let e = plan(&item(Category::AmountMismatch, Some(1), Some(2)), &r).unwrap_err();
        assert_eq!(e.field, "reason");
    }
}
