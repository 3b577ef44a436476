//! Tariffs: the list (latest version of each), a tariff's versions, and the forms that create a
//! new tariff or schedule a new version. A version in force never changes, so "editing" a
//! tariff means scheduling the next version from a future time.
//!
//! The form is read field by field with messages in the operator's language; the day coverage
//! (no gap, no overlap) is core's `Tariff::new`, whose error names the segment, which we turn
//! back into a message on that row. The form works without JavaScript: "add a row" is a submit
//! button that re-renders the form with one more empty row.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Days, NaiveDateTime, TimeZone, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::ids::TariffId;
use openpile_core::money::{UnitPrice, parse_plain_decimal};
use openpile_core::page::PageRequest;
use openpile_core::tariff::{DayMinute, IdleFee, PeriodLabel, Tariff, TariffSegment};
use serde::Deserialize;
use serde_json::json;

use crate::ConsoleState;
use crate::audit;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::{Messages, fill, fill_all};
use crate::nav::{Permission, Screen};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_time, render};

const TARIFF_CONSTRAINT: &str = "tariffs_id_version_key";
/// Empty rows a form offers beyond the filled ones.
const SPARE_ROWS: usize = 2;
const MAX_ROWS: usize = 48;

struct ListRow {
    id: String,
    name: String,
    version: u32,
    effective_from: String,
    segment_count: usize,
}

#[derive(Template)]
#[template(path = "tariffs.html")]
struct ListPage {
    t: &'static Messages,
    chrome: Chrome,
    tariffs: Vec<ListRow>,
    can_manage: bool,
}

/// `GET /console/tariffs`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let page = state
        .network
        .list_tariffs(&PageRequest::first(PageRequest::MAX_LIMIT))
        .await?;
    let tariffs = page
        .items
        .into_iter()
        .map(|x| ListRow {
            id: x.id.to_string(),
            name: x.name.clone(),
            version: x.version,
            effective_from: fmt_time(&state, x.effective_from),
            segment_count: x.segments.len(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            t: staff.t(),
            chrome: Chrome::for_staff(&staff, Some(Screen::Tariffs), "/console/tariffs"),
            tariffs,
            can_manage: staff.can(Permission::ManageNetwork),
        },
    )
}

struct SegmentView {
    start: String,
    end: String,
    label: &'static str,
    electricity: String,
    service: String,
}

struct VersionView {
    version: u32,
    name: String,
    effective_from: String,
    in_force: bool,
    scheduled: bool,
    idle_fee: String,
    segments: Vec<SegmentView>,
}

#[derive(Template)]
#[template(path = "tariff.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    versions: Vec<VersionView>,
    can_manage: bool,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    saved: Option<u32>,
}

fn tariff_id(id: &str) -> Result<TariffId, ConsoleError> {
    TariffId::parse(id).map_err(|_| ConsoleError::NotFound)
}

/// `GET /console/tariffs/{id}`: every version, newest first.
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let t = staff.t();
    let id = tariff_id(&id)?;
    let versions = state.network.tariff_versions(&id).await?;
    let now = state.clock.now();
    let in_force = versions
        .iter()
        .filter(|v| v.effective_from <= now)
        .map(|v| v.version)
        .max();
    let views = versions
        .iter()
        .rev()
        .map(|v| VersionView {
            version: v.version,
            name: v.name.clone(),
            effective_from: fmt_time(&state, v.effective_from),
            in_force: Some(v.version) == in_force,
            scheduled: v.effective_from > now,
            idle_fee: v.idle_fee.as_ref().map_or_else(String::new, |f| {
                fill_all(t.idle_fee_value, &[&f.price_per_minute, &f.grace_minutes])
            }),
            segments: v
                .segments
                .iter()
                .map(|s| SegmentView {
                    start: s.start.to_string(),
                    end: s.end.to_string(),
                    label: t.period(s.label),
                    electricity: s.electricity_price.to_string(),
                    service: s.service_price.to_string(),
                })
                .collect(),
        })
        .collect();
    let path = format!("/console/tariffs/{id}");
    render(
        StatusCode::OK,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Tariffs), &path),
            id: id.to_string(),
            versions: views,
            can_manage: staff.can(Permission::ManageNetwork),
            notice: q.saved.map(|v| fill(t.version_saved, v)),
        },
    )
}

/// One row of the segment table, as typed.
#[derive(Debug, Clone, Default)]
struct Row {
    start: String,
    end: String,
    label: String,
    electricity: String,
    service: String,
    error: Option<String>,
}

impl Row {
    fn is_blank(&self) -> bool {
        [&self.start, &self.end, &self.electricity, &self.service]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    fn of(s: &TariffSegment) -> Self {
        Self {
            start: s.start.to_string(),
            end: s.end.to_string(),
            label: s.label.map_or("", PeriodLabel::as_str).to_owned(),
            electricity: s.electricity_price.to_string(),
            service: s.service_price.to_string(),
            error: None,
        }
    }
}

/// The form as typed.
#[derive(Debug, Clone, Default)]
struct Draft {
    tariff_id: String,
    name: String,
    effective_from: String,
    rows: Vec<Row>,
    idle_price: String,
    idle_grace: String,
}

impl Draft {
    fn from_form(form: &FormData) -> Self {
        let col = |name: &str| form.all(name);
        let (starts, ends, labels, els, svcs) = (
            col("start"),
            col("end"),
            col("label"),
            col("electricity"),
            col("service"),
        );
        let n = [starts.len(), ends.len(), els.len(), svcs.len()]
            .into_iter()
            .max()
            .unwrap_or(0)
            .min(MAX_ROWS);
        let at = |v: &Vec<&str>, i: usize| v.get(i).map_or(String::new(), |s| s.trim().to_owned());
        Self {
            tariff_id: form.get("tariff_id").trim().to_owned(),
            name: form.get("name").trim().to_owned(),
            effective_from: form.get("effective_from").trim().to_owned(),
            rows: (0..n)
                .map(|i| Row {
                    start: at(&starts, i),
                    end: at(&ends, i),
                    label: at(&labels, i),
                    electricity: at(&els, i),
                    service: at(&svcs, i),
                    error: None,
                })
                .collect(),
            idle_price: form.get("idle_price").trim().to_owned(),
            idle_grace: form.get("idle_grace").trim().to_owned(),
        }
    }

    fn with_spare_rows(mut self, spare: usize) -> Self {
        let filled = self.rows.iter().filter(|r| !r.is_blank()).count();
        self.rows.retain(|r| !r.is_blank() || r.error.is_some());
        let want = (filled + spare).min(MAX_ROWS);
        while self.rows.len() < want {
            self.rows.push(Row::default());
        }
        self
    }
}

/// Reads a price, telling exactly what is wrong with it.
fn price(s: &str, t: &'static Messages) -> Result<UnitPrice, &'static str> {
    if s.trim().is_empty() {
        return Err(t.err_required);
    }
    let d = parse_plain_decimal("price", s).map_err(|_| t.err_price_number)?;
    UnitPrice::new("price", d).map_err(|_| {
        if d.is_sign_negative() {
            t.err_price_negative
        } else if d.normalize().scale() > UnitPrice::MAX_SCALE {
            t.err_price_scale
        } else {
            t.err_price_high
        }
    })
}

fn time_of_day(s: &str, t: &'static Messages) -> Result<DayMinute, &'static str> {
    if s.trim().is_empty() {
        return Err(t.err_required);
    }
    DayMinute::parse("time", s).map_err(|_| t.err_time_format)
}

/// Reads `datetime-local` input (`2026-12-01T00:00`, seconds optional) in the operator's zone.
fn local_time(state: &ConsoleState, s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    state
        .config
        .timezone
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn to_local_input(state: &ConsoleState, t: DateTime<Utc>) -> String {
    t.with_timezone(&state.config.timezone)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The first stretch of the day no segment covers, as `HH:MM–HH:MM`.
fn first_gap(segments: &[TariffSegment]) -> Option<String> {
    let covered =
        |m: u16| DayMinute::new(m).is_some_and(|dm| segments.iter().any(|s| s.contains(dm)));
    let start = (0..24 * 60).find(|&m| !covered(m))?;
    let end = (start..24 * 60).find(|&m| covered(m)).unwrap_or(24 * 60);
    let fmt = |m: u16| DayMinute::new(m).map_or_else(String::new, |d| d.to_string());
    Some(format!("{}–{}", fmt(start), fmt(end)))
}

/// Where core's validation error belongs on the form, in the operator's words. `rows[i]` is
/// the form row of segment `i`.
fn place_core_error(
    e: &ValidationError,
    segments: &[TariffSegment],
    rows_of: &[usize],
    draft: &mut Draft,
    errors: &mut FieldErrors,
    t: &'static Messages,
) {
    let field = e.field.as_str();
    if let Some(rest) = field.strip_prefix("segments[") {
        let (index, tail) = rest.split_once(']').unwrap_or((rest, ""));
        let message = if tail == ".start" {
            t.err_segment_start
        } else {
            t.err_segment_overlap
        };
        if let Some(row) = index
            .parse::<usize>()
            .ok()
            .and_then(|i| rows_of.get(i))
            .and_then(|&r| draft.rows.get_mut(r))
        {
            row.error = Some(message.to_owned());
            errors.add("rows", message);
            return;
        }
    }
    match field {
        "name" => errors.add("name", t.err_tariff_name),
        "segments" => match first_gap(segments) {
            Some(gap) => errors.add("segments", fill(t.err_segments_gap, gap)),
            None => errors.add("segments", t.err_segments_empty),
        },
        "idle_fee.grace_minutes" => errors.add("idle_grace", t.err_grace),
        _ => errors.add("form", format!("{} ({})", t.err_invalid, e)),
    }
}

/// What the form is for.
struct Target {
    id: Option<TariffId>,
    version: u32,
    previous: Option<Tariff>,
}

/// Checks the whole draft; on success the version to store.
fn check(
    state: &ConsoleState,
    draft: &mut Draft,
    target: &Target,
    t: &'static Messages,
) -> Result<Tariff, FieldErrors> {
    let mut errors = FieldErrors::default();
    let id = match &target.id {
        Some(id) => Some(id.clone()),
        None => match TariffId::parse(draft.tariff_id.clone()) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("tariff_id", t.err_tariff_id);
                None
            }
        },
    };
    if draft.name.is_empty() || draft.name.chars().count() > 50 {
        errors.add("name", t.err_tariff_name);
    }
    let now = state.clock.now();
    let effective_from = if draft.effective_from.is_empty() {
        errors.add("effective_from", t.err_required);
        None
    } else {
        match local_time(state, &draft.effective_from) {
            None => {
                errors.add("effective_from", t.err_datetime_format);
                None
            }
            Some(at) if at <= now => {
                errors.add("effective_from", t.err_effective_past);
                None
            }
            Some(at) => match &target.previous {
                Some(p) if at <= p.effective_from => {
                    errors.add(
                        "effective_from",
                        fill(t.err_effective_before, fmt_time(state, p.effective_from)),
                    );
                    None
                }
                _ => Some(at),
            },
        }
    };

    let mut segments = Vec::new();
    let mut rows_of = Vec::new();
    for (r, row) in draft.rows.iter_mut().enumerate() {
        if row.is_blank() {
            continue;
        }
        let parsed = (|| {
            let start = time_of_day(&row.start, t)?;
            let end = time_of_day(&row.end, t)?;
            let label = match row.label.as_str() {
                "" => None,
                l => Some(PeriodLabel::parse(l).map_err(|_| t.err_invalid)?),
            };
            let electricity_price = price(&row.electricity, t)?;
            let service_price = price(&row.service, t)?;
            Ok::<_, &'static str>(TariffSegment {
                start,
                end,
                label,
                electricity_price,
                service_price,
            })
        })();
        match parsed {
            Ok(s) => {
                segments.push(s);
                rows_of.push(r);
            }
            Err(message) => {
                row.error = Some(message.to_owned());
                errors.add("rows", message);
            }
        }
    }
    if segments.is_empty() && !errors.has("rows") {
        errors.add("segments", t.err_segments_empty);
    }

    let idle_fee = match (draft.idle_price.is_empty(), draft.idle_grace.is_empty()) {
        (true, true) => None,
        (false, true) => {
            errors.add("idle_grace", t.err_idle_incomplete);
            None
        }
        (true, false) => {
            errors.add("idle_price", t.err_idle_incomplete);
            None
        }
        (false, false) => {
            let p = price(&draft.idle_price, t)
                .map_err(|m| errors.add("idle_price", m))
                .ok();
            let g = draft
                .idle_grace
                .parse::<u32>()
                .ok()
                .filter(|g| *g <= 24 * 60);
            if g.is_none() {
                errors.add("idle_grace", t.err_grace);
            }
            p.zip(g).map(|(price_per_minute, grace_minutes)| IdleFee {
                price_per_minute,
                grace_minutes,
            })
        }
    };

    if errors.any() {
        return Err(errors);
    }
    let (Some(id), Some(effective_from)) = (id, effective_from) else {
        return Err(errors);
    };
    match Tariff::new(
        id,
        draft.name.clone(),
        target.version,
        effective_from,
        segments.clone(),
        idle_fee,
    ) {
        Ok(tariff) => Ok(tariff),
        Err(e) => {
            place_core_error(&e, &segments, &rows_of, draft, &mut errors, t);
            Err(errors)
        }
    }
}

struct PeriodOption {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "tariff_form.html")]
struct FormPage {
    t: &'static Messages,
    chrome: Chrome,
    heading: String,
    action: String,
    new_tariff: bool,
    tariff_id: String,
    version: u32,
    name: String,
    effective_from: String,
    timezone: String,
    rows: Vec<Row>,
    idle_price: String,
    idle_grace: String,
    errors: FieldErrors,
    period_options: Vec<PeriodOption>,
}

fn form_page(
    state: &ConsoleState,
    staff: &Staff,
    target: &Target,
    draft: Draft,
    errors: FieldErrors,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let (heading, action) = match &target.id {
        Some(id) => (
            fill(t.tariff_new_version_heading, id),
            format!("/console/tariffs/{id}/versions/new"),
        ),
        None => (
            t.tariff_new_heading.to_owned(),
            "/console/tariffs/new".to_owned(),
        ),
    };
    let period_options = std::iter::once(None)
        .chain(
            [
                PeriodLabel::Sharp,
                PeriodLabel::Peak,
                PeriodLabel::Flat,
                PeriodLabel::Valley,
            ]
            .map(Some),
        )
        .map(|p| PeriodOption {
            value: p.map_or("", PeriodLabel::as_str),
            label: t.period(p),
        })
        .collect();
    let status = errors.status();
    render(
        status,
        &FormPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Tariffs), &action),
            heading,
            action: action.clone(),
            new_tariff: target.id.is_none(),
            tariff_id: target
                .id
                .as_ref()
                .map_or_else(|| draft.tariff_id.clone(), ToString::to_string),
            version: target.version,
            name: draft.name,
            effective_from: draft.effective_from,
            timezone: state.config.timezone.name().to_owned(),
            rows: draft.rows,
            idle_price: draft.idle_price,
            idle_grace: draft.idle_grace,
            errors,
            period_options,
        },
    )
}

/// The next version of an existing tariff.
async fn version_target(state: &ConsoleState, id: &str) -> Result<Target, ConsoleError> {
    let id = tariff_id(id)?;
    let versions = state.network.tariff_versions(&id).await?;
    let previous = versions.into_iter().max_by_key(|v| v.version);
    Ok(Target {
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        id: Some(id),
        previous,
    })
}

/// Tomorrow at midnight, local time: the usual start of a new version.
fn suggested_start(state: &ConsoleState) -> String {
    let tz = state.config.timezone;
    let today = state.clock.now().with_timezone(&tz).date_naive();
    today
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|n| tz.from_local_datetime(&n).earliest())
        .map_or_else(String::new, |t| {
            to_local_input(state, t.with_timezone(&Utc))
        })
}

/// `GET /console/tariffs/{id}/versions/new`: prefilled from the latest version.
pub(crate) async fn new_version_form(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageNetwork)?;
    let target = version_target(&state, &id).await?;
    let mut draft = Draft {
        effective_from: suggested_start(&state),
        ..Draft::default()
    };
    if let Some(p) = &target.previous {
        draft.name = p.name.clone();
        draft.rows = p.segments.iter().map(Row::of).collect();
        if let Some(f) = &p.idle_fee {
            draft.idle_price = f.price_per_minute.to_string();
            draft.idle_grace = f.grace_minutes.to_string();
        }
    }
    form_page(
        &state,
        &staff,
        &target,
        draft.with_spare_rows(SPARE_ROWS),
        FieldErrors::default(),
    )
}

/// `GET /console/tariffs/new`
pub(crate) async fn new_tariff_form(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageNetwork)?;
    let target = Target {
        id: None,
        version: 1,
        previous: None,
    };
    let draft = Draft {
        effective_from: suggested_start(&state),
        ..Draft::default()
    };
    form_page(
        &state,
        &staff,
        &target,
        draft.with_spare_rows(4),
        FieldErrors::default(),
    )
}

/// `POST /console/tariffs/{id}/versions/new`
pub(crate) async fn create_version(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    let target = version_target(&state, &id).await?;
    save(&state, &staff, &target, &form).await
}

/// `POST /console/tariffs/new`
pub(crate) async fn create_tariff(
    State(state): State<ConsoleState>,
    staff: Staff,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    let target = Target {
        id: None,
        version: 1,
        previous: None,
    };
    save(&state, &staff, &target, &form).await
}

async fn save(
    state: &ConsoleState,
    staff: &Staff,
    target: &Target,
    form: &FormData,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let mut draft = Draft::from_form(form);
    if form.get("intent") == "add_row" {
        let rows = draft.rows.len() + 1;
        draft.rows.resize_with(rows.min(MAX_ROWS), Row::default);
        return form_page(state, staff, target, draft, FieldErrors::default());
    }
    let guard = claim_or_return!(&state.nonces, form);
    let tariff = match check(state, &mut draft, target, t) {
        Ok(tariff) => tariff,
        Err(errors) => {
            return form_page(state, staff, target, draft.with_spare_rows(1), errors);
        }
    };
    if target.id.is_none() {
        match state.network.tariff_versions(&tariff.id).await {
            Err(StoreError::NotFound) => {}
            Ok(_) => return taken(state, staff, target, draft),
            Err(e) => return Err(e.into()),
        }
    }
    match state.network.put_tariff(&tariff).await {
        Ok(()) => {}
        Err(StoreError::Conflict { constraint }) if constraint == TARIFF_CONSTRAINT => {
            return taken(state, staff, target, draft);
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        state,
        staff.actor(),
        "tariff.version_create",
        format!("tariff:{}", tariff.id),
        json!({
            "version": tariff.version,
            "effective_from": tariff.effective_from,
            "segments": tariff.segments.len(),
            "via": "console",
        }),
    )
    .await?;
    let to = format!("/console/tariffs/{}?saved={}", tariff.id, tariff.version);
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

/// The id (new tariff) or version number (new version) was taken meanwhile.
fn taken(
    state: &ConsoleState,
    staff: &Staff,
    target: &Target,
    draft: Draft,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let mut errors = FieldErrors::default();
    if target.id.is_none() {
        errors.add("tariff_id", t.err_tariff_exists);
    } else {
        errors.add("form", t.err_version_conflict);
    }
    form_page(state, staff, target, draft.with_spare_rows(1), errors)
}

/// Ids of the rows with errors, for tests.
#[cfg(test)]
fn row_errors(d: &Draft) -> std::collections::HashSet<usize> {
    d.rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.error.is_some())
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{EN, ZH};
    use std::collections::HashSet;

    fn seg(a: &str, b: &str) -> TariffSegment {
        TariffSegment {
            start: DayMinute::parse("s", a).unwrap(),
            end: DayMinute::parse("e", b).unwrap(),
            label: None,
            electricity_price: UnitPrice::parse("p", "1").unwrap(),
            service_price: UnitPrice::parse("p", "1").unwrap(),
        }
    }

    #[test]
    fn prices_say_what_is_wrong() {
        assert_eq!(price("0.8500", &EN).unwrap().to_string(), "0.85");
        assert_eq!(price("abc", &EN).unwrap_err(), EN.err_price_number);
        assert_eq!(price("-1", &EN).unwrap_err(), EN.err_price_negative);
        assert_eq!(price("0.12345", &ZH).unwrap_err(), ZH.err_price_scale);
        assert_eq!(price("5000", &EN).unwrap_err(), EN.err_price_high);
        assert_eq!(price("", &EN).unwrap_err(), EN.err_required);
    }

    #[test]
    fn the_first_gap_is_found() {
        assert_eq!(
            first_gap(&[seg("00:00", "08:00"), seg("09:00", "24:00")]).as_deref(),
            Some("08:00–09:00")
        );
        assert_eq!(
            first_gap(&[seg("22:00", "08:00"), seg("08:00", "20:00")]).as_deref(),
            Some("20:00–22:00")
        );
        assert_eq!(first_gap(&[seg("00:00", "24:00")]), None);
    }

    #[test]
    fn core_errors_land_on_their_row() {
        let mut draft = Draft {
            rows: vec![Row::default(), Row::default(), Row::default()],
            ..Draft::default()
        };
        let mut errors = FieldErrors::default();
        // Segment 1 was typed in form row 2 (row 1 was blank).
        place_core_error(
            &ValidationError::new("segments[1]", "overlaps segments[0] at 08:00"),
            &[],
            &[0, 2],
            &mut draft,
            &mut errors,
            &EN,
        );
        assert_eq!(row_errors(&draft), HashSet::from([2]));
        assert!(errors.has("rows"));
    }
}
