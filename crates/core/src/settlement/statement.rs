//! Statements: one per partner per period, gathering its CDRs and credit CDRs, with a line per
//! CDR and totals that are the sums of the lines. And the statement's lifecycle, a pure state
//! machine: draft → reported → reconciled | disputed → confirmed → settled.
//!
//! Each line's figures are the CDR's (already rounded) plus the partner's commission on each fee
//! under the terms in force when the session started — one rounding per fee and line, by
//! [`Money::round`] — and the amount due to the operator, the rest of each fee. So every figure on a statement can be recomputed
//! from its CDRs and terms, and the totals always add up.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::error::TransitionError;
use crate::ids::{PartnerId, SessionId, StatementId};
use crate::money::Money;
use crate::settlement::cdr::{Cdr, CdrId, CdrKind};
use crate::settlement::period::StatementPeriod;
use crate::settlement::terms::{FeeSplit, TermsSchedule};

/// Where a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementState {
    /// Built from our CDRs; waiting for the partner's report.
    Draft,
    /// The partner reported; reconciliation is running (within the same write).
    Reported,
    /// Every order matched.
    Reconciled,
    /// Reconciliation found discrepancies; the operator resolves them.
    Disputed,
    /// The operator confirmed the figures (every discrepancy resolved).
    Confirmed,
    /// Paid, with a payment reference.
    Settled,
}

/// What happens to a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementEvent {
    /// The partner sent a report (a re-report is allowed until confirmation).
    Report,
    /// Reconciliation found every order matched.
    AllMatched,
    /// Reconciliation found discrepancies.
    DiscrepanciesFound,
    /// The operator confirmed (the service checks that no discrepancy is left unresolved).
    Confirm,
    /// The operator recorded the payment.
    Settle,
}

impl StatementState {
    pub const ALL: [StatementState; 6] = [
        Self::Draft,
        Self::Reported,
        Self::Reconciled,
        Self::Disputed,
        Self::Confirmed,
        Self::Settled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Reported => "reported",
            Self::Reconciled => "reconciled",
            Self::Disputed => "disputed",
            Self::Confirmed => "confirmed",
            Self::Settled => "settled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Confirmed and settled statements' figures never change again.
    pub fn is_locked(self) -> bool {
        matches!(self, Self::Confirmed | Self::Settled)
    }

    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: StatementEvent) -> Result<StatementState, TransitionError> {
        use StatementEvent as E;
        use StatementState as S;
        let next = match (self, event) {
            (S::Draft | S::Reported | S::Reconciled | S::Disputed, E::Report) => S::Reported,
            (S::Reported, E::AllMatched) => S::Reconciled,
            (S::Reported, E::DiscrepanciesFound) => S::Disputed,
            (S::Reconciled | S::Disputed, E::Confirm) => S::Confirmed,
            (S::Confirmed, E::Settle) => S::Settled,
            _ => {
                return Err(TransitionError {
                    entity: "statement",
                    from: self.as_str(),
                    event: event.as_str(),
                });
            }
        };
        Ok(next)
    }
}

impl StatementEvent {
    pub const ALL: [StatementEvent; 5] = [
        Self::Report,
        Self::AllMatched,
        Self::DiscrepanciesFound,
        Self::Confirm,
        Self::Settle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::AllMatched => "all_matched",
            Self::DiscrepanciesFound => "discrepancies_found",
            Self::Confirm => "confirm",
            Self::Settle => "settle",
        }
    }
}

/// The figures of a CDR a statement needs (not its priced lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrFigures {
    pub cdr_id: CdrId,
    /// Set for credit CDRs.
    pub original: Option<CdrId>,
    pub session_id: SessionId,
    pub partner_order_id: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub booked_at: DateTime<Utc>,
    pub energy: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    pub total: Money,
}

impl From<&Cdr> for CdrFigures {
    fn from(c: &Cdr) -> Self {
        Self {
            cdr_id: c.id.clone(),
            original: match &c.kind {
                CdrKind::Session => None,
                CdrKind::Credit(k) => Some(k.original.clone()),
            },
            session_id: c.session_id.clone(),
            partner_order_id: c.partner_order_id.clone().unwrap_or_default(),
            started_at: c.started_at,
            stopped_at: c.stopped_at,
            booked_at: c.booked_at(),
            energy: c.energy,
            electricity_fee: c.electricity_fee,
            service_fee: c.service_fee,
            idle_fee: c.idle_fee,
            total: c.total,
        }
    }
}

/// One line of a statement: one CDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    #[serde(flatten)]
    pub cdr: CdrFigures,
    /// The partner's commission on this CDR: the sum of `commission_by_fee`.
    pub commission: Money,
    /// `total − commission`: what the partner owes the operator for this CDR.
    pub due_to_operator: Money,
    /// The partner's commission on each fee.
    pub commission_by_fee: FeeSplit,
    /// Each fee less its commission: the operator's share of it.
    pub due_to_operator_by_fee: FeeSplit,
    /// Booked before the period began: it arrived after an earlier statement was closed.
    pub late: bool,
}

impl StatementLine {
    /// Prices a CDR's line under the terms in force when its session started.
    pub fn new(cdr: CdrFigures, terms: &TermsSchedule, period_starts_at: DateTime<Utc>) -> Self {
        let amounts = cdr.amounts();
        let by_fee = amounts.commission(terms);
        let commission = by_fee.total();
        Self {
            due_to_operator: cdr.total - commission,
            due_to_operator_by_fee: amounts.fees() - by_fee,
            commission_by_fee: by_fee,
            late: cdr.booked_at < period_starts_at,
            cdr,
            commission,
        }
    }
}

/// The amounts of a CDR, all a statement's totals need: summing a million lines reads only
/// these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdrAmounts {
    pub credit: bool,
    /// Decides the terms.
    pub started_at: DateTime<Utc>,
    pub energy: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    pub total: Money,
}

impl CdrAmounts {
    /// The partner's commission on each fee of the CDR under the terms in force when its
    /// session started: the one place a statement line's commission is computed.
    pub fn commission(&self, terms: &TermsSchedule) -> FeeSplit {
        terms
            .at(self.started_at)
            .commission(self.electricity_fee, self.service_fee, self.idle_fee)
    }

    /// The CDR's fees.
    pub fn fees(&self) -> FeeSplit {
        FeeSplit {
            electricity: self.electricity_fee,
            service: self.service_fee,
            idle: self.idle_fee,
        }
    }
}

impl CdrFigures {
    pub fn amounts(&self) -> CdrAmounts {
        CdrAmounts {
            credit: self.original.is_some(),
            started_at: self.started_at,
            energy: self.energy,
            electricity_fee: self.electricity_fee,
            service_fee: self.service_fee,
            idle_fee: self.idle_fee,
            total: self.total,
        }
    }
}

/// A statement's totals: sums of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatementTotals {
    /// Session CDRs.
    pub sessions: u64,
    /// Credit CDRs.
    pub credits: u64,
    pub energy: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    /// What the partner's users paid in all (the sum of CDR totals).
    pub total: Money,
    pub commission: Money,
    pub due_to_operator: Money,
    /// `commission` per fee. (Absent from statements stored before migration 0008, which
    /// read as zero until the statement is gathered again.)
    #[serde(default)]
    pub commission_by_fee: FeeSplit,
    /// `due_to_operator` per fee.
    #[serde(default)]
    pub due_to_operator_by_fee: FeeSplit,
}

impl StatementTotals {
    pub fn add(&mut self, line: &StatementLine) {
        self.add_priced(&line.cdr.amounts(), line.commission_by_fee);
    }

    /// Adds a CDR's line without building it: the same figures [`StatementLine::new`] gives.
    pub fn add_amounts(&mut self, a: &CdrAmounts, terms: &TermsSchedule) {
        self.add_priced(a, a.commission(terms));
    }

    fn add_priced(&mut self, a: &CdrAmounts, by_fee: FeeSplit) {
        let commission = by_fee.total();
        if a.credit {
            self.credits += 1;
        } else {
            self.sessions += 1;
        }
        self.energy = self.energy + a.energy;
        self.electricity_fee = self.electricity_fee + a.electricity_fee;
        self.service_fee = self.service_fee + a.service_fee;
        self.idle_fee = self.idle_fee + a.idle_fee;
        self.total = self.total + a.total;
        self.commission = self.commission + commission;
        self.due_to_operator = self.due_to_operator + (a.total - commission);
        self.commission_by_fee = self.commission_by_fee + by_fee;
        self.due_to_operator_by_fee = self.due_to_operator_by_fee + (a.fees() - by_fee);
    }

    pub fn lines(&self) -> u64 {
        self.sessions + self.credits
    }
}

impl<'a> FromIterator<&'a StatementLine> for StatementTotals {
    fn from_iter<I: IntoIterator<Item = &'a StatementLine>>(iter: I) -> Self {
        let mut t = Self::default();
        for line in iter {
            t.add(line);
        }
        t
    }
}

/// A statement as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub id: StatementId,
    pub partner_id: PartnerId,
    pub period: StatementPeriod,
    /// The IANA zone the period is local to.
    pub time_zone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: StatementState,
    /// When it stopped gathering CDRs (the period had ended). Reports are accepted only then.
    pub closed_at: Option<DateTime<Utc>>,
    /// The terms its lines were priced with.
    pub terms: TermsSchedule,
    pub totals: StatementTotals,
    pub latest_report_id: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    /// Grows with every change; writes name the version they read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementEvent as E;
    use StatementState as S;

    /// Every (state, event) pair with its expected outcome. A new state or event fails the
    /// count until this table is extended.
    #[test]
    fn exhaustive_transition_table() {
        let allowed = [
            (S::Draft, E::Report, S::Reported),
            (S::Reported, E::Report, S::Reported),
            (S::Reconciled, E::Report, S::Reported),
            (S::Disputed, E::Report, S::Reported),
            (S::Reported, E::AllMatched, S::Reconciled),
            (S::Reported, E::DiscrepanciesFound, S::Disputed),
            (S::Reconciled, E::Confirm, S::Confirmed),
            (S::Disputed, E::Confirm, S::Confirmed),
            (S::Confirmed, E::Settle, S::Settled),
        ];
        let mut checked = 0;
        for state in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(s, e, _)| *s == state && *e == event);
                match (state.apply(event), expected) {
                    (Ok(next), Some((_, _, want))) => {
                        assert_eq!(next, *want, "{state:?}+{event:?}")
                    }
                    (Err(err), None) => {
                        assert_eq!(err.entity, "statement");
                        assert_eq!(err.from, state.as_str());
                        assert_eq!(err.event, event.as_str());
                    }
                    (got, want) => panic!("{state:?}+{event:?}: got {got:?}, want {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
    }

    #[test]
    fn confirmed_statements_cannot_be_reported_again() {
        for state in [S::Confirmed, S::Settled] {
            assert!(state.is_locked());
            assert!(state.apply(E::Report).is_err());
        }
        assert!(S::Settled.apply(E::Settle).is_err());
    }

    mod properties {
        use super::*;
        use crate::partner::contract::ShareRate;
        use crate::settlement::terms::SettlementTerms;
        use chrono::TimeZone;
        use proptest::prelude::*;
        use rust_decimal::Decimal;

        proptest! {
            /// Totals summed from amounts alone equal the sums of the built lines, and always
            /// split into commission + due.
            #[test]
            fn totals_are_the_sums_of_the_lines(
                cdrs in prop::collection::vec((any::<bool>(), 0i64..100_000, 0i64..50_000, 0i64..50_000, 0i64..5_000, 0i64..86_400), 0..50),
                bp in 0u32..=10_000,
            ) {
                let share = ShareRate::new("r", Decimal::new(i64::from(bp), 4)).unwrap();
                let switch = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
                let terms = TermsSchedule::new(
                    SettlementTerms {
                        effective_from: DateTime::<Utc>::MIN_UTC,
                        partner_share_of_electricity: share,
                        partner_share_of_service: share,
                        partner_share_of_idle: share,
                    },
                    [SettlementTerms {
                        effective_from: switch,
                        partner_share_of_electricity: ShareRate::ZERO,
                        partner_share_of_service: ShareRate::new("r", Decimal::new(1, 1)).unwrap(),
                        partner_share_of_idle: share,
                    }],
                );
                let m = |c: i64| Money::new(Decimal::new(c, 2));
                let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
                let mut by_lines = StatementTotals::default();
                let mut by_amounts = StatementTotals::default();
                let mut lines = Vec::new();
                for (i, (credit, wh, e, s, idle, secs)) in cdrs.into_iter().enumerate() {
                    let sign = if credit { -1 } else { 1 };
                    let at = start + chrono::Duration::seconds(secs);
                    let f = CdrFigures {
                        cdr_id: CdrId::parse(format!("c-{i}")).unwrap(),
                        original: credit.then(|| CdrId::parse("o").unwrap()),
                        session_id: SessionId::parse("s").unwrap(),
                        partner_order_id: "O".into(),
                        started_at: at,
                        stopped_at: at,
                        booked_at: at,
                        energy: Wh(sign * wh),
                        electricity_fee: m(sign * e),
                        service_fee: m(sign * s),
                        idle_fee: m(sign * idle),
                        total: m(sign * (e + s + idle)),
                    };
                    by_amounts.add_amounts(&f.amounts(), &terms);
                    let line = StatementLine::new(f, &terms, start);
                    by_lines.add(&line);
                    lines.push(line);
                }
                prop_assert_eq!(by_lines, by_amounts);
                let collected: StatementTotals = lines.iter().collect();
                prop_assert_eq!(collected, by_lines);
                prop_assert_eq!(by_lines.commission + by_lines.due_to_operator, by_lines.total);
                prop_assert_eq!(by_lines.commission_by_fee.total(), by_lines.commission);
                prop_assert_eq!(by_lines.due_to_operator_by_fee.total(), by_lines.due_to_operator);
                prop_assert_eq!(
                    by_lines.due_to_operator_by_fee.service + by_lines.commission_by_fee.service,
                    by_lines.service_fee
                );
                let commission: Money = lines.iter().map(|l| l.commission).sum();
                prop_assert_eq!(commission, by_lines.commission);
            }
        }
    }

    /// Hand-computed: the contract lets the partner keep 10 % of the service fee (the issue's
    /// example); terms scheduled from 16 March (local midnight) raise that and add a share of
    /// electricity and idle fees. Each session is settled under the terms in force when it
    /// started, and a credit under its original's.
    #[test]
    fn commission_is_split_per_fee_under_the_terms_in_force_at_each_start() {
        use crate::partner::contract::{RevenueShare, ShareRate};
        use crate::settlement::terms::SettlementTerms;
        use chrono::TimeZone;
        use std::str::FromStr;
        let rate = |s: &str| ShareRate::new("r", rust_decimal::Decimal::from_str(s).unwrap());
        let m = |s: &str| Money::new(rust_decimal::Decimal::from_str(s).unwrap());
        let contract =
            RevenueShare::per_fee(ShareRate::ZERO, rate("0.1").unwrap(), ShareRate::ZERO);
        let switch = Utc.with_ymd_and_hms(2026, 3, 15, 16, 0, 0).unwrap();
        let terms = TermsSchedule::new(
            SettlementTerms::from_share(DateTime::<Utc>::MIN_UTC, contract),
            [SettlementTerms::from_share(
                switch,
                RevenueShare::per_fee(
                    rate("0.02").unwrap(),
                    rate("0.15").unwrap(),
                    rate("0.5").unwrap(),
                ),
            )],
        );
        let period_start = Utc.with_ymd_and_hms(2026, 2, 28, 16, 0, 0).unwrap();
        let figures =
            |id: &str, original: Option<&str>, started: DateTime<Utc>, fees: [&str; 3]| {
                let (e, s, i) = (m(fees[0]), m(fees[1]), m(fees[2]));
                CdrFigures {
                    cdr_id: CdrId::parse(id).unwrap(),
                    original: original.map(|o| CdrId::parse(o).unwrap()),
                    session_id: SessionId::parse("s").unwrap(),
                    partner_order_id: id.into(),
                    started_at: started,
                    stopped_at: started,
                    booked_at: started,
                    energy: Wh(1000),
                    electricity_fee: e,
                    service_fee: s,
                    idle_fee: i,
                    total: e + s + i,
                }
            };
        let before = switch - chrono::Duration::seconds(1);
        let a = StatementLine::new(
            figures("A", None, before, ["16.00", "12.35", "0.00"]),
            &terms,
            period_start,
        );
        // 10 % of 12.35 = 1.235 → 1.24; nothing of electricity.
        assert_eq!(a.commission_by_fee.electricity, m("0"));
        assert_eq!(a.commission_by_fee.service, m("1.24"));
        assert_eq!(a.commission, m("1.24"));
        assert_eq!(a.due_to_operator_by_fee.electricity, m("16.00"));
        assert_eq!(a.due_to_operator_by_fee.service, m("11.11"));
        assert_eq!(a.due_to_operator, m("27.11"));
        let b = StatementLine::new(
            figures("B", None, switch, ["20.50", "8.05", "3.00"]),
            &terms,
            period_start,
        );
        // 2 % of 20.50 = 0.41; 15 % of 8.05 = 1.2075 → 1.21; 50 % of 3.00 = 1.50.
        assert_eq!(b.commission_by_fee.electricity, m("0.41"));
        assert_eq!(b.commission_by_fee.service, m("1.21"));
        assert_eq!(b.commission_by_fee.idle, m("1.50"));
        assert_eq!(b.commission, m("3.12"));
        assert_eq!(b.due_to_operator_by_fee.electricity, m("20.09"));
        assert_eq!(b.due_to_operator_by_fee.service, m("6.84"));
        assert_eq!(b.due_to_operator_by_fee.idle, m("1.50"));
        assert_eq!(b.due_to_operator, m("28.43"));
        // A full credit of A, issued after the switch, still takes A's terms (its start).
        let credit = StatementLine::new(
            figures("CR-A", Some("A"), before, ["-16.00", "-12.35", "0.00"]),
            &terms,
            period_start,
        );
        assert_eq!(credit.commission, m("-1.24"));
        let totals: StatementTotals = [&a, &b, &credit].into_iter().collect();
        assert_eq!((totals.sessions, totals.credits), (2, 1));
        assert_eq!(totals.total, m("31.55"));
        assert_eq!(totals.commission, m("3.12"));
        assert_eq!(totals.due_to_operator, m("28.43"));
        assert_eq!(totals.commission_by_fee.service, m("1.21"));
        assert_eq!(totals.due_to_operator_by_fee.electricity, m("20.09"));
        assert_eq!(totals.due_to_operator_by_fee.service, m("6.84"));
        assert_eq!(totals.due_to_operator_by_fee.idle, m("1.50"));
    }

    #[test]
    fn state_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("open"), None);
    }
}
