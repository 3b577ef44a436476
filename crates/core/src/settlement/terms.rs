//! Revenue-share terms: how a partner's statement splits what its users paid between the
//! partner (its commission) and the operator. This extends the onboarding contract
//! ([`crate::partner::contract::Contract`]), whose single `revenue_share` stays the default, with
//! separate rates per fee and effective dates.
//!
//! The terms in force when a session *started* apply to it (as with tariffs), and a credit CDR
//! takes its original's, so a full reversal reverses the commission exactly.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::money::Money;
use crate::partner::contract::{Contract, RevenueShare};

/// The partner's commission rates, each a fraction 0–1 of a fee (0.1 = the partner keeps 10 %
/// of it); the operator's share is the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementTerms {
    /// From this instant on (inclusive) until the next terms of the partner.
    pub effective_from: DateTime<Utc>,
    pub partner_share_of_electricity: RevenueShare,
    pub partner_share_of_service: RevenueShare,
    pub partner_share_of_idle: RevenueShare,
}

impl SettlementTerms {
    /// The onboarding contract's terms: its `revenue_share` is "the partner's share of the
    /// revenue of the sessions it brings", so it applies to every fee alike. In force since the
    /// beginning of time, until explicit terms take over.
    pub fn from_contract(contract: &Contract) -> Self {
        let share = contract.revenue_share;
        Self {
            effective_from: DateTime::<Utc>::MIN_UTC,
            partner_share_of_electricity: share,
            partner_share_of_service: share,
            partner_share_of_idle: share,
        }
    }

    /// The partner's commission on fees: one rounding ([`Money::round`]) of the exact sum, so
    /// each statement line has one rounded commission and totals are sums of lines. Rounding is
    /// symmetric about zero, so a credit's commission is exactly minus its original's.
    pub fn commission(&self, electricity: Money, service: Money, idle: Money) -> Money {
        let exact = electricity.amount() * self.partner_share_of_electricity.value()
            + service.amount() * self.partner_share_of_service.value()
            + idle.amount() * self.partner_share_of_idle.value();
        Money::new(exact).round()
    }
}

/// A partner's terms over time, ordered by `effective_from`; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SettlementTerms>", into = "Vec<SettlementTerms>")]
pub struct TermsSchedule(Vec<SettlementTerms>);

impl TermsSchedule {
    /// The contract's default followed by explicit terms (which may start anywhere).
    pub fn new(
        default: SettlementTerms,
        explicit: impl IntoIterator<Item = SettlementTerms>,
    ) -> Self {
        let mut all: Vec<SettlementTerms> = std::iter::once(SettlementTerms {
            effective_from: DateTime::<Utc>::MIN_UTC,
            ..default
        })
        .chain(explicit)
        .collect();
        all.sort_by_key(|t| t.effective_from);
        // A later entry with the same start replaces an earlier one (explicit beats default).
        all.reverse();
        all.dedup_by_key(|t| t.effective_from);
        all.reverse();
        Self(all)
    }

    /// The terms in force at `at`.
    pub fn at(&self, at: DateTime<Utc>) -> &SettlementTerms {
        let i = self.0.partition_point(|t| t.effective_from <= at);
        // The first entry starts at MIN_UTC, so i ≥ 1 for any instant.
        &self.0[i.saturating_sub(1)]
    }

    pub fn entries(&self) -> &[SettlementTerms] {
        &self.0
    }
}

impl TryFrom<Vec<SettlementTerms>> for TermsSchedule {
    type Error = ValidationError;
    fn try_from(v: Vec<SettlementTerms>) -> Result<Self, ValidationError> {
        let (first, rest) = v
            .split_first()
            .ok_or_else(|| ValidationError::new("terms", "must not be empty"))?;
        Ok(Self::new(*first, rest.iter().copied()))
    }
}

impl From<TermsSchedule> for Vec<SettlementTerms> {
    fn from(s: TermsSchedule) -> Self {
        s.0
    }
}

/// The operator's share of a fee, for display: 1 − the partner's.
pub fn operator_share(partner: RevenueShare) -> Decimal {
    Decimal::ONE - partner.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn share(s: &str) -> RevenueShare {
        RevenueShare::new(Decimal::from_str(s).unwrap()).unwrap()
    }

    fn m(s: &str) -> Money {
        Money::new(Decimal::from_str(s).unwrap())
    }

    fn terms(from: DateTime<Utc>, e: &str, s: &str) -> SettlementTerms {
        SettlementTerms {
            effective_from: from,
            partner_share_of_electricity: share(e),
            partner_share_of_service: share(s),
            partner_share_of_idle: share(s),
        }
    }

    #[test]
    fn commission_is_one_rounding_of_the_exact_sum() {
        // The partner keeps 10 % of the service fee and nothing of the electricity fee.
        let t = terms(DateTime::<Utc>::MIN_UTC, "0", "0.1");
        assert_eq!(t.commission(m("16.00"), m("12.35"), m("0")), m("1.24"));
        // 0.125 rounds away from zero, both ways.
        assert_eq!(t.commission(m("0"), m("1.25"), m("0")), m("0.13"));
        assert_eq!(t.commission(m("0"), m("-1.25"), m("0")), m("-0.13"));
    }

    #[test]
    fn the_terms_in_force_are_the_latest_started() {
        let t1 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let default = terms(DateTime::<Utc>::MIN_UTC, "0.05", "0.05");
        let schedule = TermsSchedule::new(default, [terms(t1, "0", "0.1")]);
        let before = t1 - chrono::Duration::seconds(1);
        assert_eq!(schedule.at(before).partner_share_of_service, share("0.05"));
        assert_eq!(schedule.at(t1).partner_share_of_service, share("0.1"));
        assert_eq!(schedule.entries().len(), 2);
        // Round trip through its serialized form.
        let v: Vec<SettlementTerms> = schedule.clone().into();
        assert_eq!(TermsSchedule::try_from(v).unwrap(), schedule);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A full reversal's commission is exactly minus the original's, so a reversed CDR
            /// leaves nothing on a statement.
            #[test]
            fn commission_is_symmetric(e in 0i64..10_000_000, s in 0i64..10_000_000, i in 0i64..100_000,
                                        re in 0u32..=10_000, rs in 0u32..=10_000) {
                let share = |bp: u32| RevenueShare::new(Decimal::new(i64::from(bp), 4)).unwrap();
                let t = SettlementTerms {
                    effective_from: DateTime::<Utc>::MIN_UTC,
                    partner_share_of_electricity: share(re),
                    partner_share_of_service: share(rs),
                    partner_share_of_idle: share(rs),
                };
                let c = |cents: i64| Money::new(Decimal::new(cents, 2));
                let ours = t.commission(c(e), c(s), c(i));
                let back = t.commission(c(-e), c(-s), c(-i));
                prop_assert_eq!(ours + back, Money::ZERO);
                prop_assert!(ours <= c(e) + c(s) + c(i));
            }
        }
    }
}
