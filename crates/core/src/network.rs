//! The operator's network: stations, the chargers at them and the connectors on each charger.
//! Field limits follow T/CEC 102 (the strictest partner protocol), so whatever we accept can be
//! served to every partner unchanged.

use chrono::{DateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::geo::Coordinates;
use crate::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use crate::status::ConnectorState;

/// A 6-digit administrative division code of GB/T 2260 (e.g. 310115, Shanghai Pudong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode(u32);

impl AreaCode {
    /// Province-level prefixes of GB/T 2260 (11 Beijing … 65 Xinjiang, 71 Taiwan, 81/82 HK/Macau).
    const PROVINCES: [u32; 34] = [
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51,
        52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
    ];

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let err = |r: &str| ValidationError::new("area_code", r);
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("must be 6 digits (GB/T 2260)"));
        }
        let n: u32 = s.parse().map_err(|_| err("must be 6 digits (GB/T 2260)"))?;
        if !Self::PROVINCES.contains(&(n / 10_000)) {
            return Err(err("does not start with a GB/T 2260 province code"));
        }
        Ok(Self(n))
    }

    /// The province-level code (first two digits followed by zeros).
    pub fn province(self) -> AreaCode {
        AreaCode(self.0 / 10_000 * 10_000)
    }

    /// The prefecture-level code.
    pub fn city(self) -> AreaCode {
        AreaCode(self.0 / 100 * 100)
    }

    /// True when `self` is `other` or lies inside it (`310000` contains `310115`).
    pub fn within(self, other: AreaCode) -> bool {
        if other.0.is_multiple_of(10_000) {
            self.0 / 10_000 == other.0 / 10_000
        } else if other.0.is_multiple_of(100) {
            self.0 / 100 == other.0 / 100
        } else {
            self == other
        }
    }
}

impl std::fmt::Display for AreaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl TryFrom<String> for AreaCode {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, ValidationError> {
        Self::parse(&s)
    }
}

impl From<AreaCode> for String {
    fn from(a: AreaCode) -> String {
        a.to_string()
    }
}

/// When a station can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OpeningHours {
    AlwaysOpen,
    /// The same hours every day, local time. `close` ≤ `open` means it closes after midnight.
    Daily {
        open: NaiveTime,
        close: NaiveTime,
    },
}

impl OpeningHours {
    /// Reads `24/7`, `24h` or `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if matches!(s, "24/7" | "24h" | "24小时" | "00:00-24:00") {
            return Ok(Self::AlwaysOpen);
        }
        let err = || ValidationError::new("opening_hours", "must be 24/7 or HH:MM-HH:MM");
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let open = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| err())?;
        let close = NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| err())?;
        if open == close {
            return Ok(Self::AlwaysOpen);
        }
        Ok(Self::Daily { open, close })
    }

    /// The form `parse` reads, and what T/CEC 102 BusineHours carries.
    pub fn to_text(&self) -> String {
        match self {
            Self::AlwaysOpen => "24/7".into(),
            Self::Daily { open, close } => {
                format!("{}-{}", open.format("%H:%M"), close.format("%H:%M"))
            }
        }
    }
}

/// Whether a station serves customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationStatus {
    Planned,
    Operational,
    Maintenance,
    Closed,
}

impl StationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Operational => "operational",
            Self::Maintenance => "maintenance",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        [
            Self::Planned,
            Self::Operational,
            Self::Maintenance,
            Self::Closed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| {
            ValidationError::new(
                "status",
                "must be one of planned, operational, maintenance, closed",
            )
        })
    }
}

/// A charging station (充电站).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Station {
    pub id: StationId,
    pub name: String,
    pub address: String,
    pub area_code: AreaCode,
    pub province: String,
    pub city: String,
    pub district: String,
    pub location: Coordinates,
    pub opening_hours: OpeningHours,
    pub parking: Option<String>,
    pub service_phone: String,
    pub photos: Vec<String>,
    pub status: StationStatus,
    pub tariff_id: TariffId,
    /// Served by simulated chargers; the only stations sandbox credentials see.
    pub sandbox: bool,
    pub retired_at: Option<DateTime<Utc>>,
}

fn text(field: &str, value: &str, max_chars: usize, required: bool) -> Result<(), ValidationError> {
    if required && value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn phone(field: &str, value: &str) -> Result<(), ValidationError> {
    text(field, value, 30, true)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '(' | ')'))
    {
        return Err(ValidationError::new(
            field,
            "must contain only digits, spaces and + - ( )",
        ));
    }
    Ok(())
}

impl Station {
    /// Checks what the types do not: text lengths (T/CEC 102 limits), phone, photo URLs.
    pub fn validate(&self) -> Result<(), ValidationError> {
        text("name", &self.name, 50, true)?;
        text("address", &self.address, 50, true)?;
        text("province", &self.province, 20, true)?;
        text("city", &self.city, 20, true)?;
        text("district", &self.district, 20, true)?;
        if let Some(p) = &self.parking {
            text("parking", p, 100, false)?;
        }
        phone("service_phone", &self.service_phone)?;
        for (i, url) in self.photos.iter().enumerate() {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 512
                && !url.chars().any(char::is_whitespace);
            if !ok {
                return Err(ValidationError::new(
                    format!("photos[{i}]"),
                    "must be an http(s) URL of at most 512 characters",
                ));
            }
        }
        Ok(())
    }
}

/// Alternating or direct current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CurrentType {
    Ac,
    Dc,
}

impl CurrentType {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AC" => Ok(Self::Ac),
            "DC" => Ok(Self::Dc),
            _ => Err(ValidationError::new("current_type", "must be AC or DC")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ac => "AC",
            Self::Dc => "DC",
        }
    }
}

/// Where a charger stands in its life with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Provisioned, never booted.
    Provisioned,
    /// Has sent an accepted BootNotification.
    Registered,
    /// Refused at the WebSocket upgrade until enabled again.
    Disabled,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::Registered => "registered",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Provisioned, Self::Registered, Self::Disabled]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A charger (充电桩): one OCPP connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charger {
    pub id: ChargerId,
    pub station_id: StationId,
    pub vendor: String,
    pub model: String,
    pub serial: Option<String>,
    pub current_type: CurrentType,
    pub max_power_kw: Decimal,
    pub firmware: Option<String>,
    pub registration: Registration,
    pub retired_at: Option<DateTime<Utc>>,
}

/// A power in kW: positive, at most one decimal (T/CEC 102 Power), at most 1000 kW.
pub fn validate_power_kw(field: &str, kw: Decimal) -> Result<(), ValidationError> {
    if kw <= Decimal::ZERO {
        return Err(ValidationError::new(field, "must be positive"));
    }
    if kw.normalize().scale() > 1 {
        return Err(ValidationError::new(
            field,
            "must have at most 1 decimal place",
        ));
    }
    if kw > Decimal::from(1000) {
        return Err(ValidationError::new(field, "must be at most 1000 kW"));
    }
    Ok(())
}

impl Charger {
    pub fn validate(&self) -> Result<(), ValidationError> {
        text("vendor", &self.vendor, 30, true)?;
        text("model", &self.model, 20, true)?;
        if let Some(s) = &self.serial {
            text("serial", s, 25, false)?;
        }
        if let Some(f) = &self.firmware {
            text("firmware", f, 50, false)?;
        }
        validate_power_kw("max_power_kw", self.max_power_kw)
    }
}

/// Plug standards of the connectors we operate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStandard {
    GbtAc,
    GbtDc,
    Type2,
    Ccs2,
    Chademo,
    Chaoji,
}

impl ConnectorStandard {
    pub const ALL: [ConnectorStandard; 6] = [
        Self::GbtAc,
        Self::GbtDc,
        Self::Type2,
        Self::Ccs2,
        Self::Chademo,
        Self::Chaoji,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GbtAc => "gbt_ac",
            Self::GbtDc => "gbt_dc",
            Self::Type2 => "type2",
            Self::Ccs2 => "ccs2",
            Self::Chademo => "chademo",
            Self::Chaoji => "chaoji",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim()).ok_or_else(|| {
            ValidationError::new(
                "standard",
                format!("unknown connector standard {s:?} (gbt_ac, gbt_dc, type2, ccs2, chademo, chaoji)"),
            )
        })
    }

    pub fn current_type(self) -> CurrentType {
        match self {
            Self::GbtAc | Self::Type2 => CurrentType::Ac,
            Self::GbtDc | Self::Ccs2 | Self::Chademo | Self::Chaoji => CurrentType::Dc,
        }
    }
}

/// A connector (枪): where a vehicle plugs in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connector {
    pub id: ConnectorId,
    pub charger_id: ChargerId,
    pub number: ConnectorNumber,
    pub standard: ConnectorStandard,
    pub max_power_kw: Decimal,
    pub voltage_v: u32,
    pub current_a: u32,
    pub retired_at: Option<DateTime<Utc>>,
}

impl Connector {
    /// Checks the connector on its own and against its charger.
    pub fn validate(&self, charger: &Charger) -> Result<(), ValidationError> {
        validate_power_kw("max_power_kw", self.max_power_kw)?;
        if self.max_power_kw > charger.max_power_kw {
            return Err(ValidationError::new(
                "max_power_kw",
                format!("exceeds the charger's {} kW", charger.max_power_kw),
            ));
        }
        if self.standard.current_type() != charger.current_type {
            return Err(ValidationError::new(
                "standard",
                format!(
                    "{} is for {} but charger {} is {}",
                    self.standard.as_str(),
                    self.standard.current_type().as_str(),
                    charger.id,
                    charger.current_type.as_str()
                ),
            ));
        }
        if !(12..=1500).contains(&self.voltage_v) {
            return Err(ValidationError::new(
                "voltage_v",
                "must be between 12 and 1500 V",
            ));
        }
        if !(1..=1000).contains(&self.current_a) {
            return Err(ValidationError::new(
                "current_a",
                "must be between 1 and 1000 A",
            ));
        }
        Ok(())
    }
}

/// A connector together with its live state, as reads return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorView {
    pub connector: Connector,
    pub state: ConnectorState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::Datum;
    use std::str::FromStr;

    pub(crate) fn station() -> Station {
        Station {
            id: StationId::parse("SH-0001").unwrap(),
            name: "上海浦东张江充电站".into(),
            address: "上海市浦东新区祖冲之路2288号".into(),
            area_code: AreaCode::parse("310115").unwrap(),
            province: "上海市".into(),
            city: "上海市".into(),
            district: "浦东新区".into(),
            location: Coordinates::new(31.2035, 121.5906, Datum::Wgs84).unwrap(),
            opening_hours: OpeningHours::AlwaysOpen,
            parking: Some("停车前2小时免费".into()),
            service_phone: "400-820-1234".into(),
            photos: vec!["https://example.com/a.jpg".into()],
            status: StationStatus::Operational,
            tariff_id: TariffId::parse("T-SH").unwrap(),
            sandbox: false,
            retired_at: None,
        }
    }

    fn charger(ct: CurrentType, kw: &str) -> Charger {
        Charger {
            id: ChargerId::parse("SH0001-01").unwrap(),
            station_id: StationId::parse("SH-0001").unwrap(),
            vendor: "星星充电".into(),
            model: "DC120".into(),
            serial: None,
            current_type: ct,
            max_power_kw: Decimal::from_str(kw).unwrap(),
            firmware: None,
            registration: Registration::Provisioned,
            retired_at: None,
        }
    }

    fn connector(standard: ConnectorStandard, kw: &str) -> Connector {
        Connector {
            id: ConnectorId::parse("SH0001-01-1").unwrap(),
            charger_id: ChargerId::parse("SH0001-01").unwrap(),
            number: ConnectorNumber::new(1).unwrap(),
            standard,
            max_power_kw: Decimal::from_str(kw).unwrap(),
            voltage_v: 750,
            current_a: 250,
            retired_at: None,
        }
    }

    #[test]
    fn area_codes_follow_gbt_2260() {
        for ok in ["110101", "310115", "440305", "820000"] {
            assert!(AreaCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["31011", "3101150", "99ab01", "990101", "000000"] {
            assert_eq!(
                AreaCode::parse(bad).unwrap_err().field,
                "area_code",
                "{bad}"
            );
        }
        let pudong = AreaCode::parse("310115").unwrap();
        assert!(pudong.within(AreaCode::parse("310000").unwrap()));
        assert!(pudong.within(AreaCode::parse("310100").unwrap()));
        assert!(!pudong.within(AreaCode::parse("320000").unwrap()));
        assert_eq!(pudong.to_string(), "310115");
    }

    #[test]
    fn opening_hours_parse_and_print() {
        assert_eq!(
            OpeningHours::parse("24/7").unwrap(),
            OpeningHours::AlwaysOpen
        );
        let d = OpeningHours::parse("07:00-23:00").unwrap();
        assert_eq!(d.to_text(), "07:00-23:00");
        assert!(OpeningHours::parse("7am-11pm").is_err());
    }

    #[test]
    fn a_valid_station_passes() {
        station().validate().unwrap();
    }

    #[test]
    fn station_text_limits_name_the_field() {
        type Mutation = Box<dyn Fn(&mut Station)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|s| s.name = "长".repeat(51)), "name"),
            (Box::new(|s| s.name = " ".into()), "name"),
            (Box::new(|s| s.address = String::new()), "address"),
            (
                Box::new(|s| s.service_phone = "call us".into()),
                "service_phone",
            ),
            (Box::new(|s| s.photos = vec!["ftp://x".into()]), "photos[0]"),
            (Box::new(|s| s.parking = Some("x".repeat(101))), "parking"),
        ];
        for (mutate, field) in cases {
            let mut s = station();
            mutate(&mut s);
            assert_eq!(s.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn connector_power_and_standard_must_fit_the_charger() {
        let dc = charger(CurrentType::Dc, "120");
        connector(ConnectorStandard::GbtDc, "120")
            .validate(&dc)
            .unwrap();
        let e = connector(ConnectorStandard::GbtDc, "160")
            .validate(&dc)
            .unwrap_err();
        assert_eq!(e.field, "max_power_kw");
        let e = connector(ConnectorStandard::GbtAc, "7")
            .validate(&dc)
            .unwrap_err();
        assert_eq!(e.field, "standard");
        let e = connector(ConnectorStandard::GbtDc, "60.25")
            .validate(&dc)
            .unwrap_err();
        assert_eq!(e.field, "max_power_kw");
        let mut c = connector(ConnectorStandard::GbtDc, "60");
        c.voltage_v = 5;
        assert_eq!(c.validate(&dc).unwrap_err().field, "voltage_v");
    }

    #[test]
    fn connector_standards_parse_by_name() {
        for s in ConnectorStandard::ALL {
            assert_eq!(ConnectorStandard::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(
            ConnectorStandard::parse("tesla").unwrap_err().field,
            "standard"
        );
    }

    #[test]
    fn chargers_are_validated() {
        charger(CurrentType::Ac, "7").validate().unwrap();
        let mut c = charger(CurrentType::Ac, "0");
        assert_eq!(c.validate().unwrap_err().field, "max_power_kw");
        c.max_power_kw = Decimal::from(7);
        c.model = String::new();
        assert_eq!(c.validate().unwrap_err().field, "model");
    }
}
