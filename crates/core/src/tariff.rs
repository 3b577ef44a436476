//! Time-of-use tariffs: segments of the local day, each with an electricity price and a service
//! price per kWh, plus an optional idle fee. Tariffs are versioned; a version takes effect at
//! `effective_from` and never changes afterwards.

use std::fmt;

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::TariffId;
use crate::money::UnitPrice;

const DAY_MINUTES: u16 = 24 * 60;

/// A minute of the local day, 0..=1440 (1440 is the end of the day, written `24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayMinute(u16);

impl DayMinute {
    pub const MIDNIGHT: DayMinute = DayMinute(0);
    pub const END_OF_DAY: DayMinute = DayMinute(DAY_MINUTES);

    pub fn new(minute: u16) -> Option<Self> {
        (minute <= DAY_MINUTES).then_some(Self(minute))
    }

    /// Reads `HH:MM` (`24:00` allowed).
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let err = || ValidationError::new(field, format!("{s:?} is not a time HH:MM"));
        let (h, m) = s.trim().split_once(':').ok_or_else(err)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(err());
        }
        let h: u16 = h.parse().map_err(|_| err())?;
        let m: u16 = m.parse().map_err(|_| err())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(err());
        }
        Ok(Self(h * 60 + m))
    }

    pub fn of(t: NaiveTime) -> Self {
        Self((t.hour() * 60 + t.minute()) as u16)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for DayMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for DayMinute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DayMinute {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DayMinute::parse("time", &s).map_err(serde::de::Error::custom)
    }
}

/// The Chinese time-of-use period names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodLabel {
    /// 尖
    Sharp,
    /// 峰
    Peak,
    /// 平
    Flat,
    /// 谷
    Valley,
}

impl PeriodLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sharp => "sharp",
            Self::Peak => "peak",
            Self::Flat => "flat",
            Self::Valley => "valley",
        }
    }

    /// Reads the English name or the Chinese character.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim() {
            "sharp" | "尖" => Ok(Self::Sharp),
            "peak" | "峰" => Ok(Self::Peak),
            "flat" | "平" => Ok(Self::Flat),
            "valley" | "谷" => Ok(Self::Valley),
            _ => Err(ValidationError::new(
                "label",
                format!("{s:?} is not a period (sharp/尖, peak/峰, flat/平, valley/谷)"),
            )),
        }
    }
}

/// A stretch of the local day with its prices. `end` ≤ `start` means the segment runs past
/// midnight (e.g. 谷 22:00–08:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TariffSegment {
    pub start: DayMinute,
    pub end: DayMinute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<PeriodLabel>,
    /// CNY per kWh.
    pub electricity_price: UnitPrice,
    /// CNY per kWh.
    pub service_price: UnitPrice,
}

impl TariffSegment {
    /// The minutes of the day this segment covers, as half-open ranges (two when it wraps).
    fn ranges(&self) -> Vec<(u16, u16)> {
        let (s, e) = (self.start.0 % DAY_MINUTES, self.end.0);
        if e > s {
            vec![(s, e)]
        } else {
            vec![(s, DAY_MINUTES), (0, e)]
                .into_iter()
                .filter(|(a, b)| b > a)
                .collect()
        }
    }

    /// True when the local minute `m` (0..1440) falls in this segment.
    pub fn contains(&self, m: DayMinute) -> bool {
        self.ranges().iter().any(|&(a, b)| m.0 >= a && m.0 < b)
    }
}

/// An idle (occupancy) fee: charged per minute that a connector stays occupied after charging
/// has finished, once a grace period has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleFee {
    /// CNY per minute.
    pub price_per_minute: UnitPrice,
    pub grace_minutes: u32,
}

/// One version of a tariff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tariff {
    pub id: TariffId,
    pub name: String,
    /// 1, 2, … in order of `effective_from`.
    pub version: u32,
    pub effective_from: DateTime<Utc>,
    /// Sorted by start; together they cover the whole day exactly once.
    pub segments: Vec<TariffSegment>,
    pub idle_fee: Option<IdleFee>,
}

impl Tariff {
    /// Validates and normalises a version: segments must cover every minute of the day exactly
    /// once; they are sorted by start time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: TariffId,
        name: String,
        version: u32,
        effective_from: DateTime<Utc>,
        mut segments: Vec<TariffSegment>,
        idle_fee: Option<IdleFee>,
    ) -> Result<Self, ValidationError> {
        if name.trim().is_empty() || name.chars().count() > 50 {
            return Err(ValidationError::new("name", "must be 1 to 50 characters"));
        }
        if version == 0 {
            return Err(ValidationError::new("version", "must be at least 1"));
        }
        check_coverage(&segments)?;
        if let Some(fee) = &idle_fee
            && fee.grace_minutes > 24 * 60
        {
            return Err(ValidationError::new(
                "idle_fee.grace_minutes",
                "must be at most 1440 minutes",
            ));
        }
        segments.sort_by_key(|s| s.start);
        Ok(Self {
            id,
            name,
            version,
            effective_from,
            segments,
            idle_fee,
        })
    }

    /// The segment in force at local time `t`.
    pub fn segment_at(&self, t: NaiveTime) -> &TariffSegment {
        let m = DayMinute::of(t);
        // Coverage is checked on construction, so exactly one segment matches.
        self.segments
            .iter()
            .find(|s| s.contains(m))
            .unwrap_or(&self.segments[0])
    }
}

fn check_coverage(segments: &[TariffSegment]) -> Result<(), ValidationError> {
    if segments.is_empty() {
        return Err(ValidationError::new(
            "segments",
            "at least one segment is required",
        ));
    }
    let mut owner: Vec<Option<usize>> = vec![None; DAY_MINUTES as usize];
    for (i, seg) in segments.iter().enumerate() {
        if seg.start == seg.end && segments.len() > 1 {
            return Err(ValidationError::new(
                format!("segments[{i}]"),
                "start equals end; only a single segment may cover the whole day",
            ));
        }
        if seg.start == DayMinute::END_OF_DAY {
            return Err(ValidationError::new(
                format!("segments[{i}].start"),
                "must be before 24:00",
            ));
        }
        let ranges = if seg.start == seg.end {
            vec![(0, DAY_MINUTES)]
        } else {
            seg.ranges()
        };
        for (a, b) in ranges {
            for m in a..b {
                if let Some(j) = owner[m as usize] {
                    return Err(ValidationError::new(
                        format!("segments[{i}]"),
                        format!("overlaps segments[{j}] at {}", DayMinute(m)),
                    ));
                }
                owner[m as usize] = Some(i);
            }
        }
    }
    if let Some(m) = owner.iter().position(Option::is_none) {
        let end = owner[m..]
            .iter()
            .position(Option::is_some)
            .map_or(DAY_MINUTES, |n| (m + n) as u16);
        return Err(ValidationError::new(
            "segments",
            format!(
                "leave a gap from {} to {}",
                DayMinute(m as u16),
                DayMinute(end)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn seg(start: &str, end: &str, e: &str, s: &str) -> TariffSegment {
        TariffSegment {
            start: DayMinute::parse("start", start).unwrap(),
            end: DayMinute::parse("end", end).unwrap(),
            label: None,
            electricity_price: UnitPrice::parse("e", e).unwrap(),
            service_price: UnitPrice::parse("s", s).unwrap(),
        }
    }

    fn tariff(segments: Vec<TariffSegment>) -> Result<Tariff, ValidationError> {
        Tariff::new(
            TariffId::parse("T1").unwrap(),
            "上海工商业分时".into(),
            1,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            segments,
            None,
        )
    }

    #[test]
    fn day_minutes_parse_hh_mm() {
        assert_eq!(DayMinute::parse("f", "00:00").unwrap().get(), 0);
        assert_eq!(DayMinute::parse("f", "24:00").unwrap().get(), 1440);
        assert_eq!(DayMinute::parse("f", "08:30").unwrap().to_string(), "08:30");
        for bad in ["8:30", "24:01", "12:60", "ab:cd", "1230"] {
            assert!(DayMinute::parse("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage_table() {
        let cases: Vec<(&str, Vec<TariffSegment>, Result<(), &str>)> = vec![
            (
                "one segment all day",
                vec![seg("00:00", "24:00", "0.8", "0.6")],
                Ok(()),
            ),
            (
                "start equals end alone",
                vec![seg("00:00", "00:00", "0.8", "0.6")],
                Ok(()),
            ),
            (
                "four periods",
                vec![
                    seg("00:00", "08:00", "0.3", "0.4"),
                    seg("08:00", "10:00", "0.7", "0.6"),
                    seg("10:00", "15:00", "1.1", "0.8"),
                    seg("15:00", "24:00", "0.7", "0.6"),
                ],
                Ok(()),
            ),
            (
                "wrapping valley",
                vec![
                    seg("22:00", "08:00", "0.3", "0.4"),
                    seg("08:00", "22:00", "0.9", "0.6"),
                ],
                Ok(()),
            ),
            (
                "gap",
                vec![
                    seg("00:00", "08:00", "0.3", "0.4"),
                    seg("09:00", "24:00", "0.9", "0.6"),
                ],
                Err("segments"),
            ),
            (
                "overlap",
                vec![
                    seg("00:00", "09:00", "0.3", "0.4"),
                    seg("08:00", "24:00", "0.9", "0.6"),
                ],
                Err("segments[1]"),
            ),
            (
                "wrap overlaps",
                vec![
                    seg("22:00", "08:00", "0.3", "0.4"),
                    seg("07:00", "22:00", "0.9", "0.6"),
                ],
                Err("segments[1]"),
            ),
            ("empty", vec![], Err("segments")),
            (
                "zero-length among others",
                vec![
                    seg("08:00", "08:00", "0.3", "0.4"),
                    seg("00:00", "24:00", "0.9", "0.6"),
                ],
                Err("segments[0]"),
            ),
            (
                "start at 24:00",
                vec![
                    seg("24:00", "08:00", "0.3", "0.4"),
                    seg("08:00", "24:00", "0.9", "0.6"),
                ],
                Err("segments[0].start"),
            ),
        ];
        for (name, segments, expected) in cases {
            let got = tariff(segments).map(|_| ()).map_err(|e| e.field);
            assert_eq!(got, expected.map_err(str::to_string), "{name}");
        }
    }

    #[test]
    fn the_segment_in_force_is_found_by_local_time() {
        let t = tariff(vec![
            seg("08:00", "22:00", "0.9", "0.6"),
            seg("22:00", "08:00", "0.3", "0.4"),
        ])
        .unwrap();
        assert_eq!(t.segments[0].start.to_string(), "08:00");
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            t.segment_at(at(23, 30)).electricity_price.to_string(),
            "0.3"
        );
        assert_eq!(t.segment_at(at(3, 0)).electricity_price.to_string(), "0.3");
        assert_eq!(t.segment_at(at(8, 0)).electricity_price.to_string(), "0.9");
        assert_eq!(
            t.segment_at(at(21, 59)).electricity_price.to_string(),
            "0.9"
        );
    }

    #[test]
    fn labels_read_chinese_and_english() {
        assert_eq!(PeriodLabel::parse("谷").unwrap(), PeriodLabel::Valley);
        assert_eq!(PeriodLabel::parse("peak").unwrap(), PeriodLabel::Peak);
        assert!(PeriodLabel::parse("night").is_err());
    }

    #[test]
    fn names_and_versions_are_checked() {
        let all_day = || vec![seg("00:00", "24:00", "0.8", "0.6")];
        let t = Tariff::new(
            TariffId::parse("T").unwrap(),
            String::new(),
            1,
            Utc::now(),
            all_day(),
            None,
        );
        assert_eq!(t.unwrap_err().field, "name");
        let t = Tariff::new(
            TariffId::parse("T").unwrap(),
            "x".into(),
            0,
            Utc::now(),
            all_day(),
            None,
        );
        assert_eq!(t.unwrap_err().field, "version");
    }
}
