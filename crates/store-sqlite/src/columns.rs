//! How domain values are written into SQLite columns and read back: timestamps as fixed-width
//! UTC text with milliseconds, decimals as text, validated ids re-checked on the way out. Every
//! port module goes through these so one format holds across the whole database.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use openpile_core::error::StoreError;
use openpile_core::status::ChargePointStatus;
use rust_decimal::Decimal;

use crate::CorruptValue;

/// `2026-01-01T08:00:00.000Z`: the same text `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')` gives in
/// the migrations' defaults. Fixed width, so comparing the text compares the times (for years
/// 0000–9999, which is every time we handle). Sub-millisecond precision is dropped, as the
/// PostgreSQL store drops sub-microsecond.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `t` as it will read back: truncated to the millisecond.
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// The current wall-clock time in the stored format, for `updated_at` where a port gives no
/// time of its own.
pub(crate) fn now() -> String {
    ts(Utc::now())
}

pub(crate) fn parse_ts(column: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CorruptValue::new(column, format!("{s:?}: {e}")))
}

pub(crate) fn parse_opt_ts(
    column: &'static str,
    s: Option<&str>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(column, s)).transpose()
}

pub(crate) fn parse_decimal(column: &'static str, s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| CorruptValue::new(column, format!("{s:?}: {e}")))
}

/// Re-validates a stored value with the domain's own parser.
pub(crate) fn parse_with<'a, T, E: std::fmt::Display>(
    column: &'static str,
    s: &'a str,
    parse: impl FnOnce(&'a str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(s).map_err(|e| CorruptValue::new(column, format!("{s:?}: {e}")))
}

/// Reads a JSON column into a domain type.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| CorruptValue::new(column, e))
}

/// Writes a domain value as JSON. Our types always serialize; a failure would be a bug in a
/// Serialize impl, reported rather than stored half-written.
pub(crate) fn to_json<T: serde::Serialize>(
    column: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| CorruptValue::new(column, e))
}

/// Reads an unsigned count stored as INTEGER.
pub(crate) fn to_u32(column: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|e| CorruptValue::new(column, format!("{n}: {e}")))
}

/// The OCPP status name as stored (the spelling of OCPP 1.6 StatusNotification). An exhaustive
/// match, so a new status in core cannot be stored without a name here.
pub(crate) fn ocpp_status_name(s: ChargePointStatus) -> &'static str {
    match s {
        ChargePointStatus::Available => "Available",
        ChargePointStatus::Preparing => "Preparing",
        ChargePointStatus::Charging => "Charging",
        ChargePointStatus::SuspendedEV => "SuspendedEV",
        ChargePointStatus::SuspendedEVSE => "SuspendedEVSE",
        ChargePointStatus::Finishing => "Finishing",
        ChargePointStatus::Reserved => "Reserved",
        ChargePointStatus::Unavailable => "Unavailable",
        ChargePointStatus::Faulted => "Faulted",
    }
}

pub(crate) fn parse_ocpp_status(
    column: &'static str,
    s: &str,
) -> Result<ChargePointStatus, StoreError> {
    ChargePointStatus::ALL
        .into_iter()
        .find(|st| ocpp_status_name(*st) == s)
        .ok_or_else(|| CorruptValue::new(column, format!("{s:?} is not an OCPP status")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_fixed_width_utc_with_milliseconds() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(6_789_000);
        assert_eq!(ts(t), "2026-01-02T03:04:05.006Z");
        assert_eq!(
            parse_ts("t", "2026-01-02T03:04:05.006Z").unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(6)
        );
        assert_eq!(
            ts(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()).len(),
            24
        );
    }

    #[test]
    fn ocpp_status_names_round_trip() {
        for s in ChargePointStatus::ALL {
            assert_eq!(parse_ocpp_status("c", ocpp_status_name(s)).unwrap(), s);
        }
        assert!(parse_ocpp_status("c", "Busy").is_err());
    }
}
