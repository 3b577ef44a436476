//! Statements: the list (by partner and state), one statement with its totals, lines, the
//! partner's reports and the reconciliation of the latest one (counts per category and every
//! item with our and their figures and the difference), and the finance actions: resolve a
//! discrepancy (accept ours, accept theirs, or credit an amount, each with a reason), confirm,
//! mark settled with the payment reference; and the CSV export of the lines.
//!
//! Every action goes through the settlement service exactly as the admin API does
//! (`crates/admin/src/statements.rs`): the service checks the state machine and writes the
//! audit entry in the same transaction as the change. Admin and finance only
//! (`Permission::ManageStatements`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse as _, Response};
use openpile_core::ids::PartnerId;
use openpile_core::page::PageRequest;
use openpile_core::settlement::dispute::{Resolution, ResolutionKind};
use openpile_core::settlement::ports::{ItemFilter, StatementFilter, StoredItem};
use openpile_core::settlement::reconcile::Category;
use openpile_core::settlement::statement::{Statement, StatementLine, StatementState};
use serde::Deserialize;

use crate::ConsoleState;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_opt_time, fmt_time, render, url_encode};
use crate::views::{
    Choice, Fact, all_and, cny, core_error, form_error, kwh, next_href, page_after,
    partner_choices, picked, positive_amount, reason,
};

const PAGE_SIZE: u32 = 50;

pub(crate) fn state_label(s: StatementState, t: &'static Messages) -> &'static str {
    match s {
        StatementState::Draft => t.ops_st_draft,
        StatementState::Reported => t.ops_st_reported,
        StatementState::Reconciled => t.ops_st_reconciled,
        StatementState::Disputed => t.ops_st_disputed,
        StatementState::Confirmed => t.ops_st_confirmed,
        StatementState::Settled => t.ops_st_settled,
    }
}

fn category_label(c: Category, t: &'static Messages) -> &'static str {
    match c {
        Category::Matched => t.ops_cat_matched,
        Category::EnergyMismatch => t.ops_cat_energy,
        Category::AmountMismatch => t.ops_cat_amount,
        Category::MissingOnPartner => t.ops_cat_missing_partner,
        Category::MissingOnOperator => t.ops_cat_missing_operator,
        Category::Duplicate => t.ops_cat_duplicate,
    }
}

fn resolution_label(k: ResolutionKind, t: &'static Messages) -> &'static str {
    match k {
        ResolutionKind::AcceptOurs => t.ops_res_ours,
        ResolutionKind::AcceptTheirs => t.ops_res_theirs,
        ResolutionKind::Credit => t.ops_res_credit,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    partner: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    after: String,
}

struct Row {
    id: String,
    partner: String,
    period: String,
    state: &'static str,
    state_label: &'static str,
    sessions: u64,
    energy: String,
    total: String,
    due: String,
}

#[derive(Template)]
#[template(path = "ops_statements.html")]
struct ListPage {
    t: &'static Messages,
    chrome: Chrome,
    q: ListQuery,
    partners: Vec<Choice>,
    states: Vec<Choice>,
    errors: FieldErrors,
    rows: Vec<Row>,
    next: Option<String>,
}

/// `GET /console/statements`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let t = staff.t();
    let mut errors = FieldErrors::default();
    let filter = StatementFilter {
        partner_id: picked(
            &q.partner,
            "partner",
            t.ops_err_choice,
            |p| PartnerId::parse(p).ok(),
            &mut errors,
        ),
        state: picked(
            &q.state,
            "state",
            t.ops_err_choice,
            StatementState::parse,
            &mut errors,
        ),
    };
    let partners = partner_choices(&state, &q.partner, t).await?;
    let names: std::collections::HashMap<String, String> = partners
        .iter()
        .map(|c| (c.value.clone(), c.label.clone()))
        .collect();
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = page_after(PAGE_SIZE, &q.after);
        let found = services
            .settlement
            .list_statements(&filter, &page)
            .await
            .map_err(core_error)?;
        let rows = found
            .items
            .iter()
            .map(|s| Row {
                id: s.id.to_string(),
                partner: names
                    .get(s.partner_id.as_str())
                    .cloned()
                    .unwrap_or_else(|| s.partner_id.to_string()),
                period: s.period.to_string(),
                state: s.state.as_str(),
                state_label: state_label(s.state, t),
                sessions: s.totals.sessions,
                energy: kwh(s.totals.energy),
                total: cny(s.totals.total),
                due: cny(s.totals.due_to_operator),
            })
            .collect();
        let filters = [("partner", &*q.partner), ("state", &q.state)];
        let next = next_href("", &filters, found.next.as_deref());
        (rows, next)
    };
    let states = all_and(
        t,
        &q.state,
        StatementState::ALL.map(|s| (s.as_str(), state_label(s, t))),
    );
    let status = errors.status();
    render(
        status,
        &ListPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Statements), "/console/statements"),
            q,
            partners,
            states,
            errors,
            rows,
            next,
        },
    )
}

/// What a refused form typed, for the line it belongs to (`mine`); every other line shows
/// its form empty.
fn take_if<T: Default>(mine: bool, typed: &mut T) -> T {
    if mine {
        std::mem::take(typed)
    } else {
        T::default()
    }
}

struct LineView {
    cdr_id: String,
    credit: bool,
    order: String,
    booked_at: String,
    energy: String,
    total: String,
    commission: String,
    due: String,
    late: bool,
}

struct CategoryCount {
    category: &'static str,
    label: &'static str,
    count: u64,
}

struct ReportView {
    id: String,
    received_at: String,
    format: String,
    lines: u64,
    energy: String,
    amount: String,
    latest: bool,
}

struct ItemView {
    seq: u64,
    category: &'static str,
    category_label: &'static str,
    order: String,
    cdr_id: String,
    our_energy: String,
    their_energy: String,
    our_amount: String,
    their_amount: String,
    difference: String,
    /// `Some` once resolved: what was decided, why, by whom, when, and the credit CDR.
    resolved: Option<String>,
    credit_cdr: Option<String>,
    /// The resolve form is shown (disputed, unresolved discrepancy, finance).
    can_resolve: bool,
    /// The values and errors of this item's form, after a refused submission.
    kind: String,
    amount: String,
    reason: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "ops_statement.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    state: &'static str,
    state_label: &'static str,
    partner_id: String,
    facts: Vec<Fact>,
    lines: Vec<LineView>,
    more_lines: bool,
    reports: Vec<ReportView>,
    categories: Vec<CategoryCount>,
    difference: String,
    items: Vec<ItemView>,
    can_confirm: bool,
    can_settle: bool,
    payment_reference: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

/// What a refused form brings back to the page.
#[derive(Default)]
struct Refused {
    /// The item whose resolve form was refused.
    seq: Option<u64>,
    kind: String,
    amount: String,
    reason: String,
    payment_reference: String,
    errors: FieldErrors,
}

async fn detail_page(
    state: &ConsoleState,
    staff: &Staff,
    id: &str,
    refused: Refused,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let services = state.services()?;
    let settlement = &services.settlement;
    let (st, report) = settlement
        .statement_with_report(None, id)
        .await
        .map_err(core_error)?;
    let lines = settlement
        .statement_lines(None, id, &PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .map_err(core_error)?;
    let reports = settlement.reports(None, id).await.map_err(core_error)?;
    let items: Vec<StoredItem> = match &st.latest_report_id {
        Some(r) => {
            settlement
                .report_items(
                    None,
                    id,
                    r,
                    &ItemFilter::default(),
                    &PageRequest::first(PageRequest::MAX_LIMIT),
                )
                .await
                .map_err(core_error)?
                .items
        }
        None => Vec::new(),
    };
    let can_manage = staff.can(Permission::ManageStatements);
    let facts = facts(state, &st, t);
    let line_views = lines.items.iter().map(|l| line_view(state, l)).collect();
    let categories = report.as_ref().map_or_else(Vec::new, |r| {
        let s = &r.summary;
        [
            (Category::Matched, s.matched),
            (Category::EnergyMismatch, s.energy_mismatch),
            (Category::AmountMismatch, s.amount_mismatch),
            (Category::MissingOnPartner, s.missing_on_partner),
            (Category::MissingOnOperator, s.missing_on_operator),
            (Category::Duplicate, s.duplicate),
        ]
        .into_iter()
        .map(|(c, n)| CategoryCount {
            category: c.as_str(),
            label: category_label(c, t),
            count: n,
        })
        .collect()
    });
    let difference = report
        .as_ref()
        .map_or_else(String::new, |r| cny(r.summary.difference));
    let mut refused = refused;
    let item_views = items
        .iter()
        .map(|i| {
            let it = &i.item;
            let mine = refused.seq == Some(it.seq);
            ItemView {
                seq: it.seq,
                category: it.category.as_str(),
                category_label: category_label(it.category, t),
                order: it.order_id.clone().unwrap_or_default(),
                cdr_id: it
                    .cdr_id
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
                our_energy: it.our_energy.map_or_else(String::new, kwh),
                their_energy: it.their_energy.map_or_else(String::new, kwh),
                our_amount: it.our_amount.map_or_else(String::new, cny),
                their_amount: it.their_amount.map_or_else(String::new, cny),
                difference: it.amount_difference().map_or_else(String::new, cny),
                resolved: i.resolution.as_ref().map(|r| {
                    format!(
                        "{}: {} ({} · {})",
                        resolution_label(r.kind, t),
                        r.reason,
                        r.resolved_by,
                        fmt_time(state, r.resolved_at)
                    )
                }),
                credit_cdr: i
                    .resolution
                    .as_ref()
                    .and_then(|r| r.credit_cdr_id.as_ref().map(ToString::to_string)),
                can_resolve: can_manage
                    && st.state == StatementState::Disputed
                    && it.category != Category::Matched
                    && i.resolution.is_none(),
                kind: take_if(mine, &mut refused.kind),
                amount: take_if(mine, &mut refused.amount),
                reason: take_if(mine, &mut refused.reason),
                errors: take_if(mine, &mut refused.errors),
            }
        })
        .collect();
    let report_views = reports
        .iter()
        .map(|r| ReportView {
            id: r.id.clone(),
            received_at: fmt_time(state, r.received_at),
            format: format!("{:?}", r.format).to_lowercase(),
            lines: r.line_count,
            energy: kwh(r.total_energy),
            amount: cny(r.total_amount),
            latest: st.latest_report_id.as_deref() == Some(r.id.as_str()),
        })
        .collect();
    let status = if refused.errors.any() || refused.seq.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let path = format!("/console/statements/{}", st.id);
    render(
        status,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Statements), &path),
            id: st.id.to_string(),
            state: st.state.as_str(),
            state_label: state_label(st.state, t),
            partner_id: st.partner_id.to_string(),
            facts,
            lines: line_views,
            more_lines: lines.next.is_some(),
            reports: report_views,
            categories,
            difference,
            items: item_views,
            can_confirm: can_manage
                && matches!(
                    st.state,
                    StatementState::Reconciled | StatementState::Disputed
                ),
            can_settle: can_manage && st.state == StatementState::Confirmed,
            payment_reference: refused.payment_reference,
            errors: refused.errors,
            notice,
        },
    )
}

fn facts(state: &ConsoleState, st: &Statement, t: &'static Messages) -> Vec<Fact> {
    let x = &st.totals;
    let mut f = vec![
        Fact::new(t.ops_partner, st.partner_id.to_string()),
        Fact::new(t.ops_period, format!("{} ({})", st.period, st.time_zone)),
        Fact::new(
            t.ops_sessions_credits,
            format!("{} / {}", x.sessions, x.credits),
        ),
        Fact::new(t.ops_energy, format!("{} kWh", kwh(x.energy))),
        Fact::new(
            t.ops_fees,
            format!(
                "{} {} · {} {} · {} {}",
                t.ops_electricity_fee,
                cny(x.electricity_fee),
                t.ops_service_fee,
                cny(x.service_fee),
                t.ops_idle_fee,
                cny(x.idle_fee)
            ),
        ),
        Fact::new(t.ops_total, format!("{} CNY", cny(x.total))),
        Fact::new(t.ops_commission, format!("{} CNY", cny(x.commission))),
        Fact::new(t.ops_due, format!("{} CNY", cny(x.due_to_operator))),
        Fact::new(t.ops_closed, fmt_opt_time(state, st.closed_at, t)),
        Fact::new(t.ops_confirmed, fmt_opt_time(state, st.confirmed_at, t)),
        Fact::new(t.ops_settled, fmt_opt_time(state, st.settled_at, t)),
    ];
    if let Some(r) = &st.payment_reference {
        f.push(Fact::new(t.ops_payment_reference, r.clone()));
    }
    f
}

fn line_view(state: &ConsoleState, l: &StatementLine) -> LineView {
    LineView {
        cdr_id: l.cdr.cdr_id.to_string(),
        credit: l.cdr.original.is_some(),
        order: l.cdr.partner_order_id.clone(),
        booked_at: fmt_time(state, l.cdr.booked_at),
        energy: kwh(l.cdr.energy),
        total: cny(l.cdr.total),
        commission: cny(l.commission),
        due: cny(l.due_to_operator),
        late: l.late,
    }
}

/// `GET /console/statements/{id}`
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageStatements)?;
    let t = staff.t();
    let notice = match q.done.as_deref() {
        Some("resolved") => Some(t.ops_done_resolved),
        Some("confirmed") => Some(t.ops_done_confirmed),
        Some("settled") => Some(t.ops_done_settled),
        _ => None,
    };
    detail_page(&state, &staff, &id, Refused::default(), notice).await
}

/// `GET /console/statements/{id}/…` for a form's address: back to the statement.
pub(crate) async fn back_to_statement(Path(id): Path<String>) -> Response {
    redirect(&format!("/console/statements/{}", url_encode(&id)))
}

fn done(id: &str, what: &str) -> String {
    format!("/console/statements/{}?done={what}", url_encode(id))
}

/// `POST /console/statements/{id}/resolve`
pub(crate) async fn resolve(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let t = staff.t();
    let seq: u64 = form
        .get("seq")
        .parse()
        .map_err(|_| ConsoleError::BadRequest("seq must be a number".into()))?;
    let guard = claim_or_return!(&state.nonces, &form);
    let mut errors = FieldErrors::default();
    let kind = ResolutionKind::parse(form.get("resolution"));
    if kind.is_none() {
        errors.add("resolution", t.ops_err_resolution);
    }
    let amount = positive_amount("amount", form.get("amount"), t, &mut errors);
    if kind == Some(ResolutionKind::Credit) && amount == Some(None) {
        errors.add("amount", t.ops_err_credit_amount);
    }
    let why = reason(form.get("reason"), t, &mut errors);
    let refused = |errors| Refused {
        seq: Some(seq),
        kind: form.get("resolution").to_owned(),
        amount: form.get("amount").to_owned(),
        reason: form.get("reason").to_owned(),
        payment_reference: String::new(),
        errors,
    };
    let (Some(kind), Some(amount), Some(why), false) = (kind, amount, why, errors.any()) else {
        return detail_page(&state, &staff, &id, refused(errors), None).await;
    };
    let resolution = Resolution {
        kind,
        // Only a credit carries an amount; the other two record a decision.
        amount: amount.filter(|_| kind == ResolutionKind::Credit),
        reason: why,
    };
    match services
        .settlement
        .resolve(&staff.operator.id, &id, seq, resolution)
        .await
    {
        Ok(st) => {
            let to = done(st.id.as_str(), "resolved");
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            form_error(e, "amount", t, &mut errors)?;
            detail_page(&state, &staff, &id, refused(errors), None).await
        }
    }
}

/// `POST /console/statements/{id}/confirm`
pub(crate) async fn confirm(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let guard = claim_or_return!(&state.nonces, &form);
    match services.settlement.confirm(&staff.operator.id, &id).await {
        Ok(st) => {
            let to = done(st.id.as_str(), "confirmed");
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            let mut errors = FieldErrors::default();
            form_error(e, "form", staff.t(), &mut errors)?;
            let refused = Refused {
                errors,
                ..Refused::default()
            };
            detail_page(&state, &staff, &id, refused, None).await
        }
    }
}

/// `POST /console/statements/{id}/settle`
pub(crate) async fn settle(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let t = staff.t();
    let guard = claim_or_return!(&state.nonces, &form);
    let reference = form.get("payment_reference").trim().to_owned();
    let mut errors = FieldErrors::default();
    if reference.is_empty() {
        errors.add("payment_reference", t.err_required);
    } else if reference.chars().count() > 100 {
        errors.add("payment_reference", t.ops_err_reference_long);
    } else {
        match services
            .settlement
            .settle(&staff.operator.id, &id, &reference)
            .await
        {
            Ok(st) => {
                let to = done(st.id.as_str(), "settled");
                guard.complete(Some(to.clone()));
                return Ok(redirect(&to));
            }
            Err(e) => form_error(e, "payment_reference", t, &mut errors)?,
        }
    }
    let refused = Refused {
        payment_reference: reference,
        errors,
        ..Refused::default()
    };
    detail_page(&state, &staff, &id, refused, None).await
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

const CSV_COLUMNS: [&str; 12] = [
    "cdr_id",
    "original_cdr_id",
    "session_id",
    "partner_order_id",
    "booked_at",
    "energy_kwh",
    "electricity_fee",
    "service_fee",
    "idle_fee",
    "total",
    "commission",
    "due_to_operator",
];

fn csv_row(out: &mut String, l: &StatementLine) {
    let c = &l.cdr;
    let fields = [
        c.cdr_id.to_string(),
        c.original
            .as_ref()
            .map_or_else(String::new, ToString::to_string),
        c.session_id.to_string(),
        c.partner_order_id.clone(),
        c.booked_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        kwh(c.energy),
        cny(c.electricity_fee),
        cny(c.service_fee),
        cny(c.idle_fee),
        cny(c.total),
        cny(l.commission),
        cny(l.due_to_operator),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// `GET /console/statements/{id}/export.csv`: every line (RFC 4180, UTF-8 with a BOM so that
/// spreadsheet programs read the Chinese correctly, CRLF).
pub(crate) async fn export(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let st = services
        .settlement
        .statement(None, &id)
        .await
        .map_err(core_error)?;
    let mut out = String::from("\u{feff}");
    out.push_str(&CSV_COLUMNS.join(","));
    out.push_str("\r\n");
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = services
            .settlement
            .statement_lines(None, st.id.as_str(), &page)
            .await
            .map_err(core_error)?;
        for l in &found.items {
            csv_row(&mut out, l);
        }
        match found.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    let name = format!("attachment; filename=\"statement-{}.csv\"", st.id);
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut s = String::new();
        csv_field(&mut s, "plain");
        s.push(',');
        csv_field(&mut s, "a,b");
        s.push(',');
        csv_field(&mut s, "say \"hi\"");
        assert_eq!(s, "plain,\"a,b\",\"say \"\"hi\"\"\"");
    }
}
