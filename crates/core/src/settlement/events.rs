//! What settlement tells partners through the event system (`docs/design.md`, outbox): the
//! payloads of the `statement.*` events, and the cost breakdown a `session.completed` event
//! carries, taken from the session's CDR so that the event and the CDR can never disagree.
//!
//! One event per step a partner acts on, each written in the transaction of the change and
//! seen only by the statement's partner (production feed): `statement.issued` (closed, awaiting
//! the partner's report), `statement.reconciled` or `statement.disputed` (a report was
//! reconciled — `reported` lasts only inside that write, so it has no event of its own),
//! `statement.credit_issued` (a dispute resolution put a credit CDR on it, changing its totals),
//! `statement.confirmed` and `statement.settled`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{CostBreakdown, CostSegment, Currency};
use crate::ids::{PartnerId, StatementId};
use crate::money::Money;
use crate::settlement::cdr::{Cdr, CdrId};
use crate::settlement::reconcile::ReconciliationSummary;
use crate::settlement::statement::{Statement, StatementState, StatementTotals};

/// Which `statement.*` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementEventKind {
    /// `statement.issued`: the period is closed; the statement awaits the partner's report.
    Issued,
    /// `statement.reconciled`: the partner's report matched order by order.
    Reconciled,
    /// `statement.disputed`: the report has discrepancies; the operator resolves them.
    Disputed,
    /// `statement.credit_issued`: resolving a discrepancy put a credit CDR on the statement.
    CreditIssued,
    /// `statement.confirmed`: the operator confirmed the figures; payment is due.
    Confirmed,
    /// `statement.settled`: paid, with the payment reference.
    Settled,
}

impl StatementEventKind {
    pub const ALL: [StatementEventKind; 6] = [
        Self::Issued,
        Self::Reconciled,
        Self::Disputed,
        Self::CreditIssued,
        Self::Confirmed,
        Self::Settled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "statement.issued",
            Self::Reconciled => "statement.reconciled",
            Self::Disputed => "statement.disputed",
            Self::CreditIssued => "statement.credit_issued",
            Self::Confirmed => "statement.confirmed",
            Self::Settled => "statement.settled",
        }
    }
}

/// The credit CDR a `statement.credit_issued` event reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementCredit {
    pub cdr_id: CdrId,
    /// The CDR it corrects.
    pub original_cdr_id: CdrId,
    /// Its total (negative: a refund).
    pub total: Money,
    pub reason: String,
}

/// The payload of every `statement.*` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementEventData {
    pub statement_id: StatementId,
    pub partner_id: PartnerId,
    /// `2026-03` (see [`crate::settlement::period::StatementPeriod`]'s display).
    pub period: String,
    pub state: StatementState,
    pub totals: StatementTotals,
    /// The reconciliation's summary (counts per category), for `reconciled` and `disputed`.
    pub reconciliation: Option<ReconciliationSummary>,
    /// For `credit_issued`.
    pub credit: Option<StatementCredit>,
    pub payment_reference: Option<String>,
    pub at: DateTime<Utc>,
}

/// A statement event to write with the change that causes it. Serialized, it is its payload
/// alone (the kind is the event's type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementEvent {
    #[serde(skip)]
    pub kind: StatementEventKind,
    #[serde(flatten)]
    pub data: StatementEventData,
}

impl StatementEvent {
    pub fn new(
        kind: StatementEventKind,
        statement: &Statement,
        reconciliation: Option<ReconciliationSummary>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            data: StatementEventData {
                statement_id: statement.id.clone(),
                partner_id: statement.partner_id.clone(),
                period: statement.period.to_string(),
                state: statement.state,
                totals: statement.totals,
                reconciliation,
                credit: None,
                payment_reference: statement.payment_reference.clone(),
                at,
            },
        }
    }
}

impl From<&Cdr> for CostBreakdown {
    /// The cost a `session.completed` event carries: the CDR's lines and totals, unchanged.
    fn from(cdr: &Cdr) -> Self {
        CostBreakdown {
            segments: cdr
                .lines
                .iter()
                .map(|l| CostSegment {
                    start: l.start,
                    end: l.end,
                    label: l.label.map(|p| p.as_str().to_string()),
                    energy_wh: l.energy,
                    electricity_fee: l.electricity_fee,
                    service_fee: l.service_fee,
                })
                .collect(),
            electricity_fee: cdr.electricity_fee,
            service_fee: cdr.service_fee,
            idle_fee: cdr.idle_fee,
            total: cdr.total,
            currency: Currency::Cny,
        }
    }
}
