//! The settlement use cases, for the partner face (CDRs, statements, reports) and the operator
//! face (build and close periods, resolve disputes, confirm, settle, credit CDRs, terms). Every
//! figure and state comes from the pure functions of this module's siblings; this service loads
//! what they need through the ports, checks who may do what, and hands the outcome to the store
//! with its audit entry and event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::clock::Clock;
use crate::error::{CoreError, StoreError, TransitionError, ValidationError};
use crate::ids::{IdGenerator, PartnerId, StatementId};
use crate::money::Money;
use crate::operator::AuditEntry;
use crate::page::{Page, PageRequest};
use crate::partner::contract::{Contract, SettlementCycle};
use crate::partner::ports::PartnerStore;
use crate::settlement::cdr::{Cdr, CdrId, CreditRequest};
use crate::settlement::dispute::{self, Effect, Resolution};
use crate::settlement::events::{StatementEvent, StatementEventKind};
use crate::settlement::period::StatementPeriod;
use crate::settlement::ports::{
    CdrFilter, ItemFilter, ItemResolution, RecordReport, ResolveItem, SettlementStore,
    StatementChange, StatementFilter, StatementPlan, StoredItem, StoredReport,
};
use crate::settlement::reconcile::{Tolerance, orders_of, reconcile};
use crate::settlement::report::{RawReport, ReportRejected};
use crate::settlement::statement::{
    CdrFigures, Statement, StatementEvent as Transition, StatementLine, StatementState,
};
use crate::settlement::terms::{SettlementTerms, TermsSchedule};

/// Settings of settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementConfig {
    /// The operator's zone: statement periods are its local days, weeks or months.
    pub time_zone: Tz,
    /// How far a partner's figures may differ from ours and still match.
    pub tolerance: Tolerance,
}

impl Default for SettlementConfig {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Asia::Shanghai,
            tolerance: Tolerance::default(),
        }
    }
}

/// Why a partner's report was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Lines or totals are wrong; nothing was stored.
    #[error(transparent)]
    Rejected(ReportRejected),
    /// The statement still gathers CDRs.
    #[error(
        "statement {statement_id} covers {period}, which is not closed yet (it ends at {ends_at}); \
         report once the operator has closed it"
    )]
    PeriodNotClosed {
        statement_id: StatementId,
        period: String,
        ends_at: DateTime<Utc>,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        Self::Core(e.into())
    }
}

/// A report accepted and reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    pub statement: Statement,
    pub report: StoredReport,
}

/// The settlement use cases.
pub struct SettlementService {
    store: Arc<dyn SettlementStore>,
    partners: Arc<dyn PartnerStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: SettlementConfig,
}

fn not_found(entity: &'static str, id: &str) -> CoreError {
    CoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

/// Maps a store's `NotFound` to the entity asked for.
fn or_not_found<'a>(
    entity: &'static str,
    id: &'a str,
) -> impl FnOnce(StoreError) -> CoreError + 'a {
    move |e| match e {
        StoreError::NotFound => not_found(entity, id),
        e => e.into(),
    }
}

impl SettlementService {
    pub fn new(
        store: Arc<dyn SettlementStore>,
        partners: Arc<dyn PartnerStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        config: SettlementConfig,
    ) -> Self {
        Self {
            store,
            partners,
            clock,
            ids,
            config,
        }
    }

    pub fn config(&self) -> &SettlementConfig {
        &self.config
    }

    fn audit(&self, operator: &str, action: &str, object: String, details: String) -> AuditEntry {
        AuditEntry {
            id: self.ids.next(),
            at: self.clock.now(),
            actor: format!("operator:{operator}"),
            action: action.to_string(),
            object,
            details,
        }
    }

    // ----- partner side -------------------------------------------------------------------

    /// The partner's CDRs booked in [from, to).
    pub async fn partner_cdrs(
        &self,
        partner: &PartnerId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Cdr>, CoreError> {
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            return Err(ValidationError::new("to", "must not be before from").into());
        }
        let filter = CdrFilter {
            partner_id: Some(partner.clone()),
            from,
            to,
        };
        Ok(self.store.list_cdrs(&filter, page).await?)
    }

    /// Every CDR booked in [from, to), whoever's (operators).
    pub async fn all_cdrs(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Cdr>, CoreError> {
        let filter = CdrFilter {
            partner_id: None,
            from,
            to,
        };
        Ok(self.store.list_cdrs(&filter, page).await?)
    }

    /// One CDR; another partner's is not found.
    pub async fn cdr(&self, partner: Option<&PartnerId>, id: &str) -> Result<Cdr, CoreError> {
        let cdr_id = CdrId::parse(id).map_err(|_| not_found("cdr", id))?;
        let cdr = self
            .store
            .get_cdr(&cdr_id)
            .await
            .map_err(or_not_found("cdr", id))?;
        if partner.is_some_and(|p| cdr.partner_id.as_ref() != Some(p)) {
            return Err(not_found("cdr", id));
        }
        Ok(cdr)
    }

    pub async fn list_statements(
        &self,
        filter: &StatementFilter,
        page: &PageRequest,
    ) -> Result<Page<Statement>, CoreError> {
        Ok(self.store.list_statements(filter, page).await?)
    }

    /// One statement; for a partner, another partner's is not found.
    pub async fn statement(
        &self,
        partner: Option<&PartnerId>,
        id: &str,
    ) -> Result<Statement, CoreError> {
        let sid = StatementId::parse(id).map_err(|_| not_found("statement", id))?;
        let st = self
            .store
            .get_statement(&sid)
            .await
            .map_err(or_not_found("statement", id))?;
        if partner.is_some_and(|p| *p != st.partner_id) {
            return Err(not_found("statement", id));
        }
        Ok(st)
    }

    /// A statement with its latest report.
    pub async fn statement_with_report(
        &self,
        partner: Option<&PartnerId>,
        id: &str,
    ) -> Result<(Statement, Option<StoredReport>), CoreError> {
        let st = self.statement(partner, id).await?;
        let report = match &st.latest_report_id {
            Some(r) => Some(self.store.get_report(r).await?),
            None => None,
        };
        Ok((st, report))
    }

    pub async fn statement_lines(
        &self,
        partner: Option<&PartnerId>,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<StatementLine>, CoreError> {
        let st = self.statement(partner, id).await?;
        Ok(self.store.statement_lines(&st.id, page).await?)
    }

    pub async fn reports(
        &self,
        partner: Option<&PartnerId>,
        id: &str,
    ) -> Result<Vec<StoredReport>, CoreError> {
        let st = self.statement(partner, id).await?;
        Ok(self.store.list_reports(&st.id).await?)
    }

    /// The items of a statement's report (`report_id` must be one of the statement's).
    pub async fn report_items(
        &self,
        partner: Option<&PartnerId>,
        statement_id: &str,
        report_id: &str,
        filter: &ItemFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredItem>, CoreError> {
        let st = self.statement(partner, statement_id).await?;
        let report = self
            .store
            .get_report(report_id)
            .await
            .map_err(or_not_found("report", report_id))?;
        if report.statement_id != st.id {
            return Err(not_found("report", report_id));
        }
        Ok(self.store.report_items(report_id, filter, page).await?)
    }

    /// Validates a partner's report, reconciles it with the statement and stores both; the
    /// statement becomes reconciled or disputed. Anything wrong and nothing is stored.
    pub async fn submit_report(
        &self,
        partner: &PartnerId,
        statement_id: &str,
        raw: RawReport,
    ) -> Result<ReportOutcome, ReportError> {
        let st = self.statement(Some(partner), statement_id).await?;
        let reported = st
            .state
            .apply(Transition::Report)
            .map_err(CoreError::from)?;
        if st.closed_at.is_none() {
            return Err(ReportError::PeriodNotClosed {
                statement_id: st.id.clone(),
                period: st.period.to_string(),
                ends_at: st.ends_at,
            });
        }
        let report = raw.validate().map_err(ReportError::Rejected)?;
        let figures = self.store.statement_figures(&st.id).await?;
        let ours = orders_of(&figures);
        let ours_ids: std::collections::HashSet<&str> =
            ours.iter().map(|o| o.order_id.as_str()).collect();
        let unknown: Vec<String> = report
            .lines
            .iter()
            .filter(|l| !ours_ids.contains(l.order_id.as_str()))
            .map(|l| l.order_id.clone())
            .collect();
        let elsewhere = if unknown.is_empty() {
            Default::default()
        } else {
            self.store
                .orders_elsewhere(partner, &st.id, &unknown)
                .await?
        };
        let rec = reconcile(&ours, &report, &elsewhere, self.config.tolerance);
        let (outcome, kind) = if rec.summary.discrepancies() == 0 {
            (Transition::AllMatched, StatementEventKind::Reconciled)
        } else {
            (Transition::DiscrepanciesFound, StatementEventKind::Disputed)
        };
        let new_state = reported.apply(outcome).map_err(CoreError::from)?;
        let now = self.clock.now();
        let stored = StoredReport {
            id: self.ids.next(),
            statement_id: st.id.clone(),
            partner_id: partner.clone(),
            received_at: now,
            format: report.format,
            line_count: report.lines.len() as u64,
            total_energy: report.total_energy,
            total_amount: report.total_amount,
            summary: rec.summary.clone(),
        };
        let mut after = st.clone();
        after.state = new_state;
        let record = RecordReport {
            report: stored.clone(),
            items: rec.items,
            expected_version: st.version,
            new_state,
            event: StatementEvent::new(kind, &after, Some(rec.summary), now),
        };
        let audit = AuditEntry {
            id: self.ids.next(),
            at: now,
            actor: format!("partner:{partner}"),
            action: "statement.report".into(),
            object: format!("statement:{}", st.id),
            details: format!(
                "{{\"report_id\":\"{}\",\"lines\":{},\"state\":\"{}\"}}",
                stored.id,
                stored.line_count,
                new_state.as_str()
            ),
        };
        let statement = self.store.record_report(&record, &audit).await?;
        Ok(ReportOutcome {
            statement,
            report: stored,
        })
    }

    // ----- operator side ------------------------------------------------------------------

    async fn contract(&self, partner: &PartnerId) -> Result<Contract, CoreError> {
        let p = self
            .partners
            .get_partner(partner)
            .await
            .map_err(or_not_found("partner", partner.as_str()))?;
        p.contract.ok_or_else(|| {
            ValidationError::new(
                "partner_id",
                format!("partner {partner} has no contract (not approved)"),
            )
            .into()
        })
    }

    async fn terms(
        &self,
        partner: &PartnerId,
        contract: &Contract,
    ) -> Result<TermsSchedule, CoreError> {
        let explicit = self.store.list_terms(partner).await?;
        Ok(TermsSchedule::new(
            SettlementTerms::from_contract(contract),
            explicit,
        ))
    }

    /// The settlement cycle of a partner (monthly unless the contract says otherwise).
    pub async fn cycle(&self, partner: &PartnerId) -> Result<SettlementCycle, CoreError> {
        Ok(self.contract(partner).await?.settlement_cycle)
    }

    /// Builds (or, while open, gathers again) the partner's statement for the period labelled
    /// `period` (`2026-03`; a date for daily and weekly cycles), closing it when `close` is set.
    pub async fn build(
        &self,
        operator: &str,
        partner: &PartnerId,
        period: &str,
        close: bool,
    ) -> Result<Statement, CoreError> {
        let contract = self.contract(partner).await?;
        let period = StatementPeriod::parse(contract.settlement_cycle, period)?;
        self.build_period(operator, partner, &contract, period, close)
            .await
    }

    /// Closes a statement: gathers its CDRs a last time and opens it to the partner's report.
    pub async fn close(&self, operator: &str, id: &str) -> Result<Statement, CoreError> {
        let st = self.statement(None, id).await?;
        let contract = self.contract(&st.partner_id).await?;
        self.build_period(operator, &st.partner_id, &contract, st.period, true)
            .await
    }

    async fn build_period(
        &self,
        operator: &str,
        partner: &PartnerId,
        contract: &Contract,
        period: StatementPeriod,
        close: bool,
    ) -> Result<Statement, CoreError> {
        let tz = self.config.time_zone;
        let now = self.clock.now();
        let (starts_at, ends_at) = (period.starts_at(tz), period.ends_at(tz));
        if starts_at > now {
            return Err(ValidationError::new(
                "period",
                format!("{period} has not begun (it starts at {starts_at})"),
            )
            .into());
        }
        if close && ends_at > now {
            return Err(CoreError::Conflict(format!(
                "{period} ends at {ends_at}; it cannot be closed before"
            )));
        }
        let existing = self.store.find_statement(partner, &period).await?;
        if let Some(st) = &existing
            && (st.closed_at.is_some() || st.state != StatementState::Draft)
        {
            return Err(CoreError::Conflict(format!(
                "statement {} for {period} is closed ({})",
                st.id,
                st.state.as_str()
            )));
        }
        if existing.is_none() {
            let backlog = self.store.backlog(partner, starts_at).await?;
            if let Some(last_end) = backlog.last_end
                && last_end > starts_at
            {
                return Err(CoreError::Conflict(format!(
                    "{period} begins before the end of the partner's latest statement ({last_end})"
                )));
            }
            if let Some(t) = backlog.earliest_unbuilt {
                let unbuilt = StatementPeriod::at(period.cycle, tz, t);
                return Err(CoreError::Conflict(format!(
                    "CDRs booked from {t} (period {unbuilt}) are on no statement; build {unbuilt} first"
                )));
            }
        }
        let terms = self.terms(partner, contract).await?;
        let id = match &existing {
            Some(st) => st.id.clone(),
            None => StatementId::parse(self.ids.next())?,
        };
        let plan = StatementPlan {
            id: id.clone(),
            partner_id: partner.clone(),
            period,
            time_zone: tz.name().to_string(),
            starts_at,
            ends_at,
            terms,
            close,
            at: now,
        };
        let action = if close {
            "statement.close"
        } else {
            "statement.build"
        };
        let audit = self.audit(
            operator,
            action,
            format!("statement:{id}"),
            format!("{{\"partner_id\":\"{partner}\",\"period\":\"{period}\"}}"),
        );
        // Closing opens the statement to the partner's report: `statement.issued`. Its figures
        // are the ones gathered, which only the store knows; it fills them in.
        let event = close.then(|| placeholder_event(StatementEventKind::Issued, &plan));
        let st = self
            .store
            .build_statement(&plan, event.as_ref(), &audit)
            .await?;
        Ok(st)
    }

    /// Confirms a statement's figures: every discrepancy of its latest report must be resolved.
    pub async fn confirm(&self, operator: &str, id: &str) -> Result<Statement, CoreError> {
        let st = self.statement(None, id).await?;
        let to = st.state.apply(Transition::Confirm)?;
        if let Some(report) = &st.latest_report_id {
            let open = self.store.unresolved_count(report).await?;
            if open > 0 {
                return Err(CoreError::Conflict(format!(
                    "{open} discrepancies of report {report} are unresolved"
                )));
            }
        }
        self.change(operator, st, to, None, StatementEventKind::Confirmed)
            .await
    }

    /// Records the payment of a confirmed statement.
    pub async fn settle(
        &self,
        operator: &str,
        id: &str,
        payment_reference: &str,
    ) -> Result<Statement, CoreError> {
        let reference = payment_reference.trim();
        if reference.is_empty() || reference.chars().count() > 100 {
            return Err(
                ValidationError::new("payment_reference", "must be 1 to 100 characters").into(),
            );
        }
        let st = self.statement(None, id).await?;
        let to = st.state.apply(Transition::Settle)?;
        self.change(
            operator,
            st,
            to,
            Some(reference.to_string()),
            StatementEventKind::Settled,
        )
        .await
    }

    async fn change(
        &self,
        operator: &str,
        st: Statement,
        to: StatementState,
        payment_reference: Option<String>,
        kind: StatementEventKind,
    ) -> Result<Statement, CoreError> {
        let now = self.clock.now();
        let mut after = st.clone();
        after.state = to;
        after.payment_reference = payment_reference.clone().or(after.payment_reference);
        let change = StatementChange {
            statement_id: st.id.clone(),
            expected_version: st.version,
            from: st.state,
            to,
            at: now,
            payment_reference: payment_reference.clone(),
            event: StatementEvent::new(kind, &after, None, now),
        };
        let details = match &payment_reference {
            Some(r) => format!(
                "{{\"from\":\"{}\",\"to\":\"{}\",\"payment_reference\":{}}}",
                st.state.as_str(),
                to.as_str(),
                json_string(r)
            ),
            None => format!(
                "{{\"from\":\"{}\",\"to\":\"{}\"}}",
                st.state.as_str(),
                to.as_str()
            ),
        };
        let audit = self.audit(
            operator,
            &format!("statement.{}", to.as_str()),
            format!("statement:{}", st.id),
            details,
        );
        Ok(self.store.change_statement(&change, &audit).await?)
    }

    /// Resolves item `seq` of the statement's latest report.
    pub async fn resolve(
        &self,
        operator: &str,
        id: &str,
        seq: u64,
        resolution: Resolution,
    ) -> Result<Statement, CoreError> {
        let st = self.statement(None, id).await?;
        if st.state != StatementState::Disputed {
            return Err(TransitionError {
                entity: "statement",
                from: st.state.as_str(),
                event: "resolve",
            }
            .into());
        }
        let report = st
            .latest_report_id
            .clone()
            .ok_or_else(|| CoreError::Conflict("the statement has no report".into()))?;
        let item = self
            .store
            .get_item(&report, seq)
            .await
            .map_err(or_not_found("reconciliation item", &seq.to_string()))?;
        if item.resolution.is_some() {
            return Err(CoreError::Conflict(format!(
                "item {seq} of report {report} is resolved already"
            )));
        }
        let now = self.clock.now();
        let effect = dispute::plan(&item.item, &resolution)?;
        let issued_by = format!("operator:{operator}");
        let (credit, totals) = match effect {
            Effect::Record => (None, st.totals),
            Effect::Credit { original, amount } => {
                let credit = self
                    .make_credit(&original, Some(amount), &resolution.reason, &issued_by, now)
                    .await?;
                let mut totals = st.totals;
                totals.add(&StatementLine::new(
                    CdrFigures::from(&credit),
                    &st.terms,
                    st.starts_at,
                ));
                (Some(credit), totals)
            }
        };
        let resolve = ResolveItem {
            statement_id: st.id.clone(),
            expected_version: st.version,
            report_id: report.clone(),
            seq,
            resolution: ItemResolution {
                kind: resolution.kind,
                reason: resolution.reason.trim().to_string(),
                resolved_by: issued_by,
                resolved_at: now,
                credit_cdr_id: credit.as_ref().map(|c| c.id.clone()),
            },
            credit,
            totals,
        };
        let audit = self.audit(
            operator,
            "statement.resolve",
            format!("statement:{}", st.id),
            format!(
                "{{\"report_id\":\"{report}\",\"seq\":{seq},\"resolution\":\"{}\",\"credit_cdr_id\":{},\"reason\":{}}}",
                resolution.kind.as_str(),
                resolve
                    .resolution
                    .credit_cdr_id
                    .as_ref()
                    .map_or("null".to_string(), |c| json_string(c.as_str())),
                json_string(&resolve.resolution.reason)
            ),
        );
        Ok(self.store.resolve_item(&resolve, &audit).await?)
    }

    async fn make_credit(
        &self,
        original: &CdrId,
        amount: Option<Money>,
        reason: &str,
        issued_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Cdr, CoreError> {
        let cdr = self
            .store
            .get_cdr(original)
            .await
            .map_err(or_not_found("cdr", original.as_str()))?;
        let prior = self.store.credits_of(original).await?;
        let unique: String = self.ids.next().chars().filter(|c| *c != '-').collect();
        Ok(cdr.credit(
            &prior,
            CreditRequest {
                id: CdrId::for_credit(&unique)?,
                amount,
                reason: reason.to_string(),
                issued_by: issued_by.to_string(),
                at,
            },
        )?)
    }

    /// Issues a credit CDR against `cdr_id` outside any dispute: it is booked now and lands on
    /// the statement of the current period. Without an amount it reverses the CDR entirely.
    pub async fn issue_credit(
        &self,
        operator: &str,
        cdr_id: &str,
        amount: Option<Money>,
        reason: &str,
    ) -> Result<Cdr, CoreError> {
        let original = CdrId::parse(cdr_id).map_err(|_| not_found("cdr", cdr_id))?;
        let now = self.clock.now();
        let credit = self
            .make_credit(
                &original,
                amount,
                reason,
                &format!("operator:{operator}"),
                now,
            )
            .await?;
        let audit = self.audit(
            operator,
            "cdr.credit",
            format!("cdr:{}", credit.id),
            format!(
                "{{\"original\":\"{original}\",\"total\":\"{}\",\"reason\":{}}}",
                credit.total.amount(),
                json_string(reason.trim())
            ),
        );
        self.store.insert_credit(&credit, &audit).await?;
        Ok(credit)
    }

    /// Schedules revenue-share terms for a partner from `terms.effective_from` on, which must
    /// not be in the past (nor before the end of its latest statement): sessions that started
    /// before keep the terms they started under.
    pub async fn put_terms(
        &self,
        operator: &str,
        partner: &PartnerId,
        terms: SettlementTerms,
    ) -> Result<TermsSchedule, CoreError> {
        let contract = self.contract(partner).await?;
        let now = self.clock.now();
        // Terms are scheduled, never backdated: a session is settled under the terms in force
        // when it started, and that must not change after the fact.
        if terms.effective_from < now {
            return Err(ValidationError::new(
                "effective_from",
                format!("must not be in the past (now is {})", now.to_rfc3339()),
            )
            .into());
        }
        let backlog = self.store.backlog(partner, now).await?;
        if let Some(last_end) = backlog.last_end
            && terms.effective_from < last_end
        {
            return Err(ValidationError::new(
                "effective_from",
                format!("must not be before the end of the latest statement ({last_end})"),
            )
            .into());
        }
        let audit = self.audit(
            operator,
            "settlement_terms.put",
            format!("partner:{partner}"),
            format!(
                "{{\"effective_from\":\"{}\",\"electricity\":\"{}\",\"service\":\"{}\",\"idle\":\"{}\"}}",
                terms.effective_from.to_rfc3339(),
                terms.partner_share_of_electricity.value(),
                terms.partner_share_of_service.value(),
                terms.partner_share_of_idle.value()
            ),
        );
        self.store.put_terms(partner, &terms, &audit).await?;
        self.terms(partner, &contract).await
    }

    /// The partner's terms over time (the contract's default first).
    pub async fn terms_of(&self, partner: &PartnerId) -> Result<TermsSchedule, CoreError> {
        let contract = self.contract(partner).await?;
        self.terms(partner, &contract).await
    }
}

/// The `statement.issued` event before the store knows the totals it gathers; the store fills
/// in `totals` and `state` when it writes it.
fn placeholder_event(kind: StatementEventKind, plan: &StatementPlan) -> StatementEvent {
    StatementEvent {
        kind,
        data: crate::settlement::events::StatementEventData {
            statement_id: plan.id.clone(),
            partner_id: plan.partner_id.clone(),
            period: plan.period.to_string(),
            state: StatementState::Draft,
            totals: Default::default(),
            reconciliation: None,
            credit: None,
            payment_reference: None,
            at: plan.at,
        },
    }
}

/// A JSON string literal for audit details (which are JSON text).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
