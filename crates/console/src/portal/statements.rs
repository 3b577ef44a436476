//! `/portal/statements`: the partner's statements (one per settlement period), a statement's
//! lines and totals (what its users paid, its commission, what it owes the operator), the upload
//! of its settlement report as CSV — the format `POST /v1/statements/{id}/report` takes, read by
//! core's `settlement::report_csv` as the API reads it, and validated by core — and the
//! reconciliation of the latest report: counts per category and each order's differences.
//!
//! Every read and the upload go through core's `SettlementService` with the signed-in partner,
//! so another partner's statement is not found. A rejected report changes nothing; the page
//! lists the errors by line and field (the reasons are core's, in English, as the API gives
//! them), and the CSV stays in the form to be corrected.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::error::CoreError;
use openpile_core::settlement::ports::{ItemFilter, StatementFilter};
use openpile_core::settlement::reconcile::Category;
use openpile_core::settlement::report::{ReportError as LineError, ReportRejected};
use openpile_core::settlement::report_csv::csv_report;
use openpile_core::settlement::service::ReportError;
use openpile_core::settlement::statement::{Statement, StatementState};
use serde::Deserialize;
use serde_json::json;

use super::sessions::{kwh, money};
use super::{PartnerSession, partner_page};
use crate::auth::redirect;
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::{Messages, fill};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_opt_time, fmt_time, render, url_encode};
use crate::views::{Fact, core_error, page_after, picked};
use crate::{ConsoleState, audit};

/// Rows per page of the lists.
const PAGE: u32 = 50;

fn statement_state_label(s: StatementState, t: &'static Messages) -> &'static str {
    match s {
        StatementState::Draft => t.pt_statement_draft,
        StatementState::Reported => t.pt_statement_reported,
        StatementState::Reconciled => t.pt_statement_reconciled,
        StatementState::Disputed => t.pt_statement_disputed,
        StatementState::Confirmed => t.pt_statement_confirmed,
        StatementState::Settled => t.pt_statement_settled,
    }
}

fn category_label(c: Category, t: &'static Messages) -> &'static str {
    match c {
        Category::Matched => t.pt_cat_matched,
        Category::EnergyMismatch => t.pt_cat_energy_mismatch,
        Category::AmountMismatch => t.pt_cat_amount_mismatch,
        Category::MissingOnPartner => t.pt_cat_missing_on_partner,
        Category::MissingOnOperator => t.pt_cat_missing_on_operator,
        Category::Duplicate => t.pt_cat_duplicate,
    }
}

/// Whether the partner may (re)report: closed, and not yet confirmed by the operator.
fn accepts_report(st: &Statement) -> bool {
    st.closed_at.is_some() && !st.state.is_locked()
}

// ---- the list ----------------------------------------------------------------------------

struct StatementRow {
    id: String,
    period: String,
    state: &'static str,
    state_label: &'static str,
    sessions: u64,
    total: String,
    commission: String,
    due: String,
}

struct StateOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "portal_statements.html")]
struct StatementsPage {
    t: &'static Messages,
    chrome: Chrome,
    states: Vec<StateOption>,
    errors: FieldErrors,
    rows: Vec<StatementRow>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /portal/statements?state=…&after=…`
pub(crate) async fn statements(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let (_, chrome) = partner_page(&state, &session, "/portal/statements").await?;
    let mut errors = FieldErrors::default();
    let wanted = q.state.as_deref().unwrap_or("");
    let filter_state = picked(
        wanted,
        "state",
        t.pt_err_state,
        StatementState::parse,
        &mut errors,
    );
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = state
            .services()?
            .settlement
            .list_statements(
                &StatementFilter {
                    partner_id: Some(session.partner_id.clone()),
                    state: filter_state,
                },
                &page_after(PAGE, q.after.as_deref().unwrap_or_default()),
            )
            .await
            .map_err(core_error)?;
        let rows = page
            .items
            .iter()
            .map(|s| StatementRow {
                id: s.id.to_string(),
                period: s.period.to_string(),
                state: s.state.as_str(),
                state_label: statement_state_label(s.state, t),
                sessions: s.totals.sessions,
                total: money(s.totals.total),
                commission: money(s.totals.commission),
                due: money(s.totals.due_to_operator),
            })
            .collect();
        let next = page.next.map(|after| {
            format!(
                "/portal/statements?state={}&after={}",
                url_encode(wanted),
                url_encode(&after)
            )
        });
        (rows, next)
    };
    let status = errors.status();
    render(
        status,
        &StatementsPage {
            t,
            chrome,
            states: StatementState::ALL
                .iter()
                .map(|s| StateOption {
                    code: s.as_str(),
                    label: statement_state_label(*s, t),
                    selected: s.as_str() == wanted,
                })
                .collect(),
            errors,
            rows,
            next,
        },
    )
}

// ---- one statement -----------------------------------------------------------------------

struct LineRow {
    cdr_id: String,
    credit: bool,
    order: String,
    stopped_at: String,
    energy_kwh: String,
    total: String,
    commission: String,
    due: String,
    late: bool,
}

struct CategoryCount {
    code: &'static str,
    label: &'static str,
    count: u64,
    discrepancy: bool,
    selected: bool,
}

struct ItemRow {
    seq: u64,
    category: &'static str,
    category_label: &'static str,
    order: String,
    line: String,
    our_energy: String,
    their_energy: String,
    our_amount: String,
    their_amount: String,
    difference: String,
    resolved: bool,
}

struct Reconciliation {
    received_at: String,
    lines: u64,
    counts: Vec<CategoryCount>,
    our_amount: String,
    their_amount: String,
    difference: String,
    our_energy: String,
    their_energy: String,
    tolerance: String,
    items: Vec<ItemRow>,
    category: String,
    next: Option<String>,
}

/// A rejected report's error, as the page lists it.
struct ReportErrorRow {
    line: Option<u64>,
    field: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "portal_statement.html")]
struct StatementPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    period: String,
    state: &'static str,
    state_label: &'static str,
    facts: Vec<Fact>,
    totals: Vec<Fact>,
    lines: Vec<LineRow>,
    lines_next: Option<String>,
    can_report: bool,
    report_note: Option<&'static str>,
    csv: String,
    errors: FieldErrors,
    report_errors: Vec<ReportErrorRow>,
    report_error_count: usize,
    notice: Option<&'static str>,
    reconciliation: Option<Reconciliation>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct DetailQuery {
    /// The lines' page.
    #[serde(default)]
    after: Option<String>,
    /// The reconciliation items' category, and page.
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    items_after: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// What the upload form shows besides the statement.
#[derive(Default)]
struct UploadForm {
    csv: String,
    errors: FieldErrors,
    rejected: Option<ReportRejected>,
}

async fn detail_page(
    state: &ConsoleState,
    session: &PartnerSession,
    id: &str,
    q: &DetailQuery,
    form: UploadForm,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let settlement = &state.services()?.settlement;
    let partner = &session.partner_id;
    let (st, report) = settlement
        .statement_with_report(Some(partner), id)
        .await
        .map_err(core_error)?;
    let (_, chrome) =
        partner_page(state, session, &format!("/portal/statements/{}", st.id)).await?;
    let lines = settlement
        .statement_lines(
            Some(partner),
            id,
            &page_after(PAGE, q.after.as_deref().unwrap_or_default()),
        )
        .await
        .map_err(core_error)?;
    let category = match q.category.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            Category::parse(c)
                .ok_or_else(|| ConsoleError::BadRequest(format!("category {c:?}")))?,
        ),
        None => None,
    };
    let reconciliation = match &report {
        None => None,
        Some(r) => {
            let items = settlement
                .report_items(
                    Some(partner),
                    id,
                    &r.id,
                    &ItemFilter {
                        category,
                        unresolved: false,
                    },
                    &page_after(PAGE, q.items_after.as_deref().unwrap_or_default()),
                )
                .await
                .map_err(core_error)?;
            let s = &r.summary;
            let opt_kwh = |w: Option<openpile_core::energy::Wh>| w.map(kwh).unwrap_or_default();
            let opt_money =
                |m: Option<openpile_core::money::Money>| m.map(money).unwrap_or_default();
            let cat = category.map_or("", Category::as_str);
            Some(Reconciliation {
                received_at: fmt_time(state, r.received_at),
                lines: r.line_count,
                counts: Category::ALL
                    .iter()
                    .map(|c| CategoryCount {
                        code: c.as_str(),
                        label: category_label(*c, t),
                        count: s.count(*c),
                        discrepancy: c.is_discrepancy(),
                        selected: Some(*c) == category,
                    })
                    .collect(),
                our_amount: money(s.our_amount),
                their_amount: money(s.their_amount),
                difference: money(s.difference),
                our_energy: kwh(s.our_energy),
                their_energy: kwh(s.their_energy),
                tolerance: fill(
                    t.pt_tolerance,
                    format!(
                        "{} CNY / {} Wh",
                        money(s.tolerance.amount),
                        s.tolerance.energy.0
                    ),
                ),
                items: items
                    .items
                    .iter()
                    .map(|i| ItemRow {
                        seq: i.item.seq,
                        category: i.item.category.as_str(),
                        category_label: category_label(i.item.category, t),
                        order: i.item.order_id.clone().unwrap_or_default(),
                        line: i
                            .item
                            .report_line
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        our_energy: opt_kwh(i.item.our_energy),
                        their_energy: opt_kwh(i.item.their_energy),
                        our_amount: opt_money(i.item.our_amount),
                        their_amount: opt_money(i.item.their_amount),
                        difference: opt_money(i.item.amount_difference()),
                        resolved: i.resolution.is_some(),
                    })
                    .collect(),
                category: cat.to_owned(),
                next: items.next.map(|after| {
                    format!(
                        "/portal/statements/{}?category={cat}&items_after={}",
                        st.id,
                        url_encode(&after)
                    )
                }),
            })
        }
    };
    let can_report = accepts_report(&st);
    let report_note = if can_report {
        None
    } else if st.closed_at.is_none() {
        Some(t.pt_report_not_yet)
    } else {
        Some(t.pt_report_locked)
    };
    let notice = match q.done.as_deref() {
        Some("reported") => Some(match st.state {
            StatementState::Reconciled => t.pt_report_reconciled,
            _ => t.pt_report_disputed,
        }),
        _ => None,
    };
    let status = if form.errors.any() || form.rejected.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (report_errors, report_error_count) = match form.rejected {
        Some(r) => (
            r.errors
                .into_iter()
                .map(|e: LineError| ReportErrorRow {
                    line: e.line.filter(|n| *n > 0),
                    field: e.field,
                    reason: e.reason,
                })
                .collect(),
            r.count,
        ),
        None => (Vec::new(), 0),
    };
    let tot = &st.totals;
    render(
        status,
        &StatementPage {
            t,
            chrome,
            id: st.id.to_string(),
            period: st.period.to_string(),
            state: st.state.as_str(),
            state_label: statement_state_label(st.state, t),
            facts: vec![
                Fact::new(t.pt_period, format!("{} ({})", st.period, st.time_zone)),
                Fact::new(t.pt_closed_at, fmt_opt_time(state, st.closed_at, t)),
                Fact::new(t.pt_confirmed_at, fmt_opt_time(state, st.confirmed_at, t)),
                Fact::new(t.pt_settled_at, fmt_opt_time(state, st.settled_at, t)),
                Fact::new(
                    t.pt_payment_reference,
                    st.payment_reference.clone().unwrap_or_default(),
                ),
            ],
            totals: vec![
                Fact::new(
                    t.pt_sessions_count,
                    format!("{} (+{} {})", tot.sessions, tot.credits, t.pt_credit),
                ),
                Fact::new(t.pt_energy, format!("{} kWh", kwh(tot.energy))),
                Fact::new(
                    t.pt_electricity_fee,
                    format!("{} CNY", money(tot.electricity_fee)),
                ),
                Fact::new(t.pt_service_fee, format!("{} CNY", money(tot.service_fee))),
                Fact::new(t.pt_idle_fee, format!("{} CNY", money(tot.idle_fee))),
                Fact::new(t.pt_total, format!("{} CNY", money(tot.total))),
                Fact::new(t.pt_commission, format!("{} CNY", money(tot.commission))),
                Fact::new(t.pt_due, format!("{} CNY", money(tot.due_to_operator))),
            ],
            lines: lines
                .items
                .iter()
                .map(|l| LineRow {
                    cdr_id: l.cdr.cdr_id.to_string(),
                    credit: l.cdr.original.is_some(),
                    order: l.cdr.partner_order_id.clone(),
                    stopped_at: fmt_time(state, l.cdr.stopped_at),
                    energy_kwh: kwh(l.cdr.energy),
                    total: money(l.cdr.total),
                    commission: money(l.commission),
                    due: money(l.due_to_operator),
                    late: l.late,
                })
                .collect(),
            lines_next: lines
                .next
                .map(|after| format!("/portal/statements/{}?after={}", st.id, url_encode(&after))),
            can_report,
            report_note,
            csv: form.csv,
            errors: form.errors,
            report_errors,
            report_error_count,
            notice,
            reconciliation,
        },
    )
}

/// `GET /portal/statements/{id}`
pub(crate) async fn statement(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    detail_page(&state, &session, &id, &q, UploadForm::default()).await
}

/// `POST /portal/statements/{id}/report`: the settlement report as CSV (the file's text, put
/// into the form by the page's script, or pasted).
pub(crate) async fn upload_report(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let t = session.t();
    let settlement = state.services()?.settlement.clone();
    // Another partner's statement is not found before anything else is looked at.
    let st = settlement
        .statement(Some(&session.partner_id), &id)
        .await
        .map_err(core_error)?;
    let guard = claim_or_return!(&state.nonces, &form);
    let csv = form.get("csv").to_owned();
    let q = DetailQuery::default();
    let again = |errors: FieldErrors, rejected: Option<ReportRejected>, csv: String| UploadForm {
        csv,
        errors,
        rejected,
    };
    if csv.trim().is_empty() {
        let mut errors = FieldErrors::default();
        errors.add("csv", t.pt_err_csv_empty);
        return detail_page(&state, &session, &id, &q, again(errors, None, csv)).await;
    }
    let raw = match csv_report(&csv) {
        Ok(raw) => raw,
        Err(r) => {
            let mut errors = FieldErrors::default();
            errors.add("csv", t.pt_err_csv_rejected);
            return detail_page(&state, &session, &id, &q, again(errors, Some(r), csv)).await;
        }
    };
    match settlement
        .submit_report(&session.partner_id, &id, raw)
        .await
    {
        Ok(outcome) => {
            audit::record(
                &state,
                session.actor(),
                "statement.report_upload",
                format!("statement:{}", st.id),
                json!({
                    "report_id": outcome.report.id,
                    "lines": outcome.report.line_count,
                    "state": outcome.statement.state.as_str(),
                    "via": "portal",
                }),
            )
            .await?;
            let to = format!("/portal/statements/{}?done=reported", st.id);
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(ReportError::Rejected(r)) => {
            let mut errors = FieldErrors::default();
            errors.add("csv", t.pt_err_csv_rejected);
            detail_page(&state, &session, &id, &q, again(errors, Some(r), csv)).await
        }
        Err(ReportError::PeriodNotClosed { .. }) => {
            let mut errors = FieldErrors::default();
            errors.add("csv", t.pt_report_not_yet);
            detail_page(&state, &session, &id, &q, again(errors, None, csv)).await
        }
        Err(ReportError::Core(CoreError::InvalidState(_) | CoreError::Conflict(_))) => {
            let mut errors = FieldErrors::default();
            errors.add("csv", t.pt_report_locked);
            detail_page(&state, &session, &id, &q, again(errors, None, csv)).await
        }
        Err(ReportError::Core(e)) => Err(core_error(e)),
    }
}
