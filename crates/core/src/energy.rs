//! Energy as integer watt-hours, the unit of OCPP meter registers. kWh decimals appear only at
//! the edges (partner payloads, statements).

use std::fmt;
use std::ops::{Add, Sub};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Watt-hours.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Wh(pub i64);

impl Wh {
    pub const ZERO: Wh = Wh(0);

    /// The same energy in kWh, exact (3 decimals).
    pub fn kwh(self) -> Decimal {
        Decimal::new(self.0, 3)
    }

    /// Rounds a kWh decimal to the nearest Wh (used where partners send kWh).
    pub fn from_kwh(kwh: Decimal) -> Option<Wh> {
        let wh = (kwh * Decimal::from(1000)).round();
        i64::try_from(wh).ok().map(Wh)
    }
}

impl Add for Wh {
    type Output = Wh;
    fn add(self, rhs: Wh) -> Wh {
        Wh(self.0 + rhs.0)
    }
}

impl Sub for Wh {
    type Output = Wh;
    fn sub(self, rhs: Wh) -> Wh {
        Wh(self.0 - rhs.0)
    }
}

impl fmt::Display for Wh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Wh", self.0)
    }
}

/// Power in watts, as integer (chargers report decimals; sub-watt precision carries no meaning).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Watts(pub i64);

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn wh_converts_to_exact_kwh() {
        assert_eq!(Wh(12345).kwh(), Decimal::from_str("12.345").unwrap());
        assert_eq!(
            Wh::from_kwh(Decimal::from_str("12.3456").unwrap()),
            Some(Wh(12346))
        );
    }
}
