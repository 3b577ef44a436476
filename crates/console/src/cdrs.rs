//! CDRs: the list (by partner and local booking dates, in booking order), one CDR with its
//! priced lines, and the credit form. A credit CDR corrects a session's CDR (an amount, or the
//! whole CDR when no amount is given) and lands on the statement of the current period; it is
//! issued through the settlement service exactly as the admin API does, which validates it and
//! writes the audit entry (`cdr.credit`) in the same transaction. Reading: admin, operations,
//! finance (`ViewSessions`); issuing credits: admin, finance (`ManageStatements`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use openpile_core::ids::PartnerId;
use openpile_core::settlement::cdr::{Cdr, CdrKind};
use serde::Deserialize;

use crate::ConsoleState;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_time, render, url_encode};
use crate::views::{
    Choice, Fact, cny, core_error, date_range, form_error, kwh, next_href, page_after,
    partner_choices, picked, positive_amount, reason,
};

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    partner: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

struct Row {
    id: String,
    credit: bool,
    original: String,
    partner_order_id: String,
    station: String,
    booked_at: String,
    energy: String,
    total: String,
}

fn row(state: &ConsoleState, c: &Cdr) -> Row {
    Row {
        id: c.id.to_string(),
        credit: matches!(c.kind, CdrKind::Credit(_)),
        original: match &c.kind {
            CdrKind::Credit(cr) => cr.original.to_string(),
            CdrKind::Session => String::new(),
        },
        partner_order_id: c.partner_order_id.clone().unwrap_or_default(),
        station: c.station_id.to_string(),
        booked_at: fmt_time(state, c.booked_at()),
        energy: kwh(c.energy),
        total: cny(c.total),
    }
}

#[derive(Template)]
#[template(path = "ops_cdrs.html")]
struct ListPage {
    t: &'static Messages,
    chrome: Chrome,
    q: ListQuery,
    partners: Vec<Choice>,
    errors: FieldErrors,
    rows: Vec<Row>,
    next: Option<String>,
}

/// `GET /console/cdrs`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewSessions)?;
    let services = state.services()?;
    let t = staff.t();
    let mut errors = FieldErrors::default();
    let partner = picked(
        &q.partner,
        "partner",
        t.ops_err_choice,
        |p| PartnerId::parse(p).ok(),
        &mut errors,
    );
    let (from, to) = date_range(&state, &q.from, &q.to, t, &mut errors);
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = page_after(PAGE_SIZE, &q.after);
        let found = match &partner {
            Some(p) => services.settlement.partner_cdrs(p, from, to, &page).await,
            None => services.settlement.all_cdrs(from, to, &page).await,
        }
        .map_err(core_error)?;
        let filters = [("partner", &*q.partner), ("from", &q.from), ("to", &q.to)];
        let next = next_href("", &filters, found.next.as_deref());
        (found.items.iter().map(|c| row(&state, c)).collect(), next)
    };
    let partners = partner_choices(&state, &q.partner, t).await?;
    let status = errors.status();
    render(
        status,
        &ListPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Cdrs), "/console/cdrs"),
            q,
            partners,
            errors,
            rows,
            next,
        },
    )
}

struct LineView {
    period: String,
    label: &'static str,
    energy: String,
    electricity_price: String,
    service_price: String,
    electricity_fee: String,
    service_fee: String,
}

#[derive(Template)]
#[template(path = "ops_cdr.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    session_id: String,
    credit: bool,
    original: String,
    facts: Vec<Fact>,
    lines: Vec<LineView>,
    idle: String,
    electricity_fee: String,
    service_fee: String,
    idle_fee: String,
    total: String,
    can_credit: bool,
    amount: String,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    credited: Option<String>,
}

fn detail_page(
    state: &ConsoleState,
    staff: &Staff,
    c: &Cdr,
    amount: String,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let (credit, original, credit_reason, issued_by) = match &c.kind {
        CdrKind::Credit(cr) => (
            true,
            cr.original.to_string(),
            cr.reason.clone(),
            cr.issued_by.clone(),
        ),
        CdrKind::Session => (false, String::new(), String::new(), String::new()),
    };
    let mut facts = vec![
        Fact::new(
            t.ops_partner,
            c.partner_id
                .as_ref()
                .map_or_else(|| t.ops_local_session.to_owned(), ToString::to_string),
        ),
        Fact::new(t.ops_order, c.partner_order_id.clone().unwrap_or_default()),
        Fact::new(
            t.station,
            format!("{} · {} · {}", c.station_id, c.charger_id, c.connector_id),
        ),
        Fact::new(t.ops_started, fmt_time(state, c.started_at)),
        Fact::new(t.ops_stopped, fmt_time(state, c.stopped_at)),
        Fact::new(t.ops_booked, fmt_time(state, c.booked_at())),
        Fact::new(
            t.ops_meter,
            format!("{} → {} kWh", kwh(c.meter_start), kwh(c.meter_stop)),
        ),
        Fact::new(t.ops_energy, format!("{} kWh", kwh(c.energy))),
        Fact::new(
            t.ops_tariff,
            format!("{} v{} ({})", c.tariff_id, c.tariff_version, c.time_zone),
        ),
    ];
    if credit {
        facts.push(Fact::new(t.ops_credit_reason, credit_reason));
        facts.push(Fact::new(t.ops_issued_by, issued_by));
    }
    if c.meter_anomaly {
        facts.push(Fact::new(t.ops_review, t.ops_meter_anomaly.to_owned()));
    }
    let lines = c
        .lines
        .iter()
        .map(|l| LineView {
            period: format!("{} – {}", fmt_time(state, l.start), fmt_time(state, l.end)),
            label: t.period(l.label),
            energy: kwh(l.energy),
            electricity_price: l.electricity_price.to_string(),
            service_price: l.service_price.to_string(),
            electricity_fee: cny(l.electricity_fee),
            service_fee: cny(l.service_fee),
        })
        .collect();
    let status = errors.status();
    let path = format!("/console/cdrs/{}", c.id);
    render(
        status,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Cdrs), &path),
            id: c.id.to_string(),
            session_id: c.session_id.to_string(),
            credit,
            original,
            facts,
            lines,
            idle: c.idle.as_ref().map_or_else(String::new, |i| {
                format!("{} min × {}", i.minutes, i.price_per_minute)
            }),
            electricity_fee: cny(c.electricity_fee),
            service_fee: cny(c.service_fee),
            idle_fee: cny(c.idle_fee),
            total: cny(c.total),
            can_credit: !credit && staff.can(Permission::ManageStatements),
            amount,
            reason,
            errors,
            notice,
        },
    )
}

/// `GET /console/cdrs/{id}`
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewSessions)?;
    let services = state.services()?;
    let cdr = services
        .settlement
        .cdr(None, &id)
        .await
        .map_err(core_error)?;
    let notice = q.credited.map(|_| staff.t().ops_credit_issued);
    detail_page(
        &state,
        &staff,
        &cdr,
        String::new(),
        String::new(),
        FieldErrors::default(),
        notice,
    )
}

/// `GET /console/cdrs/{id}/credit`: the form lives on the CDR's page.
pub(crate) async fn back_to_cdr(Path(id): Path<String>) -> Response {
    redirect(&format!("/console/cdrs/{}", url_encode(&id)))
}

/// `POST /console/cdrs/{id}/credit`
pub(crate) async fn credit(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageStatements)?;
    let services = state.services()?;
    let t = staff.t();
    let cdr = services
        .settlement
        .cdr(None, &id)
        .await
        .map_err(core_error)?;
    let guard = claim_or_return!(&state.nonces, &form);
    let mut errors = FieldErrors::default();
    let amount = positive_amount("amount", form.get("amount"), t, &mut errors);
    let why = reason(form.get("reason"), t, &mut errors);
    let again = |errors| {
        detail_page(
            &state,
            &staff,
            &cdr,
            form.get("amount").to_owned(),
            form.get("reason").to_owned(),
            errors,
            None,
        )
    };
    let (Some(amount), Some(why)) = (amount, why) else {
        return again(errors);
    };
    match services
        .settlement
        .issue_credit(&staff.operator.id, cdr.id.as_str(), amount, &why)
        .await
    {
        Ok(credit) => {
            let to = format!(
                "/console/cdrs/{}?credited=1",
                url_encode(credit.id.as_str())
            );
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            form_error(e, "amount", t, &mut errors)?;
            again(errors)
        }
    }
}
