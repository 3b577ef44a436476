//! Building blocks shared by the OCPP 1.6 messages: bounded strings (CiString), timestamps,
//! decimals with one fractional digit, the enumerations, and the composite types (IdTagInfo,
//! MeterValue, ChargingProfile). Spellings follow the official JSON schemas exactly
//! (`ocpp/v16/schemas` of the PyPI package `ocpp` 2.1.0).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string longer than its schema `maxLength`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("string of {len} characters exceeds the maximum of {max}")]
pub struct StringTooLong {
    pub len: usize,
    pub max: usize,
}

struct MaxChars(usize);

impl de::Expected for MaxChars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string of at most {} characters", self.0)
    }
}

macro_rules! ci_string {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The schema's `maxLength` (counted in characters, as JSON Schema does).
            pub const MAX_LEN: usize = $max;

            pub fn new(s: impl Into<String>) -> Result<Self, StringTooLong> {
                let s = s.into();
                let len = s.chars().count();
                if len > Self::MAX_LEN {
                    return Err(StringTooLong { len, max: Self::MAX_LEN });
                }
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }

            /// CiStrings are case-insensitive (OCPP 1.6 §2.3 / 7.28): compare them this way.
            pub fn eq_ignore_case(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = StringTooLong;
            fn try_from(s: String) -> Result<Self, StringTooLong> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = StringTooLong;
            fn try_from(s: &str) -> Result<Self, StringTooLong> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if s.chars().count() > Self::MAX_LEN {
                    return Err(de::Error::invalid_value(
                        Unexpected::Str(&s),
                        &MaxChars(Self::MAX_LEN),
                    ));
                }
                Ok(Self(s))
            }
        }
    };
}

ci_string!(
    /// CiString[20]: id tags, vendor and model names, ICCID, IMSI.
    CiString20, 20
);
ci_string!(
    /// CiString[25]: serial numbers, meter type.
    CiString25, 25
);
ci_string!(
    /// CiString[50]: firmware version, configuration keys, status info, messageId.
    CiString50, 50
);
ci_string!(
    /// CiString[255]: vendorId, diagnostics file name.
    CiString255, 255
);
ci_string!(
    /// CiString[500]: configuration values.
    CiString500, 500
);

/// IdToken = CiString20 (OCPP 1.6 §7.28): stored as received, compared case-insensitively.
pub type IdToken = CiString20;

/// An OCPP dateTime. Sent as `YYYY-MM-DDTHH:MM:SS.mmmZ`; received leniently as the spec asks
/// (fractional seconds and any offset, OCPP 1.6 §3.14), plus our policy of reading a time without
/// zone as UTC (protocol reference §1.5). A space instead of `T` is refused, as the schema's
/// `date-time` format does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses the forms described on the type; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() < 19 || !matches!(bytes[10], b'T' | b't') {
            return None;
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Self(dt.with_timezone(&Utc)));
        }
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        tracing::debug!(timestamp = s, "date-time without zone read as UTC");
        Some(Self(naive.and_utc()))
    }

    /// The wire form: UTC, milliseconds, `Z`.
    pub fn to_wire(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Self(dt)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&s), &"an ISO 8601 date-time"))
    }
}

/// A decimal with at most one fractional digit, kept as an integer number of tenths: the
/// schema's `multipleOf: 0.1` for `limit` and `minChargingRate` (OCPP 1.6 §7.13). Sent as a
/// JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tenths(pub i64);

impl Tenths {
    /// From a whole number (16 A → `16.0`).
    pub fn whole(n: i64) -> Self {
        Self(n * 10)
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 10.0
    }

    /// Reads a JSON number; `None` unless it is a multiple of 0.1 (within float noise).
    pub fn from_f64(x: f64) -> Option<Self> {
        if !x.is_finite() {
            return None;
        }
        let scaled = x * 10.0;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 || rounded.abs() > 9.0e15 {
            return None;
        }
        Some(Self(rounded as i64))
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{}", (self.0 / 10).abs(), (self.0 % 10).abs())
    }
}

impl Serialize for Tenths {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 10 == 0 {
            s.serialize_i64(self.0 / 10)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Tenths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Tenths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number that is a multiple of 0.1")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tenths, E> {
                v.checked_mul(10)
                    .map(Tenths)
                    .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tenths, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(10))
                    .map(Tenths)
                    .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tenths, E> {
                Tenths::from_f64(v).ok_or_else(|| E::invalid_value(Unexpected::Float(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// Defines a wire enumeration with its exact schema spellings.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Reads the exact wire spelling (case-sensitive, as the schemas are).
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// OCPP 1.6 §7.2 AuthorizationStatus.
    AuthorizationStatus {
        Accepted = "Accepted",
        Blocked = "Blocked",
        Expired = "Expired",
        Invalid = "Invalid",
        ConcurrentTx = "ConcurrentTx",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.6 ChargePointErrorCode.
    ChargePointErrorCode {
        ConnectorLockFailure = "ConnectorLockFailure",
        EvCommunicationError = "EVCommunicationError",
        GroundFailure = "GroundFailure",
        HighTemperature = "HighTemperature",
        InternalError = "InternalError",
        LocalListConflict = "LocalListConflict",
        NoError = "NoError",
        OtherError = "OtherError",
        OverCurrentFailure = "OverCurrentFailure",
        PowerMeterFailure = "PowerMeterFailure",
        PowerSwitchFailure = "PowerSwitchFailure",
        ReaderFailure = "ReaderFailure",
        ResetFailure = "ResetFailure",
        UnderVoltage = "UnderVoltage",
        OverVoltage = "OverVoltage",
        WeakSignal = "WeakSignal",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.7 ChargePointStatus.
    ChargePointStatus {
        Available = "Available",
        Preparing = "Preparing",
        Charging = "Charging",
        SuspendedEvse = "SuspendedEVSE",
        SuspendedEv = "SuspendedEV",
        Finishing = "Finishing",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
);

impl ChargePointStatus {
    /// The domain's copy of this status.
    pub fn to_domain(self) -> openpile_core::status::ChargePointStatus {
        use openpile_core::status::ChargePointStatus as D;
        match self {
            Self::Available => D::Available,
            Self::Preparing => D::Preparing,
            Self::Charging => D::Charging,
            Self::SuspendedEvse => D::SuspendedEVSE,
            Self::SuspendedEv => D::SuspendedEV,
            Self::Finishing => D::Finishing,
            Self::Reserved => D::Reserved,
            Self::Unavailable => D::Unavailable,
            Self::Faulted => D::Faulted,
        }
    }
}

wire_enum!(
    /// OCPP 1.6 §7.31 ReadingContext.
    ReadingContext {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
        Other = "Other",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.46 ValueFormat.
    ValueFormat {
        Raw = "Raw",
        SignedData = "SignedData",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.31 Measurand.
    Measurand {
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        PowerFactor = "Power.Factor",
        CurrentImport = "Current.Import",
        CurrentExport = "Current.Export",
        CurrentOffered = "Current.Offered",
        Voltage = "Voltage",
        Frequency = "Frequency",
        Temperature = "Temperature",
        SoC = "SoC",
        Rpm = "RPM",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.34 Phase.
    Phase {
        L1 = "L1",
        L2 = "L2",
        L3 = "L3",
        N = "N",
        L1N = "L1-N",
        L2N = "L2-N",
        L3N = "L3-N",
        L1L2 = "L1-L2",
        L2L3 = "L2-L3",
        L3L1 = "L3-L1",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.30 Location.
    Location {
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
        Body = "Body",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.45 UnitOfMeasure. Both `Celcius` (the OCA schema's typo) and `Celsius` are
    /// accepted and re-sent as received; `Hertz` comes from errata v4. The StopTransaction schema
    /// lacks `Hertz`; we accept it there too rather than refuse a stop (§4.10), see
    /// protocol reference §3.3.
    UnitOfMeasure {
        Wh = "Wh",
        KWh = "kWh",
        Varh = "varh",
        Kvarh = "kvarh",
        W = "W",
        KW = "kW",
        Va = "VA",
        Kva = "kVA",
        Var = "var",
        Kvar = "kvar",
        A = "A",
        V = "V",
        K = "K",
        Celcius = "Celcius",
        Celsius = "Celsius",
        Fahrenheit = "Fahrenheit",
        Percent = "Percent",
        Hertz = "Hertz",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.39 Reason (StopTransaction; absent means `Local`).
    Reason {
        EmergencyStop = "EmergencyStop",
        EvDisconnected = "EVDisconnected",
        HardReset = "HardReset",
        Local = "Local",
        Other = "Other",
        PowerLoss = "PowerLoss",
        Reboot = "Reboot",
        Remote = "Remote",
        SoftReset = "SoftReset",
        UnlockCommand = "UnlockCommand",
        DeAuthorized = "DeAuthorized",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.11 ChargingProfilePurposeType.
    ChargingProfilePurpose {
        ChargePointMaxProfile = "ChargePointMaxProfile",
        TxDefaultProfile = "TxDefaultProfile",
        TxProfile = "TxProfile",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.10 ChargingProfileKindType.
    ChargingProfileKind {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.40 RecurrencyKindType.
    RecurrencyKind {
        Daily = "Daily",
        Weekly = "Weekly",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.12 ChargingRateUnitType.
    ChargingRateUnit {
        A = "A",
        W = "W",
    }
);

/// OCPP 1.6 §7.27 IdTagInfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdTagInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<IdToken>,
    pub status: AuthorizationStatus,
}

impl IdTagInfo {
    /// Just a status, no expiry or parent.
    pub fn status(status: AuthorizationStatus) -> Self {
        Self {
            expiry_date: None,
            parent_id_tag: None,
            status,
        }
    }
}

/// OCPP 1.6 §7.43 SampledValue. `value` is a string (a decimal, or hex for SignedData).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampledValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReadingContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurand: Option<Measurand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitOfMeasure>,
}

impl SampledValue {
    /// A bare value with every optional field absent (so the spec defaults apply).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            context: None,
            format: None,
            measurand: None,
            phase: None,
            location: None,
            unit: None,
        }
    }

    /// The measurand, with the spec default (Energy.Active.Import.Register) when absent.
    pub fn measurand_or_default(&self) -> Measurand {
        self.measurand
            .unwrap_or(Measurand::EnergyActiveImportRegister)
    }
}

/// OCPP 1.6 §7.32 MeterValue. MeterValues requires at least one sampled value; the
/// StopTransaction schema does not (checked per message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValue {
    pub timestamp: Timestamp,
    pub sampled_value: Vec<SampledValue>,
}

/// OCPP 1.6 §7.15 ChargingSchedulePeriod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedulePeriod {
    /// Seconds from the start of the schedule; the first period SHALL start at 0.
    pub start_period: i64,
    pub limit: Tenths,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<i64>,
}

/// OCPP 1.6 §7.14 ChargingSchedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_schedule: Option<Timestamp>,
    pub charging_rate_unit: ChargingRateUnit,
    pub charging_schedule_period: Vec<ChargingSchedulePeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<Tenths>,
}

/// OCPP 1.6 §7.8 ChargingProfile (`csChargingProfiles` / `chargingProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingProfile {
    pub charging_profile_id: i64,
    /// Only for TxProfile, and never in RemoteStartTransaction (§5.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i64>,
    pub stack_level: i64,
    pub charging_profile_purpose: ChargingProfilePurpose,
    pub charging_profile_kind: ChargingProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrency_kind: Option<RecurrencyKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    pub charging_schedule: ChargingSchedule,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_strings_count_characters_not_bytes() {
        assert!(CiString20::new("é".repeat(20)).is_ok());
        assert_eq!(
            CiString20::new("x".repeat(21)).unwrap_err(),
            StringTooLong { len: 21, max: 20 }
        );
        assert!(CiString20::new("ABC").unwrap().eq_ignore_case("abc"));
    }

    #[test]
    fn timestamps_are_read_leniently_and_sent_in_one_form() {
        let z = Timestamp::parse("2025-01-02T03:04:05Z").unwrap();
        let offset = Timestamp::parse("2025-01-02T11:04:05.000+08:00").unwrap();
        let naive = Timestamp::parse("2025-01-02T03:04:05").unwrap();
        let frac = Timestamp::parse("2025-01-02T03:04:05.123456789Z").unwrap();
        assert_eq!(z, offset);
        assert_eq!(z, naive);
        assert_eq!(frac.to_wire(), "2025-01-02T03:04:05.123Z");
        assert_eq!(z.to_wire(), "2025-01-02T03:04:05.000Z");
        for bad in [
            "2025-01-02 03:04:05Z",
            "not-a-date",
            "2025-01-02",
            "",
            "2025-13-02T03:04:05Z",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tenths_accept_only_one_decimal() {
        assert_eq!(Tenths::from_f64(6.1), Some(Tenths(61)));
        assert_eq!(Tenths::from_f64(16.0), Some(Tenths(160)));
        assert_eq!(Tenths::from_f64(16.25), None);
        assert_eq!(serde_json::to_string(&Tenths(61)).unwrap(), "6.1");
        assert_eq!(serde_json::to_string(&Tenths(160)).unwrap(), "16");
        assert_eq!(Tenths(-15).to_string(), "-1.5");
    }

    #[test]
    fn enum_spellings_are_exact() {
        assert_eq!(
            UnitOfMeasure::parse("Celcius"),
            Some(UnitOfMeasure::Celcius)
        );
        assert_eq!(
            UnitOfMeasure::parse("Celsius"),
            Some(UnitOfMeasure::Celsius)
        );
        assert_eq!(UnitOfMeasure::parse("Hertz"), Some(UnitOfMeasure::Hertz));
        assert_eq!(UnitOfMeasure::parse("kwh"), None);
        assert_eq!(ChargePointStatus::SuspendedEvse.as_str(), "SuspendedEVSE");
        assert_eq!(
            serde_json::to_string(&Measurand::EnergyActiveImportRegister).unwrap(),
            "\"Energy.Active.Import.Register\""
        );
        for s in ChargePointStatus::ALL {
            assert_eq!(ChargePointStatus::parse(s.as_str()), Some(*s));
        }
    }
}
