//! What settlement tells partners through the event system (`docs/design.md`, outbox): the
//! payloads of the `statement.*` events, and the cost breakdown a `session.completed` event
//! carries, taken from the session's CDR so that the event and the CDR can never disagree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{CostBreakdown, CostSegment, Currency};
use crate::ids::{PartnerId, StatementId};
use crate::settlement::cdr::Cdr;
use crate::settlement::reconcile::ReconciliationSummary;
use crate::settlement::statement::{Statement, StatementState, StatementTotals};

/// Which `statement.*` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatementEventKind {
    /// `statement.created`: the period is closed and the statement awaits the partner's report.
    #[serde(rename = "statement.created")]
    Created,
    /// `statement.reconciled`: the partner's report matched order by order.
    #[serde(rename = "statement.reconciled")]
    Reconciled,
    /// `statement.disputed`: the report has discrepancies; the operator resolves them.
    #[serde(rename = "statement.disputed")]
    Disputed,
    /// `statement.confirmed`: the operator confirmed the figures; payment is due.
    #[serde(rename = "statement.confirmed")]
    Confirmed,
    /// `statement.settled`: paid.
    #[serde(rename = "statement.settled")]
    Settled,
}

impl StatementEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "statement.created",
            Self::Reconciled => "statement.reconciled",
            Self::Disputed => "statement.disputed",
            Self::Confirmed => "statement.confirmed",
            Self::Settled => "statement.settled",
        }
    }
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
    /// The latest reconciliation's summary, for `reconciled` and `disputed`.
    pub reconciliation: Option<ReconciliationSummary>,
    pub payment_reference: Option<String>,
    pub at: DateTime<Utc>,
}

/// A statement event to write with the change that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEvent {
    pub kind: StatementEventKind,
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
