//! Sessions, every partner's and the operator's own: a list filtered by state, partner,
//! station and local date range (newest first), and one session's page with its timeline
//! (commands we sent, messages the charger sent, state changes as the outbox recorded them),
//! its meter curve as a server-drawn chart, and its cost. Reads only; seen by admin,
//! operations and finance (`Permission::ViewSessions`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use openpile_core::charging::Measurement;
use openpile_core::error::StoreError;
use openpile_core::ids::{PartnerId, SessionId, StationId};
use openpile_core::ops::{SessionFilter, SessionSummary};
use openpile_core::session::SessionState;
use rust_decimal::prelude::ToPrimitive as _;
use serde::Deserialize;

use crate::ConsoleState;
use crate::auth::Staff;
use crate::charts::{LineChart, Point};
use crate::error::ConsoleError;
use crate::form::FieldErrors;
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::page::{Chrome, fmt_opt_time, fmt_time, render};
use crate::views::{
    Choice, Fact, all_and, cny, date_range, kwh, next_href, page_after, partner_choices, picked,
    session_state, station_choices,
};

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    station: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

impl ListQuery {
    /// The filter part of the query string (without the cursor), for the next page's link.
    fn filters(&self) -> [(&'static str, &str); 5] {
        [
            ("state", &self.state),
            ("partner", &self.partner),
            ("station", &self.station),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }
}

pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) state: &'static str,
    pub(crate) state_label: &'static str,
    pub(crate) partner: String,
    pub(crate) station: String,
    pub(crate) connector: String,
    pub(crate) created_at: String,
    pub(crate) energy: String,
    pub(crate) amount: String,
}

pub(crate) fn row(state: &ConsoleState, s: &SessionSummary, t: &'static Messages) -> Row {
    Row {
        id: s.id.to_string(),
        state: s.state.as_str(),
        state_label: session_state(s.state, t),
        partner: s
            .partner_name
            .clone()
            .unwrap_or_else(|| t.ops_local_session.to_owned()),
        station: s.station_id.to_string(),
        connector: s.connector_id.to_string(),
        created_at: fmt_time(state, s.created_at),
        energy: kwh(s.energy),
        amount: s.cost.as_ref().map_or_else(String::new, |c| cny(c.total)),
    }
}

#[derive(Template)]
#[template(path = "ops_sessions.html")]
struct ListPage {
    t: &'static Messages,
    chrome: Chrome,
    q: ListQuery,
    states: Vec<Choice>,
    partners: Vec<Choice>,
    stations: Vec<Choice>,
    errors: FieldErrors,
    rows: Vec<Row>,
    next: Option<String>,
}

/// `GET /console/sessions`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewSessions)?;
    let ops = state.ops()?;
    let t = staff.t();
    let mut errors = FieldErrors::default();
    let choice = t.ops_err_choice;
    let session_state_filter = picked(&q.state, "state", choice, SessionState::parse, &mut errors);
    let partner = picked(
        &q.partner,
        "partner",
        choice,
        |p| PartnerId::parse(p).ok(),
        &mut errors,
    );
    let station = picked(
        &q.station,
        "station",
        choice,
        |s| StationId::parse(s).ok(),
        &mut errors,
    );
    let (from, to) = date_range(&state, &q.from, &q.to, t, &mut errors);
    let (rows, next) = if errors.any() {
        (Vec::new(), None)
    } else {
        let page = ops
            .views
            .sessions(&SessionFilter {
                state: session_state_filter,
                partner_id: partner,
                station_id: station,
                from,
                to,
                page: page_after(PAGE_SIZE, &q.after),
            })
            .await?;
        let rows = page.items.iter().map(|s| row(&state, s, t)).collect();
        let next = next_href("", &q.filters(), page.next.as_deref());
        (rows, next)
    };
    let states = all_and(
        t,
        &q.state,
        SessionState::ALL.map(|s| (s.as_str(), session_state(s, t))),
    );
    let partners = partner_choices(&state, &q.partner, t).await?;
    let stations = station_choices(&state, &q.station, t).await?;
    let status = errors.status();
    render(
        status,
        &ListPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Sessions), "/console/sessions"),
            q,
            states,
            partners,
            stations,
            errors,
            rows,
            next,
        },
    )
}

/// One line of a session's timeline.
struct Step {
    at: DateTime<Utc>,
    time: String,
    /// `command`, `charger`, `state` or `event`: how the line is marked.
    kind: &'static str,
    kind_label: &'static str,
    text: String,
}

struct CostLineView {
    period: String,
    label: &'static str,
    energy: String,
    electricity_price: String,
    service_price: String,
    fee: String,
}

struct SamplePoint {
    time: String,
    energy: String,
    power: String,
}

#[derive(Template)]
#[template(path = "ops_session.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    state: &'static str,
    state_label: &'static str,
    facts: Vec<Fact>,
    steps: Vec<Step>,
    energy_chart: Option<String>,
    power_chart: Option<String>,
    samples: Vec<SamplePoint>,
    lines: Vec<CostLineView>,
    total: String,
    cdr: Option<String>,
    partner_id: Option<String>,
}

/// `GET /console/sessions/{id}`
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewSessions)?;
    let ops = state.ops()?;
    let services = state.services()?;
    let t = staff.t();
    let sid = SessionId::parse(id.as_str()).map_err(|_| ConsoleError::NotFound)?;
    let s = ops.views.session(&sid).await?;
    let events = ops.views.session_events(&sid).await?;
    let transaction = match s.transaction_id {
        Some(tx) => match services.transactions.get_transaction(tx).await {
            Ok(tx) => Some(tx),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let samples = match s.transaction_id {
        Some(tx) => services.transactions.transaction_samples(tx).await?,
        None => Vec::new(),
    };
    let cdr = match services.settlement.cdr(None, sid.as_str()).await {
        Ok(c) => Some(c.id.to_string()),
        Err(openpile_core::error::CoreError::NotFound { .. }) => None,
        Err(e) => return Err(crate::views::core_error(e)),
    };

    // The timeline: our own records of the session, the charger's transaction, the events.
    let mut steps = Vec::new();
    let mut step = |at: DateTime<Utc>, kind: &'static str, text: String| {
        let kind_label = match kind {
            "command" => t.ops_kind_command,
            "charger" => t.ops_kind_charger,
            "event" => t.ops_kind_event,
            _ => t.ops_kind_state,
        };
        steps.push(Step {
            at,
            time: fmt_time(&state, at),
            kind,
            kind_label,
            text,
        });
    };
    step(s.created_at, "state", t.ops_step_requested.to_owned());
    if let Some(at) = s.accepted_at {
        step(at, "command", t.ops_step_remote_start.to_owned());
    }
    if let Some(tx) = &transaction {
        step(
            tx.started_at,
            "charger",
            format!(
                "{} #{} · {} {} kWh",
                t.ops_step_start_tx,
                tx.id.get(),
                t.ops_meter,
                kwh(tx.meter_start)
            ),
        );
    }
    let energy_samples: Vec<_> = samples
        .iter()
        .filter(|m| matches!(m.measurement, Measurement::EnergyImportRegister(_)))
        .collect();
    if let (Some(first), Some(last)) = (energy_samples.first(), energy_samples.last()) {
        step(
            first.at,
            "charger",
            format!(
                "{} ×{} ({} – {})",
                t.ops_step_meter_values,
                energy_samples.len(),
                fmt_time(&state, first.at),
                fmt_time(&state, last.at)
            ),
        );
    }
    if let Some(at) = s.stop_requested_at {
        let by = s.stop_requested_by.as_deref().unwrap_or("");
        step(at, "command", format!("{} ({by})", t.ops_step_remote_stop));
    }
    if let Some(tx) = &transaction
        && let Some(at) = tx.stopped_at
    {
        step(
            at,
            "charger",
            format!(
                "{} #{} · {} {} kWh · {}",
                t.ops_step_stop_tx,
                tx.id.get(),
                t.ops_meter,
                tx.meter_stop.map_or_else(String::new, kwh),
                tx.stop_reason.map_or("", |r| r.as_str())
            ),
        );
    }
    for e in &events {
        step(e.at, "event", e.event_type.clone());
    }
    if let Some(reason) = &s.failure_reason {
        step(
            s.stopped_at.unwrap_or(s.created_at),
            "state",
            format!(
                "{}: {reason} {}",
                t.ops_state_failed,
                s.failure_detail.as_deref().unwrap_or("")
            ),
        );
    }
    // Stable: equal times keep the order above (request, command, charger, events).
    steps.sort_by_key(|s| s.at);

    // The meter curve: energy since the start (kWh) and power (kW).
    let meter_start = transaction.as_ref().map(|tx| tx.meter_start);
    let mut energy_points = Vec::new();
    let mut power_points = Vec::new();
    let mut table = Vec::new();
    for m in &samples {
        match m.measurement {
            Measurement::EnergyImportRegister(wh) => {
                let since = openpile_core::energy::Wh(wh.0 - meter_start.map_or(wh.0, |s| s.0));
                energy_points.push(Point {
                    at: m.at,
                    value: since.kwh().to_f64().unwrap_or(0.0),
                });
                table.push(SamplePoint {
                    time: fmt_time(&state, m.at),
                    energy: kwh(since),
                    power: String::new(),
                });
            }
            Measurement::PowerImport(w) if m.phase.is_none() => {
                power_points.push(Point {
                    at: m.at,
                    value: w.0 as f64 / 1000.0,
                });
                let time = fmt_time(&state, m.at);
                let kw = format!("{:.1}", w.0 as f64 / 1000.0);
                match table.iter_mut().rev().find(|r| r.time == time) {
                    Some(r) => r.power = kw,
                    None => table.push(SamplePoint {
                        time,
                        energy: String::new(),
                        power: kw,
                    }),
                }
            }
            _ => {}
        }
    }
    let chart = |points: &[Point], title: &str, unit: &str| {
        let (first, last) = (points.first()?, points.last()?);
        LineChart {
            title,
            unit,
            points,
            start_label: &fmt_time(&state, first.at),
            end_label: &fmt_time(&state, last.at),
        }
        .svg()
    };
    let energy_chart = chart(&energy_points, t.ops_chart_energy, "kWh");
    let power_chart = chart(&power_points, t.ops_chart_power, "kW");

    let mut facts = vec![
        Fact::new(
            t.ops_partner,
            match (&s.partner_name, &s.partner_id) {
                (Some(n), Some(p)) => format!("{n} ({p})"),
                _ => t.ops_local_session.to_owned(),
            },
        ),
        Fact::new(t.ops_order, s.partner_order_id.clone().unwrap_or_default()),
        Fact::new(t.station, s.station_id.to_string()),
        Fact::new(
            t.ops_connector,
            format!("{} ({})", s.connector_id, s.charger_id),
        ),
        Fact::new(t.ops_started, fmt_opt_time(&state, s.started_at, t)),
        Fact::new(t.ops_stopped, fmt_opt_time(&state, s.stopped_at, t)),
        Fact::new(t.ops_energy, format!("{} kWh", kwh(s.energy))),
    ];
    if let Some(p) = s.power {
        facts.push(Fact::new(
            t.ops_power,
            format!("{:.1} kW", p.0 as f64 / 1000.0),
        ));
    }
    if let Some(soc) = s.soc_percent {
        facts.push(Fact::new(t.ops_soc, format!("{soc}%")));
    }
    if let Some(r) = &s.stop_reason {
        facts.push(Fact::new(t.ops_stop_reason, r.clone()));
    }
    if let Some(r) = &s.review_reason {
        facts.push(Fact::new(t.ops_review, r.clone()));
    }
    let lines = s.cost.as_ref().map_or_else(Vec::new, |c| {
        c.lines
            .iter()
            .map(|l| CostLineView {
                period: format!(
                    "{} – {}",
                    fmt_time(&state, l.start),
                    fmt_time(&state, l.end)
                ),
                label: t.period(l.label),
                energy: kwh(l.energy),
                electricity_price: l.electricity_price.to_string(),
                service_price: l.service_price.to_string(),
                fee: cny(l.electricity_fee + l.service_fee),
            })
            .collect()
    });
    let path = format!("/console/sessions/{sid}");
    render(
        StatusCode::OK,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Sessions), &path),
            id: sid.to_string(),
            state: s.state.as_str(),
            state_label: session_state(s.state, t),
            facts,
            steps,
            energy_chart,
            power_chart,
            samples: table,
            lines,
            total: s.cost.as_ref().map_or_else(String::new, |c| cny(c.total)),
            cdr: cdr.filter(|_| staff.can(Permission::ViewSessions)),
            partner_id: s.partner_id.map(|p| p.to_string()),
        },
    )
}
