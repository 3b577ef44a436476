//! Statements: one per partner per period, gathering its CDRs and credit CDRs, with a line per
//! CDR and totals that are the sums of the lines. And the statement's lifecycle, a pure state
//! machine: draft → reported → reconciled | disputed → confirmed → settled.
//!
//! Each line's figures are the CDR's (already rounded) plus the partner's commission under the
//! terms in force when the session started — one rounding per line, by [`Money::round`] — and
//! the amount due to the operator, the rest. So every figure on a statement can be recomputed
//! from its CDRs and terms, and the totals always add up.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::error::TransitionError;
use crate::ids::{PartnerId, SessionId, StatementId};
use crate::money::Money;
use crate::settlement::cdr::{Cdr, CdrId, CdrKind};
use crate::settlement::period::StatementPeriod;
use crate::settlement::terms::TermsSchedule;

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
    /// The partner's commission on this CDR.
    pub commission: Money,
    /// `total − commission`: what the partner owes the operator for this CDR.
    pub due_to_operator: Money,
    /// Booked before the period began: it arrived after an earlier statement was closed.
    pub late: bool,
}

impl StatementLine {
    /// Prices a CDR's line under the terms in force when its session started.
    pub fn new(cdr: CdrFigures, terms: &TermsSchedule, period_starts_at: DateTime<Utc>) -> Self {
        let commission =
            terms
                .at(cdr.started_at)
                .commission(cdr.electricity_fee, cdr.service_fee, cdr.idle_fee);
        Self {
            due_to_operator: cdr.total - commission,
            late: cdr.booked_at < period_starts_at,
            cdr,
            commission,
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
}

impl StatementTotals {
    pub fn add(&mut self, line: &StatementLine) {
        if line.cdr.original.is_some() {
            self.credits += 1;
        } else {
            self.sessions += 1;
        }
        self.energy = self.energy + line.cdr.energy;
        self.electricity_fee = self.electricity_fee + line.cdr.electricity_fee;
        self.service_fee = self.service_fee + line.cdr.service_fee;
        self.idle_fee = self.idle_fee + line.cdr.idle_fee;
        self.total = self.total + line.cdr.total;
        self.commission = self.commission + line.commission;
        self.due_to_operator = self.due_to_operator + line.due_to_operator;
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

    #[test]
    fn state_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("open"), None);
    }
}
