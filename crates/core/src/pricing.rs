//! The tariff engine: prices a session from its meter readings.
//!
//! Energy between two meter samples is spread linearly over the time between them (the best
//! estimate without finer data), split wherever a time-of-use segment begins or ends in local
//! time, and summed into one line per stretch of a segment. Each line is priced with its
//! segment's electricity and service prices. The rounding rule of [`Money::round`] is applied
//! once per line and fee; the total is the sum of the rounded lines, so lines always add up.
//!
//! Meter anomalies: a register that goes down (a reset or a rollover) gives no energy for that
//! interval — we never bill energy we cannot prove — and the later samples count from the new
//! value. The result says so, so that operators can review it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::money::{Money, UnitPrice};
use crate::tariff::{PeriodLabel, Tariff, TariffSegment};

/// A reading of the energy register at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterSample {
    pub at: DateTime<Utc>,
    pub register: Wh,
}

/// The energy of one stretch of one tariff segment, priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub label: Option<PeriodLabel>,
    pub energy: Wh,
    pub electricity_price: UnitPrice,
    pub service_price: UnitPrice,
    pub electricity_fee: Money,
    pub service_fee: Money,
}

/// The idle fee of a session, when the tariff has one and the connector stayed occupied past
/// the grace period after charging ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleCharge {
    /// Billed minutes (after the grace period, whole minutes started count in full).
    pub minutes: u32,
    pub price_per_minute: UnitPrice,
    pub fee: Money,
}

/// A priced session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedSession {
    pub tariff_version: u32,
    pub lines: Vec<PricedLine>,
    pub idle: Option<IdleCharge>,
    pub energy: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    pub total: Money,
    /// True when a meter register went down somewhere (reset or rollover).
    pub meter_anomaly: bool,
}

/// Prices energy measured by `samples` (in time order; the first is the meter start, the last
/// the meter stop) under `tariff`, whose segments are in local time of `tz`. `idle` is the time
/// charging ended and the time the connector was freed, when known.
pub fn price_session(
    tariff: &Tariff,
    tz: Tz,
    samples: &[MeterSample],
    idle: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> PricedSession {
    let mut sorted: Vec<MeterSample> = samples.to_vec();
    sorted.sort_by_key(|s| s.at);

    // Energy per (segment index, stretch): accumulated as exact decimals of Wh.
    let mut stretches: Vec<Stretch> = Vec::new();
    let mut meter_anomaly = false;
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let delta = b.register.0 - a.register.0;
        if delta < 0 {
            meter_anomaly = true;
            continue;
        }
        spread(tariff, tz, a.at, b.at, Decimal::from(delta), &mut stretches);
    }
    if stretches.is_empty() {
        // A session with one sample (or only meter resets) still gets its line, with no
        // energy. (Samples that share one instant already made their line above: spreading
        // them again here counted their energy twice, which the property tests caught.)
        if let (Some(first), Some(last)) = (sorted.first(), sorted.last()) {
            spread(tariff, tz, first.at, last.at, Decimal::ZERO, &mut stretches);
        }
    }

    let total_energy: i64 = sorted
        .windows(2)
        .map(|p| (p[1].register.0 - p[0].register.0).max(0))
        .sum();
    let energies = allocate_wh(&stretches, total_energy);

    let lines: Vec<PricedLine> = stretches
        .iter()
        .zip(energies)
        .map(|(st, wh)| {
            let seg = &tariff.segments[st.segment];
            let energy = Wh(wh);
            PricedLine {
                start: st.start,
                end: st.end,
                label: seg.label,
                energy,
                electricity_price: seg.electricity_price,
                service_price: seg.service_price,
                electricity_fee: seg.electricity_price.times(energy.kwh()).round(),
                service_fee: seg.service_price.times(energy.kwh()).round(),
            }
        })
        .collect();

    let idle = idle.and_then(|(ended, freed)| idle_charge(tariff, ended, freed));
    let electricity_fee: Money = lines.iter().map(|l| l.electricity_fee).sum();
    let service_fee: Money = lines.iter().map(|l| l.service_fee).sum();
    let idle_fee = idle.as_ref().map_or(Money::ZERO, |i| i.fee);
    PricedSession {
        tariff_version: tariff.version,
        energy: Wh(lines.iter().map(|l| l.energy.0).sum()),
        lines,
        idle,
        electricity_fee,
        service_fee,
        idle_fee,
        total: electricity_fee + service_fee + idle_fee,
        meter_anomaly,
    }
}

/// One contiguous stretch of time inside a single tariff segment, with the (unrounded) energy
/// attributed to it.
#[derive(Debug, Clone)]
struct Stretch {
    segment: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    energy: Decimal,
}

/// Spreads `energy` linearly over [from, to], split at segment boundaries, into `out`.
fn spread(
    tariff: &Tariff,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    energy: Decimal,
    out: &mut Vec<Stretch>,
) {
    let total_ms = (to - from).num_milliseconds();
    if total_ms <= 0 {
        let segment = segment_index_at(tariff, tz, from);
        push(
            out,
            Stretch {
                segment,
                start: from,
                end: to.max(from),
                energy,
            },
        );
        return;
    }
    let mut cuts = boundaries_between(tariff, tz, from, to);
    cuts.push(to);
    let mut start = from;
    for end in cuts {
        if end <= start {
            continue;
        }
        let mid = start + (end - start) / 2;
        let segment = segment_index_at(tariff, tz, mid);
        let share =
            energy * Decimal::from((end - start).num_milliseconds()) / Decimal::from(total_ms);
        push(
            out,
            Stretch {
                segment,
                start,
                end,
                energy: share,
            },
        );
        start = end;
    }
}

/// Adds a stretch, merging it with the previous one when it continues the same segment.
fn push(out: &mut Vec<Stretch>, st: Stretch) {
    if let Some(last) = out.last_mut()
        && last.segment == st.segment
        && last.end == st.start
    {
        last.end = st.end;
        last.energy += st.energy;
        return;
    }
    out.push(st);
}

fn segment_index_at(tariff: &Tariff, tz: Tz, at: DateTime<Utc>) -> usize {
    let local = at.with_timezone(&tz).time();
    let seg: &TariffSegment = tariff.segment_at(local);
    tariff
        .segments
        .iter()
        .position(|s| std::ptr::eq(s, seg))
        .unwrap_or(0)
}

/// Every instant strictly inside (from, to) where some segment starts, in UTC, sorted.
fn boundaries_between(
    tariff: &Tariff,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let first_day = from.with_timezone(&tz).date_naive();
    let last_day = to.with_timezone(&tz).date_naive();
    let mut cuts = Vec::new();
    let mut day: NaiveDate = first_day;
    while day <= last_day {
        for seg in &tariff.segments {
            for minute in [seg.start.get(), seg.end.get()] {
                if let Some(at) = local_instant(tz, day, minute)
                    && at > from
                    && at < to
                {
                    cuts.push(at);
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    cuts.sort();
    cuts.dedup();
    cuts
}

/// The UTC instant of `minute` past local midnight of `day`. In a zone with daylight saving, a
/// wall-clock time that does not exist is taken an hour later, an ambiguous one at its first
/// occurrence.
fn local_instant(tz: Tz, day: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minute));
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Rounds stretch energies to whole Wh so that they sum to `total` exactly (largest remainder).
fn allocate_wh(stretches: &[Stretch], total: i64) -> Vec<i64> {
    let floors: Vec<i64> = stretches
        .iter()
        .map(|s| i64::try_from(s.energy.floor()).unwrap_or(0))
        .collect();
    let mut left = total - floors.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..stretches.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = stretches[a].energy - stretches[a].energy.floor();
        let rb = stretches[b].energy - stretches[b].energy.floor();
        rb.cmp(&ra).then(a.cmp(&b))
    });
    let mut out = floors;
    for i in order.into_iter().cycle().take(stretches.len().max(1) * 2) {
        if left <= 0 || stretches.is_empty() {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

fn idle_charge(tariff: &Tariff, ended: DateTime<Utc>, freed: DateTime<Utc>) -> Option<IdleCharge> {
    let fee = tariff.idle_fee.as_ref()?;
    let occupied_s = (freed - ended).num_seconds();
    let grace_s = i64::from(fee.grace_minutes) * 60;
    if occupied_s <= grace_s {
        return None;
    }
    // Every started minute past the grace period counts, as partners' displays show it.
    let minutes = u32::try_from((occupied_s - grace_s + 59) / 60).unwrap_or(u32::MAX);
    Some(IdleCharge {
        minutes,
        price_per_minute: fee.price_per_minute,
        fee: fee.price_per_minute.times(Decimal::from(minutes)).round(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TariffId;
    use crate::tariff::IdleFee;
    use crate::tariff::tests::seg;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn shanghai() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    /// 谷 22:00–08:00 at 0.30 + 0.40 service; 平 08:00–22:00 at 0.80 + 0.60.
    fn two_period() -> Tariff {
        let mut valley = seg("22:00", "08:00", "0.3", "0.4");
        valley.label = Some(PeriodLabel::Valley);
        let mut flat = seg("08:00", "22:00", "0.8", "0.6");
        flat.label = Some(PeriodLabel::Flat);
        Tariff::new(
            TariffId::parse("T").unwrap(),
            "two".into(),
            3,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            vec![valley, flat],
            Some(IdleFee {
                price_per_minute: UnitPrice::parse("p", "0.5").unwrap(),
                grace_minutes: 30,
            }),
        )
        .unwrap()
    }

    /// A UTC instant given as Shanghai local time.
    fn sh(y: i32, mo: u32, da: u32, h: u32, mi: u32) -> DateTime<Utc> {
        shanghai()
            .with_ymd_and_hms(y, mo, da, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn sample(at: DateTime<Utc>, wh: i64) -> MeterSample {
        MeterSample {
            at,
            register: Wh(wh),
        }
    }

    #[test]
    fn a_session_inside_one_segment_is_one_line() {
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 10, 0), 1000),
                sample(sh(2026, 3, 1, 11, 0), 21_000),
            ],
            None,
        );
        assert_eq!(p.lines.len(), 1);
        assert_eq!(p.energy, Wh(20_000));
        // 20 kWh × 0.80 = 16.00; × 0.60 = 12.00
        assert_eq!(p.electricity_fee.amount(), d("16.00"));
        assert_eq!(p.service_fee.amount(), d("12.00"));
        assert_eq!(p.total.amount(), d("28.00"));
        assert_eq!(p.tariff_version, 3);
    }

    #[test]
    fn energy_is_split_at_a_boundary_by_time() {
        // 21:00–23:00 local, 30 kWh at constant power: 15 kWh 平 then 15 kWh 谷.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 21, 0), 0),
                sample(sh(2026, 3, 1, 23, 0), 30_000),
            ],
            None,
        );
        assert_eq!(p.lines.len(), 2);
        assert_eq!(p.lines[0].label, Some(PeriodLabel::Flat));
        assert_eq!(p.lines[0].energy, Wh(15_000));
        assert_eq!(p.lines[0].end, sh(2026, 3, 1, 22, 0));
        assert_eq!(p.lines[1].label, Some(PeriodLabel::Valley));
        assert_eq!(p.lines[1].energy, Wh(15_000));
        // 平: 15 × 0.8 = 12.00 + 15 × 0.6 = 9.00; 谷: 15 × 0.3 = 4.50 + 15 × 0.4 = 6.00
        assert_eq!(p.total.amount(), d("31.50"));
    }

    #[test]
    fn samples_follow_the_real_power_curve() {
        // Fast charging before the boundary, slow after: samples say so.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 21, 0), 0),
                sample(sh(2026, 3, 1, 22, 0), 50_000),
                sample(sh(2026, 3, 1, 23, 0), 55_000),
            ],
            None,
        );
        assert_eq!(p.lines[0].energy, Wh(50_000));
        assert_eq!(p.lines[1].energy, Wh(5_000));
    }

    #[test]
    fn a_session_across_midnight_and_days_gets_a_line_per_stretch() {
        // From 20:00 on day 1 to 10:00 on day 3 (38 h), 38 kWh at 1 kW.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 20, 0), 0),
                sample(sh(2026, 3, 3, 10, 0), 38_000),
            ],
            None,
        );
        let got: Vec<(Option<PeriodLabel>, i64)> =
            p.lines.iter().map(|l| (l.label, l.energy.0)).collect();
        assert_eq!(
            got,
            vec![
                (Some(PeriodLabel::Flat), 2_000),    // 20–22
                (Some(PeriodLabel::Valley), 10_000), // 22–08 across midnight: one line
                (Some(PeriodLabel::Flat), 14_000),   // 08–22
                (Some(PeriodLabel::Valley), 10_000), // 22–08
                (Some(PeriodLabel::Flat), 2_000),    // 08–10
            ]
        );
        assert_eq!(p.energy, Wh(38_000));
    }

    #[test]
    fn lines_always_sum_to_the_total() {
        // Awkward numbers: 7 Wh over 3 stretches, prices that need rounding.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 21, 50), 0),
                sample(sh(2026, 3, 2, 8, 10), 7),
            ],
            None,
        );
        assert_eq!(p.energy, Wh(7));
        let sum: Money = p
            .lines
            .iter()
            .map(|l| l.electricity_fee + l.service_fee)
            .sum();
        assert_eq!(sum, p.total);
    }

    #[test]
    fn a_zero_energy_session_costs_nothing() {
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 10, 0), 500),
                sample(sh(2026, 3, 1, 10, 5), 500),
            ],
            None,
        );
        assert_eq!(p.energy, Wh(0));
        assert_eq!(p.total, Money::ZERO);
        assert_eq!(p.lines.len(), 1);
    }

    #[test]
    fn a_meter_reset_bills_no_energy_for_that_interval() {
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 10, 0), 90_000),
                sample(sh(2026, 3, 1, 10, 30), 95_000),
                sample(sh(2026, 3, 1, 10, 40), 200), // reset
                sample(sh(2026, 3, 1, 11, 0), 3_200),
            ],
            None,
        );
        assert!(p.meter_anomaly);
        assert_eq!(p.energy, Wh(8_000));
    }

    #[test]
    fn missing_samples_are_interpolated_across_the_gap() {
        // Only start and stop, 4 hours across 22:00: half before, half after.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 20, 0), 0),
                sample(sh(2026, 3, 2, 0, 0), 40_000),
            ],
            None,
        );
        assert_eq!(p.lines[0].energy, Wh(20_000));
        assert_eq!(p.lines[1].energy, Wh(20_000));
    }

    #[test]
    fn another_zone_moves_the_boundaries() {
        // The same UTC instants priced in Europe/Berlin (UTC+1 in March before DST): 13:00–15:00
        // UTC is 14:00–16:00 Berlin, all 平.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let from = Utc.with_ymd_and_hms(2026, 3, 1, 13, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 3, 1, 15, 0, 0).unwrap();
        let p = price_session(
            &two_period(),
            berlin,
            &[sample(from, 0), sample(to, 10_000)],
            None,
        );
        assert_eq!(p.lines.len(), 1);
        assert_eq!(p.lines[0].label, Some(PeriodLabel::Flat));
        // In Shanghai the same instants are 21:00–23:00: split.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[sample(from, 0), sample(to, 10_000)],
            None,
        );
        assert_eq!(p.lines.len(), 2);
    }

    #[test]
    fn a_dst_night_in_a_zone_with_dst_still_adds_up() {
        // Europe/Berlin springs forward on 2026-03-29 at 02:00 local.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let from = Utc.with_ymd_and_hms(2026, 3, 28, 20, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 3, 29, 8, 0, 0).unwrap();
        let p = price_session(
            &two_period(),
            berlin,
            &[sample(from, 0), sample(to, 12_000)],
            None,
        );
        assert_eq!(p.energy, Wh(12_000));
        // 21:00 CET → 22:00 boundary after 1 h; 08:00 CEST = 06:00 UTC: 2 h of 平 at the end.
        let got: Vec<i64> = p.lines.iter().map(|l| l.energy.0).collect();
        assert_eq!(got, vec![1_000, 9_000, 2_000]);
    }

    #[test]
    fn idle_fee_counts_started_minutes_after_grace() {
        let t = two_period();
        let end = sh(2026, 3, 1, 11, 0);
        let cases = [
            (29, None),
            (30, None),
            (31, Some((1, "0.50"))),
            (45, Some((15, "7.50"))),
        ];
        for (minutes, expected) in cases {
            let p = price_session(
                &t,
                shanghai(),
                &[sample(sh(2026, 3, 1, 10, 0), 0), sample(end, 1000)],
                Some((end, end + Duration::minutes(minutes))),
            );
            let got = p.idle.as_ref().map(|i| (i.minutes, i.fee.amount()));
            assert_eq!(got, expected.map(|(m, f)| (m, d(f))), "{minutes} min");
            assert_eq!(p.total, p.electricity_fee + p.service_fee + p.idle_fee);
        }
    }

    #[test]
    fn unordered_samples_are_sorted_first() {
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 11, 0), 10_000),
                sample(sh(2026, 3, 1, 10, 0), 0),
            ],
            None,
        );
        assert_eq!(p.energy, Wh(10_000));
    }

    /// 尖峰平谷 as in a Shanghai commercial tariff: valley 00–08, flat 08–10, peak 10–15 with a
    /// sharp hour 13–14, flat 15–18, peak 18–21, flat 21–24 (prices with 4 decimals).
    fn four_period() -> Tariff {
        let mut segs = vec![
            seg("00:00", "08:00", "0.3012", "0.4000"),
            seg("08:00", "10:00", "0.7055", "0.6000"),
            seg("10:00", "13:00", "1.1033", "0.8000"),
            seg("13:00", "14:00", "1.3240", "0.8000"),
            seg("14:00", "15:00", "1.1033", "0.8000"),
            seg("15:00", "18:00", "0.7055", "0.6000"),
            seg("18:00", "21:00", "1.1033", "0.8000"),
            seg("21:00", "24:00", "0.7055", "0.6000"),
        ];
        let labels = [
            PeriodLabel::Valley,
            PeriodLabel::Flat,
            PeriodLabel::Peak,
            PeriodLabel::Sharp,
            PeriodLabel::Peak,
            PeriodLabel::Flat,
            PeriodLabel::Peak,
            PeriodLabel::Flat,
        ];
        for (s, l) in segs.iter_mut().zip(labels) {
            s.label = Some(l);
        }
        Tariff::new(
            TariffId::parse("T4").unwrap(),
            "four".into(),
            1,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            segs,
            None,
        )
        .unwrap()
    }

    #[test]
    fn golden_four_periods_with_awkward_prices() {
        // 12:30–14:30 local, 18 kWh at constant power: 4.5 kWh peak (12:30–13:00), 9 kWh sharp,
        // 4.5 kWh peak (14:00–14:30). Hand computed:
        //   peak  4.5 × 1.1033 = 4.96485 → 4.96; × 0.8 = 3.60  (twice)
        //   sharp 9 × 1.3240 = 11.916 → 11.92; × 0.8 = 7.20
        //   electricity 4.96 + 11.92 + 4.96 = 21.84; service 3.60 + 7.20 + 3.60 = 14.40
        let p = price_session(
            &four_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 2, 12, 30), 0),
                sample(sh(2026, 3, 2, 14, 30), 18_000),
            ],
            None,
        );
        let got: Vec<(Option<PeriodLabel>, i64, String, String)> = p
            .lines
            .iter()
            .map(|l| {
                (
                    l.label,
                    l.energy.0,
                    l.electricity_fee.amount().to_string(),
                    l.service_fee.amount().to_string(),
                )
            })
            .collect();
        let line = |l, e, a: &str, b: &str| (Some(l), e, a.to_string(), b.to_string());
        assert_eq!(
            got,
            vec![
                line(PeriodLabel::Peak, 4_500, "4.96", "3.60"),
                line(PeriodLabel::Sharp, 9_000, "11.92", "7.20"),
                line(PeriodLabel::Peak, 4_500, "4.96", "3.60"),
            ]
        );
        assert_eq!(p.electricity_fee.amount(), d("21.84"));
        assert_eq!(p.service_fee.amount(), d("14.40"));
        assert_eq!(p.total.amount(), d("36.24"));
    }

    #[test]
    fn golden_rounding_of_halves_goes_away_from_zero() {
        // 1.5 kWh at 0.3 + 0.4 inside the valley: 0.45 and 0.60 exactly; 1.25 kWh × 0.3012 =
        // 0.3765 → 0.38 (the half-cent rounds up).
        let p = price_session(
            &four_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 2, 1, 0), 0),
                sample(sh(2026, 3, 2, 2, 0), 1_250),
            ],
            None,
        );
        assert_eq!(p.electricity_fee.amount(), d("0.38"));
        assert_eq!(p.service_fee.amount(), d("0.50"));
    }

    #[test]
    fn golden_midnight_in_the_middle_of_one_segment_is_one_line() {
        // 23:00–01:00 in the 21–24 flat then 00–08 valley: two lines, split at midnight because
        // the segments differ; 4 kWh evenly.
        let p = price_session(
            &four_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 2, 23, 0), 100),
                sample(sh(2026, 3, 3, 1, 0), 4_100),
            ],
            None,
        );
        assert_eq!(
            p.lines.iter().map(|l| l.energy.0).collect::<Vec<_>>(),
            vec![2_000, 2_000]
        );
        assert_eq!(p.lines[0].end, sh(2026, 3, 3, 0, 0));
        // 2 × 0.7055 = 1.411 → 1.41; 2 × 0.6 = 1.20; 2 × 0.3012 = 0.6024 → 0.60; 2 × 0.4 = 0.80
        assert_eq!(p.total.amount(), d("4.01"));
    }

    #[test]
    fn golden_register_rollover_is_not_billed() {
        // A 6-digit kWh register (999 999 kWh) rolling over: the interval across the wrap is
        // not billed (we cannot prove the energy), the rest is.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[
                sample(sh(2026, 3, 1, 10, 0), 999_990_000),
                sample(sh(2026, 3, 1, 10, 30), 999_998_000),
                sample(sh(2026, 3, 1, 10, 40), 1_000),
                sample(sh(2026, 3, 1, 11, 0), 5_000),
            ],
            None,
        );
        assert!(p.meter_anomaly);
        assert_eq!(p.energy, Wh(12_000));
    }

    #[test]
    fn samples_at_one_instant_are_billed_once() {
        // Found by `totals_are_the_sum_of_the_lines`: two readings in the same millisecond.
        let at = sh(2026, 3, 1, 10, 0);
        let p = price_session(
            &two_period(),
            shanghai(),
            &[sample(at, 1_000), sample(at, 1_001)],
            None,
        );
        assert_eq!(p.energy, Wh(1));
        assert_eq!(p.lines.iter().map(|l| l.energy.0).sum::<i64>(), 1);
        // Only resets: no energy, still a line.
        let p = price_session(
            &two_period(),
            shanghai(),
            &[sample(at, 1_000), sample(at + Duration::minutes(5), 10)],
            None,
        );
        assert!(p.meter_anomaly);
        assert_eq!((p.energy, p.lines.len()), (Wh::ZERO, 1));
    }

    #[test]
    fn golden_a_single_sample_is_a_zero_energy_session() {
        let p = price_session(
            &two_period(),
            shanghai(),
            &[sample(sh(2026, 3, 1, 10, 0), 500)],
            None,
        );
        assert_eq!(p.energy, Wh::ZERO);
        assert_eq!(p.total, Money::ZERO);
        assert_eq!(p.lines.len(), 1);
    }

    #[test]
    fn golden_an_ambiguous_autumn_hour_in_another_zone() {
        // Europe/Berlin falls back on 2026-10-25 at 03:00 CEST → 02:00 CET: the local night is
        // 25 hours long. 00:00–06:00 local, 7 h of real time, 7 kWh: valley all along (22–08).
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let from = berlin
            .with_ymd_and_hms(2026, 10, 25, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let to = berlin
            .with_ymd_and_hms(2026, 10, 25, 6, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!((to - from).num_hours(), 7);
        let p = price_session(
            &two_period(),
            berlin,
            &[sample(from, 0), sample(to, 7_000)],
            None,
        );
        assert_eq!(p.lines.len(), 1);
        assert_eq!(p.lines[0].label, Some(PeriodLabel::Valley));
        assert_eq!(p.electricity_fee.amount(), d("2.10"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A session: start minute in 2026 (local Shanghai), then (gap minutes, energy delta)
        /// pairs; a negative delta is a meter reset to that many Wh below.
        fn session() -> impl Strategy<Value = (i64, Vec<(i64, i64)>)> {
            (
                0i64..(365 * 24 * 60),
                prop::collection::vec((0i64..900, -2_000i64..60_000), 1..8),
            )
        }

        fn samples(start: i64, steps: &[(i64, i64)]) -> Vec<MeterSample> {
            let mut at = sh(2026, 1, 1, 0, 0) + Duration::minutes(start);
            let mut reg = 1_000_000i64;
            let mut out = vec![sample(at, reg)];
            for &(gap, delta) in steps {
                at += Duration::minutes(gap);
                reg = if delta < 0 { -delta } else { reg + delta };
                out.push(sample(at, reg));
            }
            out
        }

        fn check_sums(p: &PricedSession) -> Result<(), TestCaseError> {
            let e: Money = p.lines.iter().map(|l| l.electricity_fee).sum();
            let s: Money = p.lines.iter().map(|l| l.service_fee).sum();
            prop_assert_eq!(e, p.electricity_fee);
            prop_assert_eq!(s, p.service_fee);
            prop_assert_eq!(p.total, p.electricity_fee + p.service_fee + p.idle_fee);
            prop_assert_eq!(p.energy.0, p.lines.iter().map(|l| l.energy.0).sum::<i64>());
            for l in &p.lines {
                prop_assert_eq!(l.electricity_fee, l.electricity_fee.round());
                prop_assert_eq!(l.service_fee, l.service_fee.round());
                prop_assert!(l.energy.0 >= 0);
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// Lines add up to the totals, every amount is rounded to the cent, and the billed
            /// energy is exactly the sum of the register's rises.
            #[test]
            fn totals_are_the_sum_of_the_lines((start, steps) in session()) {
                for tariff in [two_period(), four_period()] {
                    let s = samples(start, &steps);
                    let p = price_session(&tariff, shanghai(), &s, None);
                    check_sums(&p)?;
                    let rises: i64 = s.windows(2).map(|w| (w[1].register.0 - w[0].register.0).max(0)).sum();
                    prop_assert_eq!(p.energy.0, rises);
                }
            }

            /// Pricing is additive over a split at any sample: the energy exactly, the money
            /// within the rounding of the lines involved (each rounded fee is within half a cent
            /// of its exact value, and each line's energy within 1 Wh of its exact share).
            #[test]
            fn pricing_is_additive_over_splits((start, steps) in session(), cut in 1usize..8) {
                let s = samples(start, &steps);
                let cut = cut.min(s.len() - 1);
                for tariff in [two_period(), four_period()] {
                    let whole = price_session(&tariff, shanghai(), &s, None);
                    let a = price_session(&tariff, shanghai(), &s[..=cut], None);
                    let b = price_session(&tariff, shanghai(), &s[cut..], None);
                    prop_assert_eq!(whole.energy, a.energy + b.energy);
                    let lines = (whole.lines.len() + a.lines.len() + b.lines.len()) as i64;
                    // Per line: two fees × 0.005 of rounding, and 1 Wh of energy at the
                    // dearest price (1.3240 + 0.8000 per kWh) ≈ 0.0022.
                    let bound = Money::new(Decimal::new(123, 4) * Decimal::from(lines));
                    let diff = whole.total - (a.total + b.total);
                    let diff = if diff.is_negative() { Money::ZERO - diff } else { diff };
                    prop_assert!(diff <= bound, "diff {} > bound {}", diff, bound);
                }
            }
        }
    }
}
