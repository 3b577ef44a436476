//! `/portal/sessions` and `/portal/cdrs`: the partner's own charging sessions (filtered by
//! state and local dates, a session's energy, cost breakdown and state) and its CDRs (the
//! priced record of each completed session, and credit CDRs). Reads go through core's
//! `SessionService` and `SettlementService` with the signed-in partner, which return another
//! partner's session or CDR as not found — the same rule as `GET /v1/sessions/{id}`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use openpile_core::energy::Wh;
use openpile_core::money::Money;
use openpile_core::page::PageRequest;
use openpile_core::partner::catalog::Visibility;
use openpile_core::pricing::PricedLine;
use openpile_core::session::SessionState;
use openpile_core::sessions::model::{ChargingSession, SessionLimit};
use openpile_core::sessions::service::{Caller, SessionError};
use openpile_core::settlement::cdr::{Cdr, CdrId, CdrKind};
use openpile_core::settlement::report::kwh_text;
use serde::Deserialize;

use super::{PartnerSession, partner_page};
use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::form::FieldErrors;
use crate::i18n::Messages;
use crate::page::{Chrome, fmt_opt_time, fmt_time, render};
use crate::views::{self, Fact, core_error, next_href, page_after, picked};

/// Rows per page of the lists.
const PAGE: u32 = 25;

/// CNY with 2 decimals, as every amount is shown (as in the operator screens).
pub(super) use crate::views::cny as money;

/// kWh with 3 decimals (to the Wh).
pub(super) fn kwh(wh: Wh) -> String {
    kwh_text(wh)
}

pub(super) fn session_state_label(s: SessionState, t: &'static Messages) -> &'static str {
    match s {
        SessionState::Pending => t.pt_session_pending,
        SessionState::Starting => t.pt_session_starting,
        SessionState::Charging => t.pt_session_charging,
        SessionState::Stopping => t.pt_session_stopping,
        SessionState::Finishing => t.pt_session_finishing,
        SessionState::Completed => t.pt_session_completed,
        SessionState::Failed => t.pt_session_failed,
    }
}

const SESSION_STATES: [SessionState; 7] = [
    SessionState::Pending,
    SessionState::Starting,
    SessionState::Charging,
    SessionState::Stopping,
    SessionState::Finishing,
    SessionState::Completed,
    SessionState::Failed,
];

fn session_error(e: SessionError) -> ConsoleError {
    match e {
        SessionError::NotFound { .. } => ConsoleError::NotFound,
        other => ConsoleError::internal(other),
    }
}

/// The partner as sessions' reads know it (only its id matters to reads).
fn caller(session: &PartnerSession) -> Caller {
    Caller {
        partner_id: session.partner_id.clone(),
        visibility: Visibility::Sandbox,
    }
}

/// A local date (`YYYY-MM-DD`) as the UTC instant its day starts, in the operator's zone.
fn day_start(state: &ConsoleState, s: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    views::day_start(state, d)
}

/// The date filters of a list: `from` (first day) and `to` (last day, inclusive), as an
/// instant range [from, to + 1 day), with field errors for what cannot be read.
fn date_range(
    state: &ConsoleState,
    t: &'static Messages,
    from: &str,
    to: &str,
    errors: &mut FieldErrors,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut read = |field: &str, s: &str, next_day: bool| {
        if s.trim().is_empty() {
            return None;
        }
        let day = if next_day {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.succ_opt())
                .and_then(|d| day_start(state, &d.format("%Y-%m-%d").to_string()))
        } else {
            day_start(state, s)
        };
        if day.is_none() {
            errors.add(field, t.pt_err_date);
        }
        day
    };
    let f = read("from", from, false);
    let u = read("to", to, true);
    if let (Some(a), Some(b)) = (f, u)
        && b <= a
    {
        errors.add("to", t.pt_err_date_order);
    }
    (f, u)
}

// ---- sessions ----------------------------------------------------------------------------

struct StateOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

struct SessionRow {
    id: String,
    state: &'static str,
    state_label: &'static str,
    order: String,
    connector: String,
    created_at: String,
    energy_kwh: String,
    total: String,
}

#[derive(Template)]
#[template(path = "portal_sessions.html")]
struct SessionsPage {
    t: &'static Messages,
    chrome: Chrome,
    states: Vec<StateOption>,
    from: String,
    to: String,
    errors: FieldErrors,
    rows: Vec<SessionRow>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

fn page_request(after: Option<&str>) -> PageRequest {
    page_after(PAGE, after.unwrap_or_default())
}

/// `GET /portal/sessions?state=…&from=…&to=…&after=…`
pub(crate) async fn sessions(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let (_, chrome) = partner_page(&state, &session, "/portal/sessions").await?;
    let mut errors = FieldErrors::default();
    let wanted = q.state.as_deref().unwrap_or("");
    let filter_state = picked(
        wanted,
        "state",
        t.pt_err_state,
        SessionState::parse,
        &mut errors,
    );
    let from = q.from.clone().unwrap_or_default();
    let to = q.to.clone().unwrap_or_default();
    let (f, u) = date_range(&state, t, &from, &to, &mut errors);
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = state
            .services()?
            .sessions
            .sessions(
                &caller(&session),
                filter_state,
                f,
                u,
                page_request(q.after.as_deref()),
            )
            .await
            .map_err(session_error)?;
        let rows = page
            .items
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                state: s.state.as_str(),
                state_label: session_state_label(s.state, t),
                order: s.partner_order_id.clone().unwrap_or_default(),
                connector: s.connector_id.to_string(),
                created_at: fmt_time(&state, s.created_at),
                energy_kwh: kwh(s.energy),
                total: s.cost.as_ref().map(|c| money(c.total)).unwrap_or_default(),
            })
            .collect();
        let next = next_href(
            "/portal/sessions",
            &[("state", wanted), ("from", &from), ("to", &to)],
            page.next.as_deref(),
        );
        (rows, next)
    };
    let status = errors.status();
    render(
        status,
        &SessionsPage {
            t,
            chrome,
            states: SESSION_STATES
                .iter()
                .map(|s| StateOption {
                    code: s.as_str(),
                    label: session_state_label(*s, t),
                    selected: s.as_str() == wanted,
                })
                .collect(),
            from,
            to,
            errors,
            rows,
            next,
        },
    )
}

struct CostRow {
    from: String,
    to: String,
    period: &'static str,
    energy_kwh: String,
    electricity_price: String,
    service_price: String,
    electricity_fee: String,
    service_fee: String,
}

fn priced_row(state: &ConsoleState, t: &'static Messages, l: &PricedLine) -> CostRow {
    CostRow {
        from: fmt_time(state, l.start),
        to: fmt_time(state, l.end),
        period: t.period(l.label),
        energy_kwh: kwh(l.energy),
        electricity_price: l.electricity_price.value().to_string(),
        service_price: l.service_price.value().to_string(),
        electricity_fee: money(l.electricity_fee),
        service_fee: money(l.service_fee),
    }
}

struct Totals {
    electricity_fee: String,
    service_fee: String,
    idle_fee: String,
    total: String,
}

impl Totals {
    fn new(electricity_fee: Money, service_fee: Money, idle_fee: Money, total: Money) -> Self {
        Self {
            electricity_fee: money(electricity_fee),
            service_fee: money(service_fee),
            idle_fee: money(idle_fee),
            total: money(total),
        }
    }
}

#[derive(Template)]
#[template(path = "portal_session.html")]
struct SessionPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    state: &'static str,
    state_label: &'static str,
    facts: Vec<Fact>,
    energy_kwh: String,
    cost: Vec<CostRow>,
    totals: Option<Totals>,
    meter_anomaly: bool,
    cdr: Option<String>,
}

fn limit_text(l: &SessionLimit) -> String {
    match l {
        SessionLimit::EnergyWh(wh) => format!("{} kWh", kwh(*wh)),
        SessionLimit::Amount(m) => format!("{} CNY", money(*m)),
        SessionLimit::DurationS(s) => format!("{s} s"),
    }
}

fn session_facts(state: &ConsoleState, t: &'static Messages, s: &ChargingSession) -> Vec<Fact> {
    let mut facts = vec![
        Fact::new(
            t.pt_order_id,
            s.partner_order_id.clone().unwrap_or_default(),
        ),
        Fact::new(t.station, s.station_id.to_string()),
        Fact::new(
            t.pt_connector,
            format!("{} (#{})", s.connector_id, s.connector_number),
        ),
        Fact::new(t.created_at, fmt_time(state, s.created_at)),
        Fact::new(t.pt_started_at, fmt_opt_time(state, s.started_at, t)),
        Fact::new(t.pt_stopped_at, fmt_opt_time(state, s.stopped_at, t)),
    ];
    if let Some(u) = &s.user_ref {
        facts.push(Fact::new(t.pt_user_ref, u.clone()));
    }
    if let Some(l) = &s.limit {
        facts.push(Fact::new(t.pt_limit, limit_text(l)));
    }
    if let Some(p) = s.power {
        facts.push(Fact::new(t.pt_power, format!("{} W", p.0)));
    }
    if let Some(soc) = s.soc_percent {
        facts.push(Fact::new(t.pt_soc, format!("{soc} %")));
    }
    if let Some(r) = s.stop_reason {
        facts.push(Fact::new(t.pt_stop_reason, r.as_str().to_owned()));
    }
    if let Some(f) = s.failure {
        let detail = s.failure_detail.clone().unwrap_or_default();
        facts.push(Fact::new(
            t.pt_failure,
            format!("{} {detail}", f.as_str()).trim().to_owned(),
        ));
    }
    facts
}

/// `GET /portal/sessions/{id}`
pub(crate) async fn session(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let s = state
        .services()?
        .sessions
        .session(&caller(&session), &id)
        .await
        .map_err(session_error)?;
    let (_, chrome) = partner_page(&state, &session, &format!("/portal/sessions/{}", s.id)).await?;
    let cdr = (s.state == SessionState::Completed).then(|| CdrId::for_session(&s.id).to_string());
    render(
        StatusCode::OK,
        &SessionPage {
            t,
            chrome,
            id: s.id.to_string(),
            state: s.state.as_str(),
            state_label: session_state_label(s.state, t),
            facts: session_facts(&state, t, &s),
            energy_kwh: kwh(s.energy),
            cost: s
                .cost
                .as_ref()
                .map(|c| c.lines.iter().map(|l| priced_row(&state, t, l)).collect())
                .unwrap_or_default(),
            totals: s
                .cost
                .as_ref()
                .map(|c| Totals::new(c.electricity_fee, c.service_fee, c.idle_fee, c.total)),
            meter_anomaly: s.cost.as_ref().is_some_and(|c| c.meter_anomaly),
            cdr,
        },
    )
}

// ---- CDRs --------------------------------------------------------------------------------

struct CdrRow {
    id: String,
    credit: bool,
    session_id: String,
    order: String,
    stopped_at: String,
    energy_kwh: String,
    total: String,
}

#[derive(Template)]
#[template(path = "portal_cdrs.html")]
struct CdrsPage {
    t: &'static Messages,
    chrome: Chrome,
    from: String,
    to: String,
    errors: FieldErrors,
    rows: Vec<CdrRow>,
    next: Option<String>,
}

/// `GET /portal/cdrs?from=…&to=…&after=…`
pub(crate) async fn cdrs(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let (_, chrome) = partner_page(&state, &session, "/portal/cdrs").await?;
    let mut errors = FieldErrors::default();
    let from = q.from.clone().unwrap_or_default();
    let to = q.to.clone().unwrap_or_default();
    let (f, u) = date_range(&state, t, &from, &to, &mut errors);
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = state
            .services()?
            .settlement
            .partner_cdrs(&session.partner_id, f, u, &page_request(q.after.as_deref()))
            .await
            .map_err(core_error)?;
        let rows = page
            .items
            .iter()
            .map(|c| CdrRow {
                id: c.id.to_string(),
                credit: matches!(c.kind, CdrKind::Credit(_)),
                session_id: c.session_id.to_string(),
                order: c.partner_order_id.clone().unwrap_or_default(),
                stopped_at: fmt_time(&state, c.stopped_at),
                energy_kwh: kwh(c.energy),
                total: money(c.total),
            })
            .collect();
        let next = next_href(
            "/portal/cdrs",
            &[("from", &from), ("to", &to)],
            page.next.as_deref(),
        );
        (rows, next)
    };
    let status = errors.status();
    render(
        status,
        &CdrsPage {
            t,
            chrome,
            from,
            to,
            errors,
            rows,
            next,
        },
    )
}

#[derive(Template)]
#[template(path = "portal_cdr.html")]
struct CdrPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    facts: Vec<Fact>,
    lines: Vec<CostRow>,
    idle: Option<String>,
    totals: Totals,
    session_id: String,
}

fn cdr_facts(state: &ConsoleState, t: &'static Messages, c: &Cdr) -> Vec<Fact> {
    let mut facts = vec![
        Fact::new(
            t.pt_order_id,
            c.partner_order_id.clone().unwrap_or_default(),
        ),
        Fact::new(t.station, c.station_id.to_string()),
        Fact::new(t.pt_connector, c.connector_id.to_string()),
        Fact::new(t.pt_started_at, fmt_time(state, c.started_at)),
        Fact::new(t.pt_stopped_at, fmt_time(state, c.stopped_at)),
        Fact::new(t.pt_energy, format!("{} kWh", kwh(c.energy))),
        Fact::new(
            t.pt_tariff,
            format!("{} v{}", c.tariff_id, c.tariff_version),
        ),
    ];
    if let CdrKind::Credit(cr) = &c.kind {
        facts.push(Fact::new(
            t.pt_credit_of,
            format!("{} — {}", cr.original, cr.reason),
        ));
    }
    facts
}

/// `GET /portal/cdrs/{id}`
pub(crate) async fn cdr(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let c = state
        .services()?
        .settlement
        .cdr(Some(&session.partner_id), &id)
        .await
        .map_err(core_error)?;
    let (_, chrome) = partner_page(&state, &session, &format!("/portal/cdrs/{}", c.id)).await?;
    render(
        StatusCode::OK,
        &CdrPage {
            t,
            chrome,
            id: c.id.to_string(),
            facts: cdr_facts(&state, t, &c),
            lines: c.lines.iter().map(|l| priced_row(&state, t, l)).collect(),
            idle: c.idle.as_ref().map(|i| {
                format!(
                    "{} min × {} = {}",
                    i.minutes,
                    i.price_per_minute.value(),
                    money(i.fee)
                )
            }),
            totals: Totals::new(c.electricity_fee, c.service_fee, c.idle_fee, c.total),
            session_id: c.session_id.to_string(),
        },
    )
}
