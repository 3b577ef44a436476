//! The dashboard: chargers online and offline, connectors by status, and every station's
//! connectors as status chips, all kept current by the live stream (`events`). Active
//! sessions, today's energy and revenue, and delivery health per partner join it as the
//! charging, billing and partner-delivery capabilities land.

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
        },
    )
}
