//! Creating and editing stations, chargers and connectors. Each form is read field by field
//! with core's own parsers (`StationId::parse`, `AreaCode::parse`, `Coordinates::new`,
//! `OpeningHours::parse`, `CurrentType::parse`, …) and then core's `validate` — the same code
//! the admin API and the importer run — so the console accepts exactly what they accept and
//! states no rule of its own. A rule that fails is shown on its field: the field's name in the
//! operator's language with core's reason.
//!
//! The three forms share one template (`ops_network_form.html`) driven by a list of
//! [`FieldView`]s. Changing the network needs `Permission::ManageNetwork` (admin, operations);
//! every change is audited (`station.create`, `station.update`, `charger.create`, …).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::ConnectorNumber;
use openpile_core::ids::{ChargerId, ConnectorId, StationId, TariffId};
use openpile_core::money::parse_plain_decimal;
use openpile_core::network::{
    AreaCode, Charger, Connector, ConnectorStandard, CurrentType, OpeningHours, Registration,
    Station, StationStatus,
};
use openpile_core::page::PageRequest;
use serde_json::json;

use crate::ConsoleState;
use crate::audit;
use crate::auth::{Staff, redirect};
use crate::error::{ConsoleError, exists};
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::nonce::{NonceGuard, claim_or_return};
use crate::page::{Chrome, render, url_encode};
use crate::views::Choice;

/// One field of a form as the template draws it.
pub(crate) struct FieldView {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    /// `text`, `number`, `select`, `textarea` or `checkbox`.
    pub(crate) kind: &'static str,
    pub(crate) value: String,
    pub(crate) options: Vec<Choice>,
    pub(crate) required: bool,
    pub(crate) readonly: bool,
    pub(crate) hint: &'static str,
}

fn text(name: &'static str, label: &'static str, value: &str, required: bool) -> FieldView {
    FieldView {
        name,
        label,
        kind: "text",
        value: value.to_owned(),
        options: Vec::new(),
        required,
        readonly: false,
        hint: "",
    }
}

fn select(
    name: &'static str,
    label: &'static str,
    current: &str,
    options: Vec<(String, String)>,
) -> FieldView {
    FieldView {
        name,
        label,
        kind: "select",
        value: current.to_owned(),
        options: options
            .into_iter()
            .map(|(v, l)| Choice::new(v, l, current))
            .collect(),
        required: true,
        readonly: false,
        hint: "",
    }
}

#[derive(Template)]
#[template(path = "ops_network_form.html")]
struct FormPage {
    t: &'static Messages,
    chrome: Chrome,
    heading: String,
    back: String,
    action: String,
    fields: Vec<FieldView>,
    errors: FieldErrors,
}

/// Where a form stands: its heading, the page "back" leads to and the URL it posts to. The
/// GET handler and the POST handler of one form build it with the same function, so a form
/// shown again with its errors reads exactly as it did first.
struct Target {
    heading: String,
    back: String,
    action: String,
}

fn form_page(
    staff: &Staff,
    target: Target,
    fields: Vec<FieldView>,
    errors: FieldErrors,
) -> Result<Response, ConsoleError> {
    let Target {
        heading,
        back,
        action,
    } = target;
    let status = errors.status();
    render(
        status,
        &FormPage {
            t: staff.t(),
            chrome: Chrome::for_staff(staff, Some(Screen::Stations), &action),
            heading,
            back,
            action,
            fields,
            errors,
        },
    )
}

/// Puts core's error on the field it names (`photos[2]` → `photos`), with the field's label
/// in the operator's language; a field the form does not have goes on the form.
fn place(
    e: &ValidationError,
    fields: &[FieldView],
    rename: &[(&str, &str)],
    t: &'static Messages,
    errors: &mut FieldErrors,
) {
    let head = e.field.split(['[', '.']).next().unwrap_or(e.field.as_str());
    let head = rename
        .iter()
        .find(|(from, _)| *from == head)
        .map_or(head, |(_, to)| *to);
    match fields.iter().find(|f| f.name == head) {
        Some(f) => errors.add(f.name, invalid(t, e)),
        None => errors.add("form", format!("{} ({e})", t.ops_err_invalid_field)),
    }
}

/// Core's reason for a field that did not parse, as the form shows it.
fn invalid(t: &'static Messages, e: &ValidationError) -> String {
    format!("{}: {}", t.ops_err_invalid_field, e.reason)
}

/// Runs core's `validate` result for a value read from a form: the value when it passed,
/// otherwise core's error placed on its field.
fn validated<T>(
    value: T,
    check: Result<(), ValidationError>,
    fields: &[FieldView],
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<T> {
    match check {
        Ok(()) => Some(value),
        Err(e) => {
            place(&e, fields, &[], t, errors);
            None
        }
    }
}

/// A saved change as the audit log records it: `{kind}.create` or `{kind}.update` on
/// `{kind}:{id}`, with what changed.
struct Change<'a> {
    kind: &'static str,
    id: &'a str,
    created: bool,
    details: serde_json::Value,
}

/// The end of every successful save: the audit entry, the nonce marked done with the page
/// it led to, and the redirect there.
async fn saved(
    state: &ConsoleState,
    staff: &Staff,
    guard: NonceGuard,
    change: Change<'_>,
    to: String,
) -> Result<Response, ConsoleError> {
    let verb = if change.created { "create" } else { "update" };
    audit::record(
        state,
        staff.actor(),
        &format!("{}.{verb}", change.kind),
        format!("{}:{}", change.kind, change.id),
        change.details,
    )
    .await?;
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

/// The gate of every network form: `ManageNetwork`, and the id in the path (one that does
/// not parse names nothing, so it is not found).
fn gate<T>(
    staff: &Staff,
    id: String,
    parse: impl FnOnce(String) -> Result<T, ValidationError>,
) -> Result<T, ConsoleError> {
    staff.require(Permission::ManageNetwork)?;
    parse(id).map_err(|_| ConsoleError::NotFound)
}

async fn tariff_options(state: &ConsoleState) -> Result<Vec<(String, String)>, ConsoleError> {
    Ok(state
        .network
        .list_tariffs(&PageRequest::first(PageRequest::MAX_LIMIT))
        .await?
        .items
        .into_iter()
        .map(|t| (t.id.to_string(), format!("{} · {}", t.id, t.name)))
        .collect())
}

// ---- stations ---------------------------------------------------------------------------

fn station_target(t: &'static Messages, existing: Option<&StationId>) -> Target {
    match existing {
        Some(id) => Target {
            heading: format!("{} {}", t.ops_edit_station, id),
            back: format!("/console/stations/{id}"),
            action: format!("/console/stations/{id}/edit"),
        },
        None => Target {
            heading: t.ops_new_station.to_owned(),
            back: "/console/stations".to_owned(),
            action: "/console/stations/new".to_owned(),
        },
    }
}

fn station_fields(
    t: &'static Messages,
    form: &dyn Fn(&str) -> String,
    new: bool,
    tariffs: Vec<(String, String)>,
) -> Vec<FieldView> {
    let statuses = [
        StationStatus::Planned,
        StationStatus::Operational,
        StationStatus::Maintenance,
        StationStatus::Closed,
    ]
    .into_iter()
    .map(|s| (s.as_str().to_owned(), t.station_status(s).to_owned()))
    .collect();
    let mut id = text("id", t.station_id, &form("id"), true);
    id.readonly = !new;
    id.hint = t.ops_hint_station_id;
    let mut opening = text(
        "opening_hours",
        t.ops_opening_hours,
        &form("opening_hours"),
        true,
    );
    opening.hint = t.ops_hint_opening_hours;
    let mut photos = text("photos", t.ops_photos, &form("photos"), false);
    photos.kind = "textarea";
    photos.hint = t.ops_hint_photos;
    let mut lat = text("lat", t.ops_lat, &form("lat"), true);
    lat.kind = "number";
    let mut lng = text("lng", t.ops_lng, &form("lng"), true);
    lng.kind = "number";
    let mut sandbox = text("sandbox", t.sandbox, &form("sandbox"), false);
    sandbox.kind = "checkbox";
    vec![
        id,
        text("name", t.name, &form("name"), true),
        text("address", t.address, &form("address"), true),
        text("area_code", t.ops_area_code, &form("area_code"), true),
        text("province", t.ops_province, &form("province"), true),
        text("city", t.ops_city, &form("city"), true),
        text("district", t.district, &form("district"), true),
        lat,
        lng,
        select(
            "datum",
            t.ops_datum,
            &form("datum"),
            vec![
                ("wgs84".into(), "WGS-84".into()),
                ("gcj02".into(), "GCJ-02".into()),
            ],
        ),
        opening,
        text("parking", t.ops_parking, &form("parking"), false),
        text(
            "service_phone",
            t.service_phone,
            &form("service_phone"),
            true,
        ),
        photos,
        select("status", t.station_status, &form("status"), statuses),
        select("tariff_id", t.tariff, &form("tariff_id"), tariffs),
        sandbox,
    ]
}

fn station_values(s: &Station) -> impl Fn(&str) -> String + '_ {
    move |name| match name {
        "id" => s.id.to_string(),
        "name" => s.name.clone(),
        "address" => s.address.clone(),
        "area_code" => s.area_code.to_string(),
        "province" => s.province.clone(),
        "city" => s.city.clone(),
        "district" => s.district.clone(),
        "lat" => s.location.lat.to_string(),
        "lng" => s.location.lng.to_string(),
        "datum" => "wgs84".into(),
        "opening_hours" => s.opening_hours.to_text(),
        "parking" => s.parking.clone().unwrap_or_default(),
        "service_phone" => s.service_phone.clone(),
        "photos" => s.photos.join("\n"),
        "status" => s.status.as_str().into(),
        "tariff_id" => s.tariff_id.to_string(),
        "sandbox" => {
            if s.sandbox {
                "on".into()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// Reads a station from the form with core's parsers; every field that does not parse gets
/// its message, then core's `validate` runs on the whole.
fn read_station(
    form: &FormData,
    fixed_id: Option<&StationId>,
    fields: &[FieldView],
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<Station> {
    let v = |n: &str| form.get(n).trim().to_owned();
    let mut bad = |e: ValidationError, field: &'static str| errors.add(field, invalid(t, &e));
    let id = match fixed_id {
        Some(id) => Some(id.clone()),
        None => StationId::parse(v("id")).map_err(|e| bad(e, "id")).ok(),
    };
    let area = AreaCode::parse(&v("area_code"))
        .map_err(|e| bad(e, "area_code"))
        .ok();
    let number = |n: &str| v(n).parse::<f64>().ok();
    let datum = match v("datum").as_str() {
        "gcj02" => Datum::Gcj02,
        _ => Datum::Wgs84,
    };
    let location = match (number("lat"), number("lng")) {
        (Some(lat), Some(lng)) => Coordinates::new(lat, lng, datum)
            .map_err(|e| {
                let field = if e.field == "lng" { "lng" } else { "lat" };
                bad(e, field);
            })
            .ok(),
        (lat, lng) => {
            if lat.is_none() {
                bad(ValidationError::new("lat", "must be a number"), "lat");
            }
            if lng.is_none() {
                bad(ValidationError::new("lng", "must be a number"), "lng");
            }
            None
        }
    };
    let hours = OpeningHours::parse(&v("opening_hours"))
        .map_err(|e| bad(e, "opening_hours"))
        .ok();
    let status = StationStatus::parse(&v("status"))
        .map_err(|e| bad(e, "status"))
        .ok();
    let tariff = TariffId::parse(v("tariff_id"))
        .map_err(|e| bad(e, "tariff_id"))
        .ok();
    let (
        Some(id),
        Some(area_code),
        Some(location),
        Some(opening_hours),
        Some(status),
        Some(tariff_id),
    ) = (id, area, location, hours, status, tariff)
    else {
        return None;
    };
    let station = Station {
        id,
        name: v("name"),
        address: v("address"),
        area_code,
        province: v("province"),
        city: v("city"),
        district: v("district"),
        location,
        opening_hours,
        parking: Some(v("parking")).filter(|p| !p.is_empty()),
        service_phone: v("service_phone"),
        photos: form
            .get("photos")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        status,
        tariff_id,
        sandbox: form.get("sandbox") == "on",
        retired_at: None,
    };
    let check = station.validate();
    validated(station, check, fields, t, errors)
}

/// `GET /console/stations/new`
pub(crate) async fn new_station(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageNetwork)?;
    let t = staff.t();
    let defaults = |n: &str| match n {
        "opening_hours" => "24/7".to_owned(),
        "status" => "operational".to_owned(),
        "datum" => "wgs84".to_owned(),
        _ => String::new(),
    };
    let tariffs = tariff_options(&state).await?;
    let fields = station_fields(t, &defaults, true, tariffs);
    form_page(
        &staff,
        station_target(t, None),
        fields,
        FieldErrors::default(),
    )
}

/// `GET /console/stations/{id}/edit`
pub(crate) async fn edit_station(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let sid = gate(&staff, id, StationId::parse)?;
    let station = state.network.get_station(&sid).await?;
    let tariffs = tariff_options(&state).await?;
    let values = station_values(&station);
    let fields = station_fields(t, &values, false, tariffs);
    form_page(
        &staff,
        station_target(t, Some(&sid)),
        fields,
        FieldErrors::default(),
    )
}

/// `POST /console/stations/new` and `POST /console/stations/{id}/edit`.
async fn save_station(
    state: &ConsoleState,
    staff: &Staff,
    existing: Option<StationId>,
    form: &FormData,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let guard = claim_or_return!(&state.nonces, form);
    let tariffs = tariff_options(state).await?;
    let fields = station_fields(
        t,
        &|n: &str| form.get(n).to_owned(),
        existing.is_none(),
        tariffs,
    );
    let target = station_target(t, existing.as_ref());
    let mut errors = FieldErrors::default();
    let Some(station) = read_station(form, existing.as_ref(), &fields, t, &mut errors) else {
        return form_page(staff, target, fields, errors);
    };
    // The tariff must exist; a new id must be free; a retired station stays retired.
    match state.network.tariff_versions(&station.tariff_id).await {
        Ok(v) if !v.is_empty() => {}
        Ok(_) | Err(StoreError::NotFound) => errors.add("tariff_id", t.ops_err_unknown_tariff),
        Err(e) => return Err(e.into()),
    }
    match (state.network.get_station(&station.id).await, &existing) {
        (Ok(_), None) => errors.add("id", t.ops_err_id_taken),
        (Ok(s), Some(_)) if s.retired_at.is_some() => errors.add("form", t.ops_err_retired),
        (Err(StoreError::NotFound), Some(_)) => return Err(ConsoleError::NotFound),
        (Ok(_) | Err(StoreError::NotFound), _) => {}
        (Err(e), _) => return Err(e.into()),
    }
    if errors.any() {
        return form_page(staff, target, fields, errors);
    }
    state.network.put_station(&station).await?;
    let details = json!({
        "name": station.name,
        "tariff_id": station.tariff_id.as_str(),
        "status": station.status.as_str(),
        "via": "console",
    });
    let id = station.id.as_str();
    let to = format!("/console/stations/{}?saved=1", url_encode(id));
    let change = Change {
        kind: "station",
        id,
        created: existing.is_none(),
        details,
    };
    saved(state, staff, guard, change, to).await
}

/// `POST /console/stations/new`
pub(crate) async fn create_station(
    State(state): State<ConsoleState>,
    staff: Staff,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    save_station(&state, &staff, None, &form).await
}

/// `POST /console/stations/{id}/edit`
pub(crate) async fn update_station(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    let sid = gate(&staff, id, StationId::parse)?;
    save_station(&state, &staff, Some(sid), &form).await
}

// ---- chargers ---------------------------------------------------------------------------

fn charger_target(
    t: &'static Messages,
    station: &StationId,
    existing: Option<&ChargerId>,
) -> Target {
    match existing {
        Some(id) => Target {
            heading: format!("{} {}", t.ops_edit_charger, id),
            back: format!("/console/chargers/{}", url_encode(id.as_str())),
            action: format!("/console/chargers/{}/edit", url_encode(id.as_str())),
        },
        None => Target {
            heading: format!("{} · {}", t.ops_new_charger, station),
            back: format!("/console/stations/{station}"),
            action: format!("/console/stations/{station}/chargers/new"),
        },
    }
}

fn charger_fields(
    t: &'static Messages,
    form: &dyn Fn(&str) -> String,
    new: bool,
) -> Vec<FieldView> {
    let mut id = text("id", t.ops_charger_id, &form("id"), true);
    id.readonly = !new;
    id.hint = t.ops_hint_charger_id;
    let mut station = text("station_id", t.station_id, &form("station_id"), true);
    station.readonly = true;
    let mut power = text(
        "max_power_kw",
        t.ops_max_power_kw,
        &form("max_power_kw"),
        true,
    );
    power.kind = "number";
    let mut disabled = text("disabled", t.ops_disabled, &form("disabled"), false);
    disabled.kind = "checkbox";
    disabled.hint = t.ops_hint_disabled;
    vec![
        id,
        station,
        text("vendor", t.ops_vendor, &form("vendor"), true),
        text("model", t.ops_model, &form("model"), true),
        text("serial", t.serial, &form("serial"), false),
        select(
            "current_type",
            t.ops_current_type,
            &form("current_type"),
            vec![("AC".into(), "AC".into()), ("DC".into(), "DC".into())],
        ),
        power,
        text("firmware", t.firmware, &form("firmware"), false),
        disabled,
    ]
}

fn read_charger(
    form: &FormData,
    fixed: Option<(&ChargerId, Registration)>,
    station: &StationId,
    fields: &[FieldView],
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<Charger> {
    let v = |n: &str| form.get(n).trim().to_owned();
    let opt = |n: &str| Some(v(n)).filter(|s| !s.is_empty());
    let mut bad = |e: ValidationError, field: &'static str| errors.add(field, invalid(t, &e));
    let id = match fixed {
        Some((id, _)) => Some(id.clone()),
        None => ChargerId::parse(v("id")).map_err(|e| bad(e, "id")).ok(),
    };
    let current = CurrentType::parse(&v("current_type"))
        .map_err(|e| bad(e, "current_type"))
        .ok();
    let power = parse_plain_decimal("max_power_kw", &v("max_power_kw"))
        .map_err(|e| bad(e, "max_power_kw"))
        .ok();
    let (Some(id), Some(current_type), Some(max_power_kw)) = (id, current, power) else {
        return None;
    };
    // As the admin API: disabling overrides what the charger had; enabling a disabled one
    // makes it provisioned again.
    let had = fixed.map_or(Registration::Provisioned, |(_, r)| r);
    let registration = match (form.get("disabled") == "on", had) {
        (true, _) => Registration::Disabled,
        (false, Registration::Disabled) => Registration::Provisioned,
        (false, r) => r,
    };
    let charger = Charger {
        id,
        station_id: station.clone(),
        vendor: v("vendor"),
        model: v("model"),
        serial: opt("serial"),
        current_type,
        max_power_kw,
        firmware: opt("firmware"),
        registration,
        retired_at: None,
    };
    let check = charger.validate();
    validated(charger, check, fields, t, errors)
}

fn charger_values(c: &Charger) -> impl Fn(&str) -> String + '_ {
    move |name| match name {
        "id" => c.id.to_string(),
        "station_id" => c.station_id.to_string(),
        "vendor" => c.vendor.clone(),
        "model" => c.model.clone(),
        "serial" => c.serial.clone().unwrap_or_default(),
        "current_type" => match c.current_type {
            CurrentType::Ac => "AC".into(),
            CurrentType::Dc => "DC".into(),
        },
        "max_power_kw" => c.max_power_kw.normalize().to_string(),
        "firmware" => c.firmware.clone().unwrap_or_default(),
        "disabled" => {
            if c.registration == Registration::Disabled {
                "on".into()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// `GET /console/stations/{id}/chargers/new`
pub(crate) async fn new_charger(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let sid = gate(&staff, id, StationId::parse)?;
    state.network.get_station(&sid).await?;
    let station = sid.to_string();
    let values = |n: &str| match n {
        "station_id" => station.clone(),
        "current_type" => "DC".to_owned(),
        _ => String::new(),
    };
    form_page(
        &staff,
        charger_target(t, &sid, None),
        charger_fields(t, &values, true),
        FieldErrors::default(),
    )
}

/// `GET /console/chargers/{id}/edit`
pub(crate) async fn edit_charger(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let cid = gate(&staff, id, ChargerId::parse)?;
    let view = state.network.get_charger(&cid).await?;
    let values = charger_values(&view.charger);
    form_page(
        &staff,
        charger_target(t, &view.charger.station_id, Some(&cid)),
        charger_fields(t, &values, false),
        FieldErrors::default(),
    )
}

async fn save_charger(
    state: &ConsoleState,
    staff: &Staff,
    station: StationId,
    existing: Option<Charger>,
    form: &FormData,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let guard = claim_or_return!(&state.nonces, form);
    let st = station.to_string();
    let values = |n: &str| {
        if n == "station_id" {
            st.clone()
        } else {
            form.get(n).to_owned()
        }
    };
    let fields = charger_fields(t, &values, existing.is_none());
    let target = charger_target(t, &station, existing.as_ref().map(|c| &c.id));
    let mut errors = FieldErrors::default();
    let fixed = existing.as_ref().map(|c| (&c.id, c.registration));
    let Some(charger) = read_charger(form, fixed, &station, &fields, t, &mut errors) else {
        return form_page(staff, target, fields, errors);
    };
    if existing.is_none() && exists(state.network.get_charger(&charger.id).await)? {
        errors.add("id", t.ops_err_id_taken);
    }
    if errors.any() {
        return form_page(staff, target, fields, errors);
    }
    state.network.put_charger(&charger, None).await?;
    let details = json!({
        "station_id": charger.station_id.as_str(),
        "max_power_kw": charger.max_power_kw.to_string(),
        "registration": charger.registration.as_str(),
        "via": "console",
    });
    let id = charger.id.as_str();
    let to = format!("/console/chargers/{}?saved=1", url_encode(id));
    let change = Change {
        kind: "charger",
        id,
        created: existing.is_none(),
        details,
    };
    saved(state, staff, guard, change, to).await
}

/// `POST /console/stations/{id}/chargers/new`
pub(crate) async fn create_charger(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    let sid = gate(&staff, id, StationId::parse)?;
    let station = state.network.get_station(&sid).await?;
    if station.retired_at.is_some() {
        return Err(ConsoleError::NotFound);
    }
    save_charger(&state, &staff, sid, None, &form).await
}

/// `POST /console/chargers/{id}/edit`
pub(crate) async fn update_charger(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    let cid = gate(&staff, id, ChargerId::parse)?;
    let view = state.network.get_charger(&cid).await?;
    if view.charger.retired_at.is_some() {
        return Err(ConsoleError::NotFound);
    }
    let station = view.charger.station_id.clone();
    save_charger(&state, &staff, station, Some(view.charger), &form).await
}

// ---- connectors -------------------------------------------------------------------------

fn connector_target(
    t: &'static Messages,
    charger: &ChargerId,
    existing: Option<&ConnectorId>,
) -> Target {
    let c = url_encode(charger.as_str());
    let (heading, action) = match existing {
        Some(id) => (
            format!("{} {}", t.ops_edit_connector, id),
            format!("/console/connectors/{}/edit", url_encode(id.as_str())),
        ),
        None => (
            format!("{} · {}", t.ops_new_connector, charger),
            format!("/console/chargers/{c}/connectors/new"),
        ),
    };
    Target {
        heading,
        back: format!("/console/chargers/{c}"),
        action,
    }
}

fn connector_fields(
    t: &'static Messages,
    form: &dyn Fn(&str) -> String,
    new: bool,
) -> Vec<FieldView> {
    let mut number = text("number", t.connector_no, &form("number"), true);
    number.kind = "number";
    number.readonly = !new;
    let mut id = text("id", t.connector_id, &form("id"), false);
    id.readonly = !new;
    id.hint = t.ops_hint_connector_id;
    let mut power = text(
        "max_power_kw",
        t.ops_max_power_kw,
        &form("max_power_kw"),
        true,
    );
    power.kind = "number";
    let mut volts = text("voltage_v", t.ops_voltage, &form("voltage_v"), true);
    volts.kind = "number";
    let mut amps = text("current_a", t.ops_current, &form("current_a"), true);
    amps.kind = "number";
    vec![
        number,
        id,
        select(
            "standard",
            t.standard,
            &form("standard"),
            ConnectorStandard::ALL
                .into_iter()
                .map(|s| (s.as_str().to_owned(), s.as_str().to_owned()))
                .collect(),
        ),
        power,
        volts,
        amps,
    ]
}

fn read_connector(
    form: &FormData,
    existing: Option<&Connector>,
    charger: &Charger,
    fields: &[FieldView],
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<Connector> {
    let v = |n: &str| form.get(n).trim().to_owned();
    let mut bad = |e: ValidationError, field: &'static str| errors.add(field, invalid(t, &e));
    let number = match existing {
        Some(c) => Some(c.number),
        None => match v("number").parse::<u32>() {
            Ok(n) => ConnectorNumber::new(n).map_err(|e| bad(e, "number")).ok(),
            Err(_) => {
                bad(
                    ValidationError::new("number", "must be a whole number"),
                    "number",
                );
                None
            }
        },
    };
    let id = match (existing, number) {
        (Some(c), _) => Some(c.id.clone()),
        (None, Some(n)) if v("id").is_empty() => ConnectorId::derive(&charger.id, n)
            .map_err(|e| bad(e, "id"))
            .ok(),
        (None, _) => ConnectorId::parse(v("id")).map_err(|e| bad(e, "id")).ok(),
    };
    let standard = ConnectorStandard::parse(&v("standard"))
        .map_err(|e| bad(e, "standard"))
        .ok();
    let power = parse_plain_decimal("max_power_kw", &v("max_power_kw"))
        .map_err(|e| bad(e, "max_power_kw"))
        .ok();
    let whole = |n: &'static str, bad: &mut dyn FnMut(ValidationError, &'static str)| {
        v(n).parse::<u32>()
            .map_err(|_| bad(ValidationError::new(n, "must be a whole number"), n))
            .ok()
    };
    let volts = whole("voltage_v", &mut bad);
    let amps = whole("current_a", &mut bad);
    let (
        Some(id),
        Some(number),
        Some(standard),
        Some(max_power_kw),
        Some(voltage_v),
        Some(current_a),
    ) = (id, number, standard, power, volts, amps)
    else {
        return None;
    };
    let connector = Connector {
        id,
        charger_id: charger.id.clone(),
        number,
        standard,
        max_power_kw,
        voltage_v,
        current_a,
        retired_at: None,
    };
    let check = connector.validate(charger);
    validated(connector, check, fields, t, errors)
}

fn connector_values(c: &Connector) -> impl Fn(&str) -> String + '_ {
    move |name| match name {
        "number" => c.number.to_string(),
        "id" => c.id.to_string(),
        "standard" => c.standard.as_str().into(),
        "max_power_kw" => c.max_power_kw.normalize().to_string(),
        "voltage_v" => c.voltage_v.to_string(),
        "current_a" => c.current_a.to_string(),
        _ => String::new(),
    }
}

/// `GET /console/chargers/{id}/connectors/new`
pub(crate) async fn new_connector(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let cid = gate(&staff, id, ChargerId::parse)?;
    state.network.get_charger(&cid).await?;
    let values = |n: &str| match n {
        "standard" => "gbt_dc".to_owned(),
        _ => String::new(),
    };
    form_page(
        &staff,
        connector_target(t, &cid, None),
        connector_fields(t, &values, true),
        FieldErrors::default(),
    )
}

/// `GET /console/connectors/{id}/edit`
pub(crate) async fn edit_connector(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let kid = gate(&staff, id, ConnectorId::parse)?;
    let view = state.network.get_connector(&kid).await?;
    let values = connector_values(&view.connector);
    form_page(
        &staff,
        connector_target(t, &view.connector.charger_id, Some(&kid)),
        connector_fields(t, &values, false),
        FieldErrors::default(),
    )
}

async fn save_connector(
    state: &ConsoleState,
    staff: &Staff,
    charger: Charger,
    existing: Option<Connector>,
    form: &FormData,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let guard = claim_or_return!(&state.nonces, form);
    let values = |n: &str| form.get(n).to_owned();
    let fields = connector_fields(t, &values, existing.is_none());
    let target = connector_target(t, &charger.id, existing.as_ref().map(|k| &k.id));
    let back = target.back.clone();
    let mut errors = FieldErrors::default();
    let Some(connector) =
        read_connector(form, existing.as_ref(), &charger, &fields, t, &mut errors)
    else {
        return form_page(staff, target, fields, errors);
    };
    if existing.is_none() {
        if exists(state.network.get_connector(&connector.id).await)? {
            errors.add("id", t.ops_err_id_taken);
        }
        if errors.any() {
            return form_page(staff, target, fields, errors);
        }
    }
    match state.network.put_connector(&connector).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            errors.add("number", t.ops_err_number_taken);
            return form_page(staff, target, fields, errors);
        }
        Err(e) => return Err(e.into()),
    }
    let details = json!({
        "charger_id": connector.charger_id.as_str(),
        "number": connector.number.get(),
        "standard": connector.standard.as_str(),
        "max_power_kw": connector.max_power_kw.to_string(),
        "via": "console",
    });
    let to = format!("{back}?saved=1");
    let id = connector.id.as_str();
    let change = Change {
        kind: "connector",
        id,
        created: existing.is_none(),
        details,
    };
    saved(state, staff, guard, change, to).await
}

/// `POST /console/chargers/{id}/connectors/new`
pub(crate) async fn create_connector(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    let cid = gate(&staff, id, ChargerId::parse)?;
    let view = state.network.get_charger(&cid).await?;
    if view.charger.retired_at.is_some() {
        return Err(ConsoleError::NotFound);
    }
    save_connector(&state, &staff, view.charger, None, &form).await
}

/// `POST /console/connectors/{id}/edit`
pub(crate) async fn update_connector(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    let kid = gate(&staff, id, ConnectorId::parse)?;
    let view = state.network.get_connector(&kid).await?;
    if view.connector.retired_at.is_some() {
        return Err(ConsoleError::NotFound);
    }
    let charger = state
        .network
        .get_charger(&view.connector.charger_id)
        .await?
        .charger;
    save_connector(&state, &staff, charger, Some(view.connector), &form).await
}
