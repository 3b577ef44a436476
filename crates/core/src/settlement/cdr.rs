//! Charge detail records: the priced, immutable record of a completed session, and the credit
//! CDRs that correct one. A CDR is written once, in the same transaction that completes its
//! session, and never changed; a correction is a new credit CDR that references the original,
//! carries negative amounts, names the operator who issued it and says why.
//!
//! The figures on a CDR are those of [`crate::pricing::price_session`]: lines per tariff segment
//! rounded by [`Money::round`], totals that are the sums of those lines.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::error::ValidationError;
use crate::ids::{ChargerId, ConnectorId, PartnerId, SessionId, StationId, TariffId};
use crate::money::{CURRENCY, Money};
use crate::pricing::{IdleCharge, PricedLine, PricedSession};

/// A CDR's id. ≤ 39 characters of letters, digits, `-`, `_`, `.`: a valid OCPI 2.2.1 CDR id
/// (CiString(39)). A session's CDR takes the session's id, so a second CDR for the same session
/// cannot even be named differently; credit CDRs get `CR-` and a fresh unique suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CdrId(String);

impl CdrId {
    pub const MAX_LEN: usize = 39;

    pub fn parse(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "cdr_id",
                format!("must be 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(ValidationError::new(
                "cdr_id",
                format!("character {c:?} not allowed (letters, digits, '-', '_', '.')"),
            ));
        }
        Ok(Self(s))
    }

    /// The id of a session's CDR: the session's own id.
    pub fn for_session(session: &SessionId) -> Self {
        Self(session.as_str().to_string())
    }

    /// The id of a credit CDR from a unique token (a UUID's simple form, 32 characters).
    pub fn for_credit(unique: &str) -> Result<Self, ValidationError> {
        Self::parse(format!("CR-{unique}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CdrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CdrId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The order id a partner gave when it started the session: its own reference, which its
/// settlement report uses. 1–64 printable ASCII characters.
pub fn validate_order_id(field: &str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() || s.len() > 64 {
        return Err(ValidationError::new(field, "must be 1 to 64 characters"));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValidationError::new(
            field,
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// What a CDR records: a session, or a correction of an earlier CDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CdrKind {
    /// The CDR of a completed session.
    Session,
    /// A credit CDR: amounts (and energy, for a reversal) are negative.
    Credit(Credit),
}

/// Why and by whom a credit CDR was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The CDR it corrects (always a session CDR).
    pub original: CdrId,
    /// Free text, 1–500 characters; shown to the partner.
    pub reason: String,
    /// `operator:<id>`: credits are operator actions, audited.
    pub issued_by: String,
}

/// A charge detail record. Built only by [`Cdr::for_session`] and [`Cdr::credit`], so its lines
/// always add up to its totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cdr {
    pub id: CdrId,
    pub kind: CdrKind,
    pub session_id: SessionId,
    /// The partner that started the session; `None` for the operator's own (local) sessions,
    /// which appear on no statement.
    pub partner_id: Option<PartnerId>,
    /// The partner's order id (set exactly when `partner_id` is).
    pub partner_order_id: Option<String>,
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub meter_start: Wh,
    pub meter_stop: Wh,
    /// Billed energy: the sum of the lines' energy (a meter reset bills less than stop − start).
    pub energy: Wh,
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    /// The IANA zone the tariff's segments were read in (`Asia/Shanghai`).
    pub time_zone: String,
    /// One line per stretch of a tariff segment.
    pub lines: Vec<PricedLine>,
    pub idle: Option<IdleCharge>,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    pub total: Money,
    /// Always `CNY`.
    pub currency: String,
    /// A meter register went down during the session (reset or rollover).
    pub meter_anomaly: bool,
    /// When the CDR was written (for a credit: issued).
    pub created_at: DateTime<Utc>,
}

/// What the sessions service knows of a completed session, to make its CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCdr {
    pub session_id: SessionId,
    /// `None` for a local session.
    pub partner_id: Option<PartnerId>,
    /// Set exactly when `partner_id` is.
    pub partner_order_id: Option<String>,
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub meter_start: Wh,
    pub meter_stop: Wh,
    pub tariff_id: TariffId,
    /// The zone the session was priced in.
    pub time_zone: String,
    /// `price_session`'s result under the tariff version in force at `started_at`.
    pub priced: PricedSession,
    pub created_at: DateTime<Utc>,
}

/// A correction an operator issues against a CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRequest {
    pub id: CdrId,
    /// How much to give back, as a positive amount of the original's total; `None` reverses the
    /// original entirely (every line, the idle fee and the energy).
    pub amount: Option<Money>,
    pub reason: String,
    pub issued_by: String,
    pub at: DateTime<Utc>,
}

impl Cdr {
    /// The CDR of a completed session. Its id is the session's id.
    pub fn for_session(s: SessionCdr) -> Result<Cdr, ValidationError> {
        match (&s.partner_id, &s.partner_order_id) {
            (Some(_), Some(order)) => validate_order_id("partner_order_id", order)?,
            (None, None) => {}
            _ => {
                return Err(ValidationError::new(
                    "partner_order_id",
                    "is given exactly when the session has a partner",
                ));
            }
        }
        if s.stopped_at < s.started_at {
            return Err(ValidationError::new(
                "stopped_at",
                "must not be before started_at",
            ));
        }
        let p = s.priced;
        Ok(Cdr {
            id: CdrId::for_session(&s.session_id),
            kind: CdrKind::Session,
            session_id: s.session_id,
            partner_id: s.partner_id,
            partner_order_id: s.partner_order_id,
            station_id: s.station_id,
            charger_id: s.charger_id,
            connector_id: s.connector_id,
            started_at: s.started_at,
            stopped_at: s.stopped_at,
            meter_start: s.meter_start,
            meter_stop: s.meter_stop,
            energy: p.energy,
            tariff_id: s.tariff_id,
            tariff_version: p.tariff_version,
            time_zone: s.time_zone,
            lines: p.lines,
            idle: p.idle,
            electricity_fee: p.electricity_fee,
            service_fee: p.service_fee,
            idle_fee: p.idle_fee,
            total: p.total,
            currency: CURRENCY.to_string(),
            meter_anomaly: p.meter_anomaly,
            created_at: s.created_at,
        })
    }

    /// A credit CDR against `self` (which must be a session CDR), given the credits already
    /// issued against it. Without an amount it reverses the CDR entirely — every line, the idle
    /// fee and the energy, mirrored with the opposite sign — which only a CDR without earlier
    /// credits allows. With an amount, it credits that much of what is left of the service fee
    /// first, then the idle fee, then the electricity fee (the operator's own margin before the
    /// pass-through cost of electricity), as one line with zero energy; the amount may not
    /// exceed what is left of the total.
    pub fn credit(&self, prior: &[Cdr], req: CreditRequest) -> Result<Cdr, ValidationError> {
        if !matches!(self.kind, CdrKind::Session) {
            return Err(ValidationError::new(
                "original",
                "a credit can only correct a session's CDR",
            ));
        }
        if let Some(other) = prior
            .iter()
            .find(|c| !matches!(&c.kind, CdrKind::Credit(k) if k.original == self.id))
        {
            return Err(ValidationError::new(
                "original",
                format!("{} is not a credit of {}", other.id, self.id),
            ));
        }
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ValidationError::new(
                "reason",
                "must be 1 to 500 characters",
            ));
        }
        let neg = |m: Money| Money::ZERO - m;
        // What is left of each fee after earlier credits (credits are negative).
        let left = |fee: fn(&Cdr) -> Money| fee(self) + prior.iter().map(fee).sum::<Money>();
        let (left_electricity, left_service, left_idle) = (
            left(|c| c.electricity_fee),
            left(|c| c.service_fee),
            left(|c| c.idle_fee),
        );
        let left_total = left_electricity + left_service + left_idle;
        let (lines, idle, energy, electricity, service, idle_fee) = match req.amount {
            None => {
                if !prior.is_empty() {
                    return Err(ValidationError::new(
                        "amount",
                        format!(
                            "{} has been credited before; credit what is left ({}) as an amount",
                            self.id,
                            left_total.amount()
                        ),
                    ));
                }
                let lines = self
                    .lines
                    .iter()
                    .map(|l| PricedLine {
                        energy: Wh(-l.energy.0),
                        electricity_fee: neg(l.electricity_fee),
                        service_fee: neg(l.service_fee),
                        ..l.clone()
                    })
                    .collect();
                let idle = self.idle.as_ref().map(|i| IdleCharge {
                    fee: neg(i.fee),
                    ..i.clone()
                });
                (
                    lines,
                    idle,
                    Wh(-self.energy.0),
                    neg(self.electricity_fee),
                    neg(self.service_fee),
                    neg(self.idle_fee),
                )
            }
            Some(amount) => {
                if amount.is_negative() || amount == Money::ZERO || amount.round() != amount {
                    return Err(ValidationError::new(
                        "amount",
                        "must be a positive amount with at most 2 decimals",
                    ));
                }
                if amount > left_total {
                    return Err(ValidationError::new(
                        "amount",
                        format!(
                            "must not exceed what is left of {}'s total: {}",
                            self.id,
                            left_total.amount()
                        ),
                    ));
                }
                // Take the credit out of the fees in a fixed order, so it is explainable.
                let mut rest = amount;
                let mut take = |available: Money| {
                    let t = rest.min(available.max(Money::ZERO));
                    rest = rest - t;
                    t
                };
                let service = take(left_service);
                let idle = take(left_idle);
                let electricity = take(left_electricity);
                let line = PricedLine {
                    start: self.stopped_at,
                    end: self.stopped_at,
                    label: None,
                    energy: Wh::ZERO,
                    electricity_price: Default::default(),
                    service_price: Default::default(),
                    electricity_fee: neg(electricity),
                    service_fee: neg(service),
                };
                (
                    vec![line],
                    None,
                    Wh::ZERO,
                    neg(electricity),
                    neg(service),
                    neg(idle),
                )
            }
        };
        Ok(Cdr {
            id: req.id,
            kind: CdrKind::Credit(Credit {
                original: self.id.clone(),
                reason: reason.to_string(),
                issued_by: req.issued_by,
            }),
            energy,
            lines,
            idle,
            electricity_fee: electricity,
            service_fee: service,
            idle_fee,
            total: electricity + service + idle_fee,
            meter_anomaly: false,
            created_at: req.at,
            ..self.clone()
        })
    }

    pub fn is_credit(&self) -> bool {
        matches!(self.kind, CdrKind::Credit(_))
    }

    /// The instant that decides which statement period a CDR falls in: a session's stop, a
    /// credit's issue.
    pub fn booked_at(&self) -> DateTime<Utc> {
        match self.kind {
            CdrKind::Session => self.stopped_at,
            CdrKind::Credit(_) => self.created_at,
        }
    }

    /// Lines and totals agree (always true for CDRs built here; checked again on the way out of
    /// a store, since a CDR is evidence).
    pub fn check_consistency(&self) -> Result<(), ValidationError> {
        let electricity: Money = self.lines.iter().map(|l| l.electricity_fee).sum();
        let service: Money = self.lines.iter().map(|l| l.service_fee).sum();
        let idle = self.idle.as_ref().map_or(Money::ZERO, |i| i.fee);
        let energy = Wh(self.lines.iter().map(|l| l.energy.0).sum());
        if electricity != self.electricity_fee {
            return Err(ValidationError::new(
                "electricity_fee",
                "differs from the sum of the lines",
            ));
        }
        if service != self.service_fee {
            return Err(ValidationError::new(
                "service_fee",
                "differs from the sum of the lines",
            ));
        }
        if self.idle.is_some() && idle != self.idle_fee {
            return Err(ValidationError::new(
                "idle_fee",
                "differs from the idle charge",
            ));
        }
        if energy != self.energy {
            return Err(ValidationError::new(
                "energy",
                "differs from the sum of the lines",
            ));
        }
        if self.total != self.electricity_fee + self.service_fee + self.idle_fee {
            return Err(ValidationError::new(
                "total",
                "differs from the sum of the fees",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{MeterSample, price_session};
    use crate::tariff::tests::seg;
    use crate::tariff::{IdleFee, Tariff};
    use chrono::{Duration, TimeZone};
    use rust_decimal::Decimal;

    fn m(cents: i64) -> Money {
        Money::new(Decimal::new(cents, 2))
    }

    /// 20 kWh in the flat period (0.8 + 0.6) with 15 idle minutes at 0.5: 16.00 + 12.00 + 7.50.
    fn input() -> SessionCdr {
        let tariff = Tariff::new(
            TariffId::parse("T").unwrap(),
            "flat".into(),
            2,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            vec![seg("00:00", "24:00", "0.8", "0.6")],
            Some(IdleFee {
                price_per_minute: crate::money::UnitPrice::parse("p", "0.5").unwrap(),
                grace_minutes: 30,
            }),
        )
        .unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        let stop = start + Duration::hours(1);
        let priced = price_session(
            &tariff,
            chrono_tz::Asia::Shanghai,
            &[
                MeterSample {
                    at: start,
                    register: Wh(5_000),
                },
                MeterSample {
                    at: stop,
                    register: Wh(25_000),
                },
            ],
            Some((stop, stop + Duration::minutes(45))),
        );
        SessionCdr {
            session_id: SessionId::parse("sess-1").unwrap(),
            partner_id: Some(PartnerId::parse("P1").unwrap()),
            partner_order_id: Some("ORD-1".into()),
            station_id: StationId::parse("ST").unwrap(),
            charger_id: ChargerId::parse("CP").unwrap(),
            connector_id: ConnectorId::parse("CP-1").unwrap(),
            started_at: start,
            stopped_at: stop,
            meter_start: Wh(5_000),
            meter_stop: Wh(25_000),
            tariff_id: tariff.id,
            time_zone: "Asia/Shanghai".into(),
            priced,
            created_at: stop,
        }
    }

    fn cdr() -> Cdr {
        Cdr::for_session(input()).unwrap()
    }

    fn request(id: &str, amount: Option<i64>) -> CreditRequest {
        CreditRequest {
            id: CdrId::parse(id).unwrap(),
            amount: amount.map(m),
            reason: "meter fault".into(),
            issued_by: "operator:op-1".into(),
            at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_session_cdr_carries_its_pricing_and_the_session_id() {
        let c = cdr();
        assert_eq!(c.id.as_str(), "sess-1");
        assert_eq!(c.tariff_version, 2);
        assert_eq!(
            (c.electricity_fee, c.service_fee, c.idle_fee),
            (m(1600), m(1200), m(750))
        );
        assert_eq!(c.total, m(3550));
        assert_eq!(c.booked_at(), c.stopped_at);
        c.check_consistency().unwrap();
    }

    #[test]
    fn partner_and_order_id_go_together() {
        let mut s = SessionCdr {
            partner_order_id: None,
            ..input()
        };
        assert_eq!(
            Cdr::for_session(s.clone()).unwrap_err().field,
            "partner_order_id"
        );
        s.partner_id = None;
        let local = Cdr::for_session(s).unwrap();
        assert_eq!(local.partner_id, None);
    }

    #[test]
    fn a_full_reversal_mirrors_every_figure() {
        let c = cdr();
        let r = c.credit(&[], request("CR-1", None)).unwrap();
        assert_eq!(r.energy, Wh(-20_000));
        assert_eq!(r.total, Money::ZERO - c.total);
        assert_eq!(r.idle.as_ref().map(|i| i.fee), Some(m(-750)));
        assert_eq!(r.booked_at(), request("x", None).at);
        assert!(matches!(&r.kind, CdrKind::Credit(k) if k.original == c.id));
        r.check_consistency().unwrap();
        // The original is untouched, and a second full reversal is refused.
        assert_eq!(c, cdr());
        assert_eq!(
            c.credit(&[r], request("CR-2", None)).unwrap_err().field,
            "amount"
        );
    }

    #[test]
    fn a_partial_credit_takes_service_then_idle_then_electricity() {
        let c = cdr();
        let first = c.credit(&[], request("CR-1", Some(1500))).unwrap();
        assert_eq!(
            (first.service_fee, first.idle_fee, first.electricity_fee),
            (m(-1200), m(-300), m(0))
        );
        first.check_consistency().unwrap();
        // What is left: 4.50 idle, 16.00 electricity.
        let second = c
            .credit(std::slice::from_ref(&first), request("CR-2", Some(500)))
            .unwrap();
        assert_eq!(
            (second.service_fee, second.idle_fee, second.electricity_fee),
            (m(0), m(-450), m(-50))
        );
        let e = c
            .credit(&[first, second], request("CR-3", Some(1551)))
            .unwrap_err();
        assert_eq!(e.field, "amount");
        assert!(e.reason.contains("15.50"), "{}", e.reason);
    }

    #[test]
    fn credits_are_checked() {
        let c = cdr();
        for (amount, field) in [(0, "amount"), (-5, "amount"), (3551, "amount")] {
            assert_eq!(
                c.credit(&[], request("CR-1", Some(amount)))
                    .unwrap_err()
                    .field,
                field
            );
        }
        let mut no_reason = request("CR-1", Some(100));
        no_reason.reason = " ".into();
        assert_eq!(c.credit(&[], no_reason).unwrap_err().field, "reason");
        let credit = c.credit(&[], request("CR-1", Some(100))).unwrap();
        assert_eq!(
            credit
                .credit(&[], request("CR-2", Some(1)))
                .unwrap_err()
                .field,
            "original"
        );
        assert!(CdrId::parse("x".repeat(40)).is_err());
        assert!(CdrId::parse("a b").is_err());
        assert_eq!(
            CdrId::for_credit("0123456789abcdef0123456789abcdef")
                .unwrap()
                .as_str()
                .len(),
            35
        );
    }
}
