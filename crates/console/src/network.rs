//! Network screens: the station list, a station with its chargers and connectors, and a charger
//! with its connectors and (for network managers) the remote-command and OCPP-password forms.
//! Also the loaders and view pieces the dashboard and the live stream share.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::error::StoreError;
use openpile_core::ids::{ChargerId, StationId};
use openpile_core::network::ConnectorView;
use openpile_core::network::Station;
use openpile_core::page::{Page, PageRequest};
use openpile_core::ports::{ChargerView, ConnectorFilter};

use crate::ConsoleState;
use crate::auth::Staff;
use crate::error::ConsoleError;
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::page::{Chrome, fmt_opt_time, fmt_time, render, url_encode};

/// Pages fetched at most by one loader: a bound on what one screen reads (10 000 rows).
const MAX_PAGES: usize = 20;
const PAGE: u32 = PageRequest::MAX_LIMIT;

/// Reads every page of a keyset-paginated list (up to `MAX_PAGES`).
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(PageRequest { limit: PAGE, after }).await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(out)
}

pub(crate) async fn all_stations(state: &ConsoleState) -> Result<Vec<Station>, StoreError> {
    all_pages(|p| async move { state.network.list_stations(&p, false).await }).await
}

pub(crate) async fn all_chargers(
    state: &ConsoleState,
    station: Option<&StationId>,
) -> Result<Vec<ChargerView>, StoreError> {
    let chargers =
        all_pages(|p| async move { state.network.list_chargers(station, &p).await }).await?;
    Ok(chargers
        .into_iter()
        .filter(|c| c.charger.retired_at.is_none())
        .collect())
}

pub(crate) async fn all_connectors(
    state: &ConsoleState,
    filter: &ConnectorFilter,
) -> Result<Vec<ConnectorView>, StoreError> {
    all_pages(|p| async move { state.network.list_connectors(filter, &p).await }).await
}

/// A connector as a status chip: its name, status word and colour class. The live script finds
/// it by `data-connector` and updates it in place.
#[derive(Debug, Clone)]
pub(crate) struct Chip {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: &'static str,
    pub(crate) status_label: &'static str,
    pub(crate) seq: i64,
    pub(crate) title: String,
}

impl Chip {
    pub(crate) fn of(state: &ConsoleState, c: &ConnectorView, t: &'static Messages) -> Self {
        Self {
            id: c.connector.id.to_string(),
            name: format!("{}#{}", c.connector.charger_id, c.connector.number),
            status: c.state.status.as_str(),
            status_label: t.status(c.state.status),
            seq: c.state.status_seq,
            title: fmt_time(state, c.state.changed_at),
        }
    }
}

/// The URL of the live stream for a page (scoped to a station or charger when given), starting
/// from the moment the page's data was read.
pub(crate) fn live_url(
    state: &ConsoleState,
    station: Option<&str>,
    charger: Option<&str>,
) -> String {
    let mut url = format!(
        "/console/events?since={}",
        url_encode(&state.clock.now().to_rfc3339())
    );
    if let Some(s) = station {
        url.push_str(&format!("&station={}", url_encode(s)));
    }
    if let Some(c) = charger {
        url.push_str(&format!("&charger={}", url_encode(c)));
    }
    url
}

/// Connectors grouped by charger id, in id order.
pub(crate) fn by_charger(connectors: Vec<ConnectorView>) -> HashMap<String, Vec<ConnectorView>> {
    let mut map: HashMap<String, Vec<ConnectorView>> = HashMap::new();
    for c in connectors {
        map.entry(c.connector.charger_id.to_string())
            .or_default()
            .push(c);
    }
    map
}

pub(crate) struct StationRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) district: String,
    pub(crate) status_label: &'static str,
    pub(crate) sandbox: bool,
    pub(crate) chargers_online: usize,
    pub(crate) chargers_total: usize,
    pub(crate) connectors: Vec<Chip>,
}

/// One row per station that `keep` accepts, with its chargers' connection counts and its
/// connectors' chips; also those chargers and connectors.
pub(crate) async fn station_rows(
    state: &ConsoleState,
    t: &'static Messages,
    keep: impl Fn(&Station) -> bool,
) -> Result<(Vec<StationRow>, Vec<ChargerView>, Vec<ConnectorView>), StoreError> {
    let stations: Vec<Station> = all_stations(state)
        .await?
        .into_iter()
        .filter(|s| keep(s))
        .collect();
    let kept: std::collections::HashSet<&StationId> = stations.iter().map(|s| &s.id).collect();
    let chargers: Vec<ChargerView> = all_chargers(state, None)
        .await?
        .into_iter()
        .filter(|c| kept.contains(&c.charger.station_id))
        .collect();
    let charger_ids: std::collections::HashSet<&ChargerId> =
        chargers.iter().map(|c| &c.charger.id).collect();
    let connectors: Vec<ConnectorView> = all_connectors(state, &ConnectorFilter::default())
        .await?
        .into_iter()
        .filter(|k| charger_ids.contains(&k.connector.charger_id))
        .collect();
    let mut chargers_at: HashMap<&str, Vec<&ChargerView>> = HashMap::new();
    for c in &chargers {
        chargers_at
            .entry(c.charger.station_id.as_str())
            .or_default()
            .push(c);
    }
    let station_of: HashMap<&str, &str> = chargers
        .iter()
        .map(|c| (c.charger.id.as_str(), c.charger.station_id.as_str()))
        .collect();
    let mut chips_at: HashMap<&str, Vec<Chip>> = HashMap::new();
    for k in &connectors {
        if let Some(st) = station_of.get(k.connector.charger_id.as_str()) {
            chips_at.entry(st).or_default().push(Chip::of(state, k, t));
        }
    }
    let rows = stations
        .iter()
        .map(|s| {
            let here = chargers_at
                .get(s.id.as_str())
                .map_or(&[][..], Vec::as_slice);
            StationRow {
                id: s.id.to_string(),
                name: s.name.clone(),
                district: format!("{} {}", s.city, s.district),
                status_label: t.station_status(s.status),
                sandbox: s.sandbox,
                chargers_online: here
                    .iter()
                    .filter(|c| state.gateway.is_connected(&c.charger.id))
                    .count(),
                chargers_total: here.len(),
                connectors: chips_at.remove(s.id.as_str()).unwrap_or_default(),
            }
        })
        .collect();
    Ok((rows, chargers, connectors))
}

#[derive(Template)]
#[template(path = "stations.html")]
struct StationsPage {
    t: &'static Messages,
    chrome: Chrome,
    live_url: String,
    stations: Vec<StationRow>,
    can_manage: bool,
}

/// `GET /console/stations`
pub(crate) async fn stations(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let t = staff.t();
    let live_url = live_url(&state, None, None);
    let (stations, _, _) = station_rows(&state, t, |_| true).await?;
    render(
        StatusCode::OK,
        &StationsPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Stations), "/console/stations"),
            live_url,
            stations,
            can_manage: staff.can(Permission::ManageNetwork),
        },
    )
}

struct StationFacts {
    id: String,
    name: String,
    address: String,
    district: String,
    area_code: String,
    opening_hours: String,
    service_phone: String,
    status_label: &'static str,
    sandbox: bool,
    tariff_id: String,
}

struct ChargerRow {
    id: String,
    online: bool,
    online_label: &'static str,
    last_seen: String,
    vendor: String,
    model: String,
    firmware: String,
    connectors: Vec<Chip>,
}

#[derive(Template)]
#[template(path = "station.html")]
struct StationPage {
    t: &'static Messages,
    chrome: Chrome,
    live_url: String,
    station: StationFacts,
    chargers: Vec<ChargerRow>,
    can_manage: bool,
    saved: bool,
}

fn station_id(id: &str) -> Result<StationId, ConsoleError> {
    StationId::parse(id).map_err(|_| ConsoleError::NotFound)
}

pub(crate) fn charger_id(id: &str) -> Result<ChargerId, ConsoleError> {
    ChargerId::parse(id).map_err(|_| ConsoleError::NotFound)
}

/// `?saved=1` after a form saved the page's object.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /console/stations/{id}`
pub(crate) async fn station(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let t = staff.t();
    let id = station_id(&id)?;
    let live_url = live_url(&state, Some(id.as_str()), None);
    let s = state.network.get_station(&id).await?;
    let chargers = all_chargers(&state, Some(&id)).await?;
    let mut connectors = by_charger(
        all_connectors(
            &state,
            &ConnectorFilter {
                station_id: Some(id.clone()),
                ..ConnectorFilter::default()
            },
        )
        .await?,
    );
    let none = t.not_set;
    let rows = chargers
        .iter()
        .map(|c| {
            let online = state.gateway.is_connected(&c.charger.id);
            ChargerRow {
                id: c.charger.id.to_string(),
                online,
                online_label: t.online(online),
                last_seen: fmt_opt_time(&state, c.last_seen_at, t),
                vendor: c.charger.vendor.clone(),
                model: c.charger.model.clone(),
                firmware: c.charger.firmware.clone().unwrap_or_else(|| none.into()),
                connectors: connectors
                    .remove(c.charger.id.as_str())
                    .unwrap_or_default()
                    .iter()
                    .map(|k| Chip::of(&state, k, t))
                    .collect(),
            }
        })
        .collect();
    let path = format!("/console/stations/{id}");
    render(
        StatusCode::OK,
        &StationPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Stations), &path),
            live_url,
            station: StationFacts {
                id: s.id.to_string(),
                name: s.name.clone(),
                address: s.address.clone(),
                district: format!("{} {} {}", s.province, s.city, s.district),
                area_code: s.area_code.to_string(),
                opening_hours: s.opening_hours.to_text(),
                service_phone: s.service_phone.clone(),
                status_label: t.station_status(s.status),
                sandbox: s.sandbox,
                tariff_id: s.tariff_id.to_string(),
            },
            chargers: rows,
            can_manage: staff.can(Permission::ManageNetwork),
            saved: q.saved.is_some(),
        },
    )
}

struct ChargerFacts {
    id: String,
    station_id: String,
    online: bool,
    online_label: &'static str,
    registration: &'static str,
    last_seen: String,
    last_boot: String,
    vendor: String,
    model: String,
    serial: String,
    firmware: String,
    max_power: String,
    current_type: &'static str,
    has_password: bool,
}

struct ConnectorRow {
    number: u32,
    standard: &'static str,
    max_power: String,
    chip: Chip,
}

#[derive(Template)]
#[template(path = "charger.html")]
struct ChargerPage {
    t: &'static Messages,
    chrome: Chrome,
    live_url: String,
    c: ChargerFacts,
    connectors: Vec<ConnectorRow>,
    can_manage: bool,
    saved: bool,
}

/// `GET /console/chargers/{id}`
pub(crate) async fn charger(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let t = staff.t();
    let id = charger_id(&id)?;
    let live_url = live_url(&state, None, Some(id.as_str()));
    let view = state.network.get_charger(&id).await?;
    let connectors = all_connectors(
        &state,
        &ConnectorFilter {
            charger_id: Some(id.clone()),
            ..ConnectorFilter::default()
        },
    )
    .await?;
    let online = state.gateway.is_connected(&id);
    let ch = &view.charger;
    let none = || t.not_set.to_owned();
    let facts = ChargerFacts {
        id: ch.id.to_string(),
        station_id: ch.station_id.to_string(),
        online,
        online_label: t.online(online),
        registration: t.registration(ch.registration),
        last_seen: fmt_opt_time(&state, view.last_seen_at, t),
        last_boot: fmt_opt_time(&state, view.last_boot_at, t),
        vendor: ch.vendor.clone(),
        model: ch.model.clone(),
        serial: ch.serial.clone().unwrap_or_else(none),
        firmware: ch.firmware.clone().unwrap_or_else(none),
        max_power: ch.max_power_kw.normalize().to_string(),
        current_type: ch.current_type.as_str(),
        has_password: view.has_password,
    };
    let rows = connectors
        .iter()
        .map(|k| ConnectorRow {
            number: k.connector.number.get(),
            standard: k.connector.standard.as_str(),
            max_power: k.connector.max_power_kw.normalize().to_string(),
            chip: Chip::of(&state, k, t),
        })
        .collect();
    let path = format!("/console/chargers/{id}");
    render(
        StatusCode::OK,
        &ChargerPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Stations), &path),
            live_url,
            c: facts,
            connectors: rows,
            can_manage: staff.can(Permission::ManageNetwork),
            saved: q.saved.is_some(),
        },
    )
}
