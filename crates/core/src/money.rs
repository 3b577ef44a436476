//! Money in CNY with exact decimals. Unit prices keep 4 decimal places (as T/CEC 102 and OCPI
//! tariffs do); amounts are rounded to 0.01 CNY by one rule, [`Money::round`], and nowhere else.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Sub};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The only currency we settle in.
pub const CURRENCY: &str = "CNY";

/// An amount of CNY. May carry more than two decimals while a computation runs; call
/// [`Money::round`] once, where an amount is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(transparent)]
pub struct Money(Decimal);

/// Written with at least two decimals (`"0.50"`, not `"0.5"`), whatever scale arithmetic or
/// storage left the value with: partners compare amounts as text, and every face must show one
/// amount the same way.
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut d = self.0;
        if d.scale() < 2 {
            d.rescale(2);
        }
        Serialize::serialize(&d, s)
    }
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn new(amount: Decimal) -> Self {
        Self(amount)
    }

    /// Parses a billed amount: at most 2 decimals. Negative amounts are allowed (credits).
    pub fn parse_amount(field: &str, s: &str) -> Result<Self, ValidationError> {
        let d = parse_plain_decimal(field, s)?;
        if d.scale() > 2 && d.normalize().scale() > 2 {
            return Err(ValidationError::new(
                field,
                "must have at most 2 decimal places",
            ));
        }
        Ok(Self(d))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// The one rounding rule: to 0.01 CNY, halves away from zero (四舍五入, what Chinese
    /// billing and partners' own calculators use).
    #[must_use]
    pub fn round(self) -> Self {
        Self(
            self.0
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
        )
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {CURRENCY}", self.0)
    }
}

/// Reads a plain decimal (`-12.34`): no exponent, no thousands separators, so what a partner
/// wrote is exactly what we store.
pub fn parse_plain_decimal(field: &str, s: &str) -> Result<Decimal, ValidationError> {
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let plain = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    if !plain {
        return Err(ValidationError::new(
            field,
            format!("{s:?} is not a plain decimal number"),
        ));
    }
    t.parse()
        .map_err(|_| ValidationError::new(field, format!("{s:?} is not a decimal number")))
}

/// A price per unit (per kWh, or per minute for idle fees): non-negative, at most 4 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct UnitPrice(Decimal);

impl UnitPrice {
    pub const MAX_SCALE: u32 = 4;

    /// Validates a price, naming `field` in the error.
    pub fn new(field: &str, d: Decimal) -> Result<Self, ValidationError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(ValidationError::new(field, "must not be negative"));
        }
        if d.normalize().scale() > Self::MAX_SCALE {
            return Err(ValidationError::new(
                field,
                "must have at most 4 decimal places",
            ));
        }
        if d > Decimal::from(1000) {
            return Err(ValidationError::new(
                field,
                "is implausibly high (over 1000 CNY)",
            ));
        }
        Ok(Self(d.normalize()))
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        Self::new(field, parse_plain_decimal(field, s)?)
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    /// Unrounded cost of `quantity` units.
    pub fn times(self, quantity: Decimal) -> Money {
        Money(self.0 * quantity)
    }
}

impl<'de> Deserialize<'de> for UnitPrice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <Decimal as Deserialize>::deserialize(d)?;
        UnitPrice::new("price", v).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts_are_written_with_at_least_two_decimals() {
        for (input, json) in [
            ("0.5", "\"0.50\""),
            ("2", "\"2.00\""),
            ("-1", "\"-1.00\""),
            ("1.25", "\"1.25\""),
            ("0.125", "\"0.125\""),
        ] {
            let written = serde_json::to_string(&Money::new(d(input))).unwrap();
            assert_eq!(written, json, "{input}");
            let back: Money = serde_json::from_str(&written).unwrap();
            assert_eq!(back, Money::new(d(input)));
        }
    }

    #[test]
    fn amounts_round_half_away_from_zero_to_cents() {
        for (input, expected) in [
            ("1.005", "1.01"),
            ("1.004", "1.00"),
            ("-1.005", "-1.01"),
            ("0.125", "0.13"),
            ("2", "2"),
        ] {
            assert_eq!(
                Money::new(d(input)).round().amount(),
                d(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn unit_prices_keep_four_decimals() {
        assert!(UnitPrice::parse("p", "0.8512").is_ok());
        assert!(UnitPrice::parse("p", "0.85120").is_ok());
        let e = UnitPrice::parse("p", "0.85121").unwrap_err();
        assert_eq!(e.field, "p");
        assert!(UnitPrice::parse("p", "-0.1").is_err());
        assert!(UnitPrice::parse("p", "abc").is_err());
        assert!(UnitPrice::parse("p", "0").is_ok());
    }

    #[test]
    fn billed_amounts_have_at_most_two_decimals() {
        assert!(Money::parse_amount("a", "12.30").is_ok());
        assert!(Money::parse_amount("a", "12.300").is_ok());
        assert!(Money::parse_amount("a", "12.301").is_err());
        assert!(Money::parse_amount("a", "1e3").is_err());
    }

    #[test]
    fn money_sums_exactly() {
        let total: Money = ["0.1", "0.2", "0.3"].iter().map(|s| Money::new(d(s))).sum();
        assert_eq!(total.amount(), d("0.6"));
    }
}
