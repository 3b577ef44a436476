//! Statement periods: whole local days, weeks (Monday to Sunday) or months in the operator's
//! time zone, as the contract's settlement cycle says. A period is half-open: it starts at local
//! midnight of its first day and ends at local midnight of the day after its last.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::partner::contract::SettlementCycle;

/// One statement period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatementPeriod {
    pub cycle: SettlementCycle,
    /// The first local day.
    pub start: NaiveDate,
    /// The local day after the last (exclusive).
    pub end: NaiveDate,
}

impl StatementPeriod {
    /// The period of `cycle` that contains the local day `day`.
    pub fn containing(cycle: SettlementCycle, day: NaiveDate) -> Self {
        let start = match cycle {
            SettlementCycle::Daily => day,
            SettlementCycle::Weekly => {
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
            SettlementCycle::Monthly => day.with_day(1).unwrap_or(day),
        };
        let end = match cycle {
            SettlementCycle::Daily => start + Duration::days(1),
            SettlementCycle::Weekly => start + Duration::days(7),
            SettlementCycle::Monthly => start
                .checked_add_months(Months::new(1))
                .unwrap_or(NaiveDate::MAX),
        };
        Self { cycle, start, end }
    }

    /// The period containing instant `at` in zone `tz`.
    pub fn at(cycle: SettlementCycle, tz: Tz, at: DateTime<Utc>) -> Self {
        Self::containing(cycle, at.with_timezone(&tz).date_naive())
    }

    /// Reads a period label: `2026-03` (monthly), `2026-03-02` (daily; for weekly, any day of
    /// the week, usually its Monday).
    pub fn parse(cycle: SettlementCycle, s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        let day = match cycle {
            SettlementCycle::Monthly => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"),
            SettlementCycle::Daily | SettlementCycle::Weekly => {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
            }
        }
        .map_err(|_| {
            ValidationError::new(
                "period",
                match cycle {
                    SettlementCycle::Monthly => format!("{s:?} is not a month YYYY-MM"),
                    _ => format!("{s:?} is not a date YYYY-MM-DD"),
                },
            )
        })?;
        Ok(Self::containing(cycle, day))
    }

    /// Local midnight of `day` in `tz` as UTC (in a zone with daylight saving, a midnight that
    /// does not exist is taken an hour later).
    fn midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
        let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
    }

    pub fn starts_at(&self, tz: Tz) -> DateTime<Utc> {
        Self::midnight(tz, self.start)
    }

    pub fn ends_at(&self, tz: Tz) -> DateTime<Utc> {
        Self::midnight(tz, self.end)
    }

    /// The period after this one.
    pub fn next(&self) -> Self {
        Self::containing(self.cycle, self.end)
    }

    /// The period before this one.
    pub fn previous(&self) -> Self {
        Self::containing(self.cycle, self.start - Duration::days(1))
    }
}

impl fmt::Display for StatementPeriod {
    /// `2026-03` for a month, `2026-03-02` for a day, `2026-03-02/2026-03-09` for a week.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cycle {
            SettlementCycle::Monthly => write!(f, "{}", self.start.format("%Y-%m")),
            SettlementCycle::Daily => write!(f, "{}", self.start.format("%Y-%m-%d")),
            SettlementCycle::Weekly => write!(
                f,
                "{}/{}",
                self.start.format("%Y-%m-%d"),
                self.end.format("%Y-%m-%d")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn shanghai() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    #[test]
    fn months_weeks_and_days_contain_their_day() {
        let p = StatementPeriod::containing(SettlementCycle::Monthly, day(2026, 2, 17));
        assert_eq!((p.start, p.end), (day(2026, 2, 1), day(2026, 3, 1)));
        assert_eq!(p.to_string(), "2026-02");
        // 2026-03-04 is a Wednesday.
        let p = StatementPeriod::containing(SettlementCycle::Weekly, day(2026, 3, 4));
        assert_eq!((p.start, p.end), (day(2026, 3, 2), day(2026, 3, 9)));
        let p = StatementPeriod::containing(SettlementCycle::Daily, day(2026, 12, 31));
        assert_eq!((p.start, p.end), (day(2026, 12, 31), day(2027, 1, 1)));
        assert_eq!(p.next().start, day(2027, 1, 1));
        assert_eq!(p.previous().start, day(2026, 12, 30));
    }

    #[test]
    fn periods_are_bounded_by_local_midnight() {
        let p = StatementPeriod::parse(SettlementCycle::Monthly, "2026-03").unwrap();
        // Shanghai is UTC+8: local midnight is 16:00 UTC the day before.
        assert_eq!(
            p.starts_at(shanghai()),
            Utc.with_ymd_and_hms(2026, 2, 28, 16, 0, 0).unwrap()
        );
        assert_eq!(
            p.ends_at(shanghai()),
            Utc.with_ymd_and_hms(2026, 3, 31, 16, 0, 0).unwrap()
        );
        // A session stopping at 23:30 local on 31 March is in March, though in UTC it is
        // already 31 March 15:30 — and one at 00:30 local on 1 April is not.
        let late = Utc.with_ymd_and_hms(2026, 3, 31, 15, 30, 0).unwrap();
        assert_eq!(
            StatementPeriod::at(SettlementCycle::Monthly, shanghai(), late),
            p
        );
        let april = Utc.with_ymd_and_hms(2026, 3, 31, 16, 30, 0).unwrap();
        assert_eq!(
            StatementPeriod::at(SettlementCycle::Monthly, shanghai(), april),
            p.next()
        );
    }

    #[test]
    fn labels_are_checked() {
        assert!(StatementPeriod::parse(SettlementCycle::Monthly, "2026-13").is_err());
        assert!(StatementPeriod::parse(SettlementCycle::Daily, "2026-03").is_err());
        assert_eq!(
            StatementPeriod::parse(SettlementCycle::Weekly, "2026-03-05")
                .unwrap()
                .start,
            day(2026, 3, 2)
        );
    }
}
