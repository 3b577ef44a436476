//! Revenue-share terms: how a partner's statement splits what its users paid between the
//! partner (its commission) and the operator, fee by fee. The onboarding contract's
//! [`RevenueShare`] is the first entry of a partner's [`TermsSchedule`]; the operator schedules
//! later terms with an effective date.
//!
//! The terms in force when a session *started* apply to it (as with tariffs), and a credit CDR
//! takes its original's, so a full reversal reverses the commission exactly.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::money::Money;
use crate::partner::contract::{Contract, RevenueShare, ShareRate};

/// The partner's commission rates, each a fraction 0–1 of a fee (0.1 = the partner keeps 10 %
/// of it); the operator's share is the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementTerms {
    /// From this instant on (inclusive) until the next terms of the partner.
    pub effective_from: DateTime<Utc>,
    pub partner_share_of_electricity: ShareRate,
    pub partner_share_of_service: ShareRate,
    pub partner_share_of_idle: ShareRate,
}

/// An amount per fee: a commission, or what is due to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeeSplit {
    pub electricity: Money,
    pub service: Money,
    pub idle: Money,
}

impl FeeSplit {
    pub fn total(&self) -> Money {
        self.electricity + self.service + self.idle
    }
}

impl std::ops::Add for FeeSplit {
    type Output = FeeSplit;
    fn add(self, o: FeeSplit) -> FeeSplit {
        FeeSplit {
            electricity: self.electricity + o.electricity,
            service: self.service + o.service,
            idle: self.idle + o.idle,
        }
    }
}

impl std::ops::Sub for FeeSplit {
    type Output = FeeSplit;
    fn sub(self, o: FeeSplit) -> FeeSplit {
        FeeSplit {
            electricity: self.electricity - o.electricity,
            service: self.service - o.service,
            idle: self.idle - o.idle,
        }
    }
}

impl SettlementTerms {
    /// The onboarding contract's rate card, in force since the beginning of time until
    /// scheduled terms take over (a partner has no sessions before its approval).
    pub fn from_contract(contract: &Contract) -> Self {
        Self::from_share(DateTime::<Utc>::MIN_UTC, contract.revenue_share)
    }

    /// `share` in force from `effective_from`.
    pub fn from_share(effective_from: DateTime<Utc>, share: RevenueShare) -> Self {
        Self {
            effective_from,
            partner_share_of_electricity: share.electricity,
            partner_share_of_service: share.service,
            partner_share_of_idle: share.idle,
        }
    }

    /// The rates without their date.
    pub fn share(&self) -> RevenueShare {
        RevenueShare::per_fee(
            self.partner_share_of_electricity,
            self.partner_share_of_service,
            self.partner_share_of_idle,
        )
    }

    /// The partner's commission on each fee: one rounding ([`Money::round`]) per fee, so each
    /// statement line has one rounded commission per fee and every total is a sum of them.
    /// Rounding is symmetric about zero, so a credit's commission is exactly minus its
    /// original's.
    pub fn commission(&self, electricity: Money, service: Money, idle: Money) -> FeeSplit {
        let part = |fee: Money, rate: ShareRate| Money::new(fee.amount() * rate.value()).round();
        FeeSplit {
            electricity: part(electricity, self.partner_share_of_electricity),
            service: part(service, self.partner_share_of_service),
            idle: part(idle, self.partner_share_of_idle),
        }
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
pub fn operator_share(partner: ShareRate) -> Decimal {
    Decimal::ONE - partner.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn share(s: &str) -> ShareRate {
        ShareRate::new("r", Decimal::from_str(s).unwrap()).unwrap()
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
    fn commission_is_one_rounding_per_fee() {
        // The partner keeps 10 % of the service fee and nothing of the electricity fee.
        let t = terms(DateTime::<Utc>::MIN_UTC, "0", "0.1");
        let c = t.commission(m("16.00"), m("12.35"), m("0"));
        assert_eq!(c.electricity, m("0"));
        assert_eq!(c.service, m("1.24"));
        assert_eq!(c.total(), m("1.24"));
        // 0.125 rounds away from zero, both ways.
        assert_eq!(t.commission(m("0"), m("1.25"), m("0")).service, m("0.13"));
        assert_eq!(t.commission(m("0"), m("-1.25"), m("0")).service, m("-0.13"));
        // Each fee is rounded on its own: 2.5 % of 0.20 and of 0.20 is 0.005 + 0.005, which
        // rounds to 0.01 + 0.01, not to one 0.01.
        let q = terms(DateTime::<Utc>::MIN_UTC, "0.025", "0.025");
        let c = q.commission(m("0.20"), m("0.20"), m("0"));
        assert_eq!(
            (c.electricity, c.service, c.total()),
            (m("0.01"), m("0.01"), m("0.02"))
        );
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
                let share = |bp: u32| ShareRate::new("r", Decimal::new(i64::from(bp), 4)).unwrap();
                let t = SettlementTerms {
                    effective_from: DateTime::<Utc>::MIN_UTC,
                    partner_share_of_electricity: share(re),
                    partner_share_of_service: share(rs),
                    partner_share_of_idle: share(rs),
                };
                let c = |cents: i64| Money::new(Decimal::new(cents, 2));
                let ours = t.commission(c(e), c(s), c(i));
                let back = t.commission(c(-e), c(-s), c(-i));
                prop_assert_eq!(ours + back, FeeSplit::default());
                prop_assert!(ours.total() <= c(e) + c(s) + c(i));
                prop_assert!(ours.service <= c(s) && ours.electricity <= c(e));
            }
        }
    }
}
