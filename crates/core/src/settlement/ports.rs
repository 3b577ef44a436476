//! The settlement store port: one method = one database transaction. Core decides every figure
//! and state (pure functions in this module's siblings); the store applies them atomically,
//! together with the audit entry and the event the change causes.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::error::StoreError;
use crate::ids::{PartnerId, StatementId};
use crate::money::Money;
use crate::operator::AuditEntry;
use crate::page::{Page, PageRequest};
use crate::settlement::cdr::{Cdr, CdrId};
use crate::settlement::dispute::ResolutionKind;
use crate::settlement::events::StatementEvent;
use crate::settlement::period::StatementPeriod;
use crate::settlement::reconcile::{Category, ReconciliationItem, ReconciliationSummary};
use crate::settlement::report::ReportFormat;
use crate::settlement::statement::{
    CdrFigures, Statement, StatementLine, StatementState, StatementTotals,
};
use crate::settlement::terms::{SettlementTerms, TermsSchedule};

/// Which CDRs a list returns, ordered by booking time (a session's stop, a credit's issue)
/// then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    pub partner_id: Option<PartnerId>,
    /// Booked at or after.
    pub from: Option<DateTime<Utc>>,
    /// Booked before.
    pub to: Option<DateTime<Utc>>,
}

/// Which statements a list returns, ordered by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementFilter {
    pub partner_id: Option<PartnerId>,
    pub state: Option<StatementState>,
}

/// Where a partner's statements stand, for deciding whether a period may be built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// The end of the partner's latest statement.
    pub last_end: Option<DateTime<Utc>>,
    /// The earliest booking time of a CDR on no statement, booked at or after `last_end` and
    /// before the time asked about: a period with CDRs that was never built.
    pub earliest_unbuilt: Option<DateTime<Utc>>,
}

/// A statement to create, or (while it is open) to gather again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementPlan {
    /// Used when the statement is new; an existing one keeps its id.
    pub id: StatementId,
    pub partner_id: PartnerId,
    pub period: StatementPeriod,
    pub time_zone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub terms: TermsSchedule,
    /// Stop gathering: the period has ended.
    pub close: bool,
    pub at: DateTime<Utc>,
}

/// A partner's report as stored, with its reconciliation summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    pub id: String,
    pub statement_id: StatementId,
    pub partner_id: PartnerId,
    pub received_at: DateTime<Utc>,
    pub format: ReportFormat,
    pub line_count: u64,
    pub total_energy: Wh,
    pub total_amount: Money,
    pub summary: ReconciliationSummary,
}

/// A report and its reconciliation, with the state it moves the statement to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    pub report: StoredReport,
    pub items: Vec<ReconciliationItem>,
    /// The statement's version as read; a concurrent change makes this a conflict on
    /// `statements_version_check`.
    pub expected_version: i64,
    pub new_state: StatementState,
    pub event: StatementEvent,
}

/// The operator's resolution of an item, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResolution {
    pub kind: ResolutionKind,
    pub reason: String,
    /// `operator:<id>`.
    pub resolved_by: String,
    pub resolved_at: DateTime<Utc>,
    pub credit_cdr_id: Option<CdrId>,
}

/// A reconciliation item with its resolution, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    #[serde(flatten)]
    pub item: ReconciliationItem,
    pub resolution: Option<ItemResolution>,
}

/// Which items a list returns, by `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFilter {
    pub category: Option<Category>,
    /// Only discrepancies without a resolution.
    pub unresolved: bool,
}

/// A resolution to write: the item's, the credit CDR it issues (put on the statement), and the
/// statement's new totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveItem {
    pub statement_id: StatementId,
    pub expected_version: i64,
    pub report_id: String,
    pub seq: u64,
    pub resolution: ItemResolution,
    pub credit: Option<Cdr>,
    pub totals: StatementTotals,
}

/// A change of a statement's state by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementChange {
    pub statement_id: StatementId,
    pub expected_version: i64,
    pub from: StatementState,
    pub to: StatementState,
    pub at: DateTime<Utc>,
    pub payment_reference: Option<String>,
    pub event: StatementEvent,
}

/// CDRs, terms, statements, reports and reconciliations.
#[async_trait]
pub trait SettlementStore: Send + Sync {
    async fn get_cdr(&self, id: &CdrId) -> Result<Cdr, StoreError>;

    /// Ordered by (booking time, id); the cursor is opaque to callers.
    async fn list_cdrs(
        &self,
        filter: &CdrFilter,
        page: &PageRequest,
    ) -> Result<Page<Cdr>, StoreError>;

    /// Writes CDRs made elsewhere (an import from a previous system, a benchmark), all or
    /// nothing. A session's CDR is otherwise written by the sessions store, in the transaction
    /// that completes the session.
    async fn import_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError>;

    /// The credit CDRs issued against `original`, oldest first.
    async fn credits_of(&self, original: &CdrId) -> Result<Vec<Cdr>, StoreError>;

    /// Writes a credit CDR on its own (it will be gathered by the period it is booked in).
    async fn insert_credit(&self, credit: &Cdr, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Adds terms for a partner (`settlement_terms_pkey` when terms start at that instant
    /// already).
    async fn put_terms(
        &self,
        partner: &PartnerId,
        terms: &SettlementTerms,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// The partner's explicit terms, oldest first.
    async fn list_terms(&self, partner: &PartnerId) -> Result<Vec<SettlementTerms>, StoreError>;

    /// See [`Backlog`].
    async fn backlog(
        &self,
        partner: &PartnerId,
        before: DateTime<Utc>,
    ) -> Result<Backlog, StoreError>;

    /// Creates the statement of `plan.period` for the partner, or gathers an open draft's CDRs
    /// again: every CDR of the partner booked before the period's end that no other statement
    /// holds. Totals are computed with core's [`StatementLine`]. A statement that is closed or
    /// past draft is `statements_closed_check`.
    async fn build_statement(
        &self,
        plan: &StatementPlan,
        event: Option<&StatementEvent>,
        audit: &AuditEntry,
    ) -> Result<Statement, StoreError>;

    async fn get_statement(&self, id: &StatementId) -> Result<Statement, StoreError>;

    /// The partner's statement of a period, if built.
    async fn find_statement(
        &self,
        partner: &PartnerId,
        period: &StatementPeriod,
    ) -> Result<Option<Statement>, StoreError>;

    async fn list_statements(
        &self,
        filter: &StatementFilter,
        page: &PageRequest,
    ) -> Result<Page<Statement>, StoreError>;

    /// Lines in the order their CDRs were written; the cursor is opaque. `page.limit` may go up
    /// to [`MAX_LINES_PAGE`] here (exports).
    async fn statement_lines(
        &self,
        id: &StatementId,
        page: &PageRequest,
    ) -> Result<Page<StatementLine>, StoreError>;

    /// Every CDR's figures on the statement, for reconciliation.
    async fn statement_figures(&self, id: &StatementId) -> Result<Vec<CdrFigures>, StoreError>;

    /// Of `order_ids`, those that sit on another statement of `partner`.
    async fn orders_elsewhere(
        &self,
        partner: &PartnerId,
        statement: &StatementId,
        order_ids: &[String],
    ) -> Result<HashSet<String>, StoreError>;

    /// Stores a report with its reconciliation and moves the statement on.
    async fn record_report(
        &self,
        record: &RecordReport,
        audit: &AuditEntry,
    ) -> Result<Statement, StoreError>;

    async fn get_report(&self, id: &str) -> Result<StoredReport, StoreError>;

    /// A statement's reports, newest first.
    async fn list_reports(&self, statement: &StatementId) -> Result<Vec<StoredReport>, StoreError>;

    /// Ordered by seq; the cursor is the last seq.
    async fn report_items(
        &self,
        report_id: &str,
        filter: &ItemFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredItem>, StoreError>;

    async fn get_item(&self, report_id: &str, seq: u64) -> Result<StoredItem, StoreError>;

    /// Discrepancies of the report without a resolution.
    async fn unresolved_count(&self, report_id: &str) -> Result<u64, StoreError>;

    /// Records a resolution (an item already resolved is `reconciliation_items_resolved_check`),
    /// writes its credit CDR onto the statement and the new totals.
    async fn resolve_item(
        &self,
        resolve: &ResolveItem,
        audit: &AuditEntry,
    ) -> Result<Statement, StoreError>;

    /// Confirms or settles.
    async fn change_statement(
        &self,
        change: &StatementChange,
        audit: &AuditEntry,
    ) -> Result<Statement, StoreError>;
}

/// The largest page [`SettlementStore::statement_lines`] returns (CSV exports read in chunks).
pub const MAX_LINES_PAGE: u32 = 5_000;
