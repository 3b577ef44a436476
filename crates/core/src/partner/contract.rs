//! The contract an operator sets when approving a partner: which stations it may see, its
//! revenue share (a commission rate per fee), its rate limit, how often we settle, and the
//! OAuth2 scopes its production credentials get. Values are validated here and stored as a whole.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::StationId;
use crate::partner::credential::ScopeSet;

/// Which stations a partner may see and use. Everything else answers 404 to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StationScope {
    /// Every (non-sandbox) station, including ones added later.
    All,
    /// Only these stations.
    List { station_ids: BTreeSet<StationId> },
}

impl StationScope {
    /// Most stations a list may name; beyond that `all` is what is meant.
    pub const MAX_LIST: usize = 10_000;

    pub fn list(ids: impl IntoIterator<Item = StationId>) -> Result<Self, ValidationError> {
        let station_ids: BTreeSet<StationId> = ids.into_iter().collect();
        if station_ids.is_empty() {
            return Err(ValidationError::new(
                "station_scope.station_ids",
                "must name at least one station (or use kind \"all\")",
            ));
        }
        if station_ids.len() > Self::MAX_LIST {
            return Err(ValidationError::new(
                "station_scope.station_ids",
                format!("must name at most {} stations", Self::MAX_LIST),
            ));
        }
        Ok(Self::List { station_ids })
    }

    pub fn contains(&self, id: &StationId) -> bool {
        match self {
            Self::All => true,
            Self::List { station_ids } => station_ids.contains(id),
        }
    }
}

/// A fraction 0–1 with at most 4 decimals (0.0500 = 5 %): one commission rate. Exact
/// decimals, never floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ShareRate(Decimal);

impl ShareRate {
    pub const ZERO: ShareRate = ShareRate(Decimal::ZERO);

    /// Validates `d`; `field` names it in the error (`revenue_share.service`, …).
    pub fn new(field: &str, d: Decimal) -> Result<Self, ValidationError> {
        let err = |r: &str| ValidationError::new(field, r);
        if d.is_sign_negative() && !d.is_zero() {
            return Err(err("must not be negative"));
        }
        if d > Decimal::ONE {
            return Err(err("must be at most 1 (a fraction: 0.05 is 5 %)"));
        }
        if d.normalize().scale() > 4 {
            return Err(err("must have at most 4 decimal places"));
        }
        Ok(Self(d.normalize()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

impl<'de> Deserialize<'de> for ShareRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <Decimal as Deserialize>::deserialize(d)?;
        Self::new("revenue_share", v).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ShareRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The revenue share (issue 7): the partner's commission on each fee its users pay, as a
/// fraction of that fee — `{"electricity": "0", "service": "0.1", "idle": "0"}` means the
/// partner keeps 10 % of the service fee and passes every electricity and idle fee on. The
/// operator's share of each fee is the rest (see
/// [`crate::settlement::terms::operator_share`]).
///
/// This is the contract's rate card, in force from approval; later changes are scheduled as
/// [`crate::settlement::terms::SettlementTerms`] with an effective date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueShare {
    pub electricity: ShareRate,
    pub service: ShareRate,
    pub idle: ShareRate,
}

impl RevenueShare {
    /// The same rate on every fee, for forms that ask for one rate. Validated as
    /// `revenue_share`.
    pub fn new(d: Decimal) -> Result<Self, ValidationError> {
        let rate = ShareRate::new("revenue_share", d)?;
        Ok(Self::per_fee(rate, rate, rate))
    }

    pub fn per_fee(electricity: ShareRate, service: ShareRate, idle: ShareRate) -> Self {
        Self {
            electricity,
            service,
            idle,
        }
    }

    /// The rates as one displayable value (`electricity 0 · service 0.1 · idle 0`), for
    /// summaries that show the rate card on one line.
    pub fn value(self) -> Self {
        self
    }
}

impl std::fmt::Display for RevenueShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "electricity {} · service {} · idle {}",
            self.electricity, self.service, self.idle
        )
    }
}

/// A token bucket: `requests_per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests_per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    pub const MAX_RPS: u32 = 1_000_000;

    pub fn new(requests_per_second: u32, burst: u32) -> Result<Self, ValidationError> {
        if !(1..=Self::MAX_RPS).contains(&requests_per_second) {
            return Err(ValidationError::new(
                "rate_limit.requests_per_second",
                format!("must be between 1 and {}", Self::MAX_RPS),
            ));
        }
        if !(1..=Self::MAX_RPS).contains(&burst) {
            return Err(ValidationError::new(
                "rate_limit.burst",
                format!("must be between 1 and {}", Self::MAX_RPS),
            ));
        }
        Ok(Self {
            requests_per_second,
            burst,
        })
    }
}

/// How often statements are drawn up for the partner (periods in local time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementCycle {
    Daily,
    Weekly,
    Monthly,
}

impl SettlementCycle {
    pub const ALL: [SettlementCycle; 3] = [Self::Daily, Self::Weekly, Self::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new("settlement_cycle", "must be daily, weekly or monthly")
            })
    }
}

/// The terms of an approved partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub station_scope: StationScope,
    pub revenue_share: RevenueShare,
    pub rate_limit: RateLimit,
    pub settlement_cycle: SettlementCycle,
    /// What the production credentials may ask for.
    pub scopes: ScopeSet,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn share_rates_are_fractions_with_four_decimals() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(ShareRate::new("r", d("0.0500")).unwrap().value(), d("0.05"));
        assert!(ShareRate::new("r", d("0")).is_ok());
        assert!(ShareRate::new("r", d("1")).is_ok());
        for bad in ["-0.01", "1.0001", "0.00001"] {
            assert_eq!(
                ShareRate::new("revenue_share.idle", d(bad))
                    .unwrap_err()
                    .field,
                "revenue_share.idle",
                "{bad}"
            );
        }
        assert_eq!(
            RevenueShare::new(d("1.5")).unwrap_err().field,
            "revenue_share"
        );
    }

    #[test]
    fn a_revenue_share_names_a_rate_per_fee() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let share = RevenueShare::per_fee(
            ShareRate::ZERO,
            ShareRate::new("s", d("0.1")).unwrap(),
            ShareRate::new("i", d("0.0500")).unwrap(),
        );
        assert_eq!(share.to_string(), "electricity 0 · service 0.1 · idle 0.05");
        let uniform = RevenueShare::new(d("0.05")).unwrap();
        assert_eq!(uniform.electricity, uniform.service);
        assert_eq!(uniform.service, uniform.idle);
    }

    #[test]
    fn rate_limits_are_bounded() {
        assert!(RateLimit::new(10, 20).is_ok());
        assert_eq!(
            RateLimit::new(0, 20).unwrap_err().field,
            "rate_limit.requests_per_second"
        );
        assert_eq!(RateLimit::new(10, 0).unwrap_err().field, "rate_limit.burst");
    }

    #[test]
    fn a_station_list_scope_contains_only_its_stations() {
        let a = StationId::parse("A").unwrap();
        let b = StationId::parse("B").unwrap();
        let scope = StationScope::list([a.clone()]).unwrap();
        assert!(scope.contains(&a));
        assert!(!scope.contains(&b));
        assert!(StationScope::All.contains(&b));
        assert!(StationScope::list([]).is_err());
    }

    #[test]
    fn settlement_cycles_parse() {
        for c in SettlementCycle::ALL {
            assert_eq!(SettlementCycle::parse(c.as_str()).unwrap(), c);
        }
        assert!(SettlementCycle::parse("yearly").is_err());
    }
}
