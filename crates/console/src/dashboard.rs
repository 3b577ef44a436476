//! The dashboard: chargers online and offline, connectors by status, and every station's
//! connectors as status chips, all kept current by the live stream (`events`); with the
//! operator views on, also the sessions that are not over (count, and per station), today's
//! energy and revenue (the CDRs booked since local midnight in the configured zone; credits
//! count negative) and the webhook delivery health of every partner. Those figures are read
//! when the page loads; the connector chips are the live part.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::status::ConnectorStatus;

use crate::ConsoleState;
use crate::auth::Staff;
use crate::error::ConsoleError;
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::network::{StationRow, live_url, station_rows};
use crate::page::{Chrome, render};
use crate::partners::{HealthSummary, health_summary};
use crate::views::{cny, kwh, today};

pub(crate) struct StatusCount {
    pub(crate) status: &'static str,
    pub(crate) label: &'static str,
    pub(crate) count: usize,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    t: &'static Messages,
    chrome: Chrome,
    live_url: String,
    chargers_online: usize,
    chargers_offline: usize,
    status_counts: Vec<StatusCount>,
    stations: Vec<StationRow>,
    ops: Option<OpsFigures>,
}

/// Sessions not over at one station.
struct ActiveAt {
    station_id: String,
    name: String,
    active: u64,
}

/// What the operator views add to the dashboard.
struct OpsFigures {
    active_total: u64,
    active: Vec<ActiveAt>,
    today_energy: String,
    today_revenue: String,
    today_cdrs: u64,
    health: Vec<HealthSummary>,
    show_sessions: bool,
    show_partners: bool,
}

async fn ops_figures(
    state: &ConsoleState,
    staff: &Staff,
    stations: &[StationRow],
) -> Result<Option<OpsFigures>, ConsoleError> {
    let Ok(ops) = state.ops() else {
        return Ok(None);
    };
    let t = staff.t();
    let active: Vec<ActiveAt> = ops
        .views
        .active_sessions_by_station()
        .await?
        .into_iter()
        .map(|a| ActiveAt {
            name: stations
                .iter()
                .find(|s| s.id == a.station_id.as_str())
                .map_or_else(String::new, |s| s.name.clone()),
            station_id: a.station_id.to_string(),
            active: a.active,
        })
        .collect();
    let totals = match today(state) {
        Some((from, to)) => Some(ops.views.booked_totals(from, to).await?),
        None => None,
    };
    let health = ops
        .views
        .delivery_health(None)
        .await?
        .iter()
        .map(|h| health_summary(state, h, t))
        .collect();
    Ok(Some(OpsFigures {
        active_total: active.iter().map(|a| a.active).sum(),
        active,
        today_energy: totals.map_or_else(String::new, |x| kwh(x.energy)),
        today_revenue: totals.map_or_else(String::new, |x| cny(x.revenue)),
        today_cdrs: totals.map_or(0, |x| x.cdrs),
        health,
        show_sessions: staff.can(Permission::ViewSessions),
        show_partners: staff.can(Permission::ViewPartners),
    }))
}

/// `GET /console`
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let t = staff.t();
    // Taken before reading, so the stream replays anything that changes while we read.
    let live_url = live_url(&state, None, None);
    let (stations, chargers, connectors) = station_rows(&state, t, |_| true).await?;
    let online = chargers
        .iter()
        .filter(|c| state.gateway.is_connected(&c.charger.id))
        .count();
    let status_counts = ConnectorStatus::ALL
        .into_iter()
        .map(|s| StatusCount {
            status: s.as_str(),
            label: t.status(s),
            count: connectors.iter().filter(|c| c.state.status == s).count(),
        })
        .collect();
    let ops = ops_figures(&state, &staff, &stations).await?;
    render(
        StatusCode::OK,
        &DashboardPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Dashboard), "/console"),
            live_url,
            chargers_online: online,
            chargers_offline: chargers.len() - online,
            status_counts,
            stations,
            ops,
        },
    )
}
