//! What the operator screens of sessions, CDRs, statements and partners share: how energy and
//! money are written, the local-day filters (a date typed in the operator's zone becomes a UTC
//! range), the choice lists of the filter forms, and turning core's errors into a page or a
//! form message.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use openpile_core::energy::Wh;
use openpile_core::error::CoreError;
use openpile_core::money::Money;
use openpile_core::page::PageRequest;
use openpile_core::session::SessionState;

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::form::FieldErrors;
use crate::i18n::Messages;
use crate::page::url_encode;

/// Energy in kWh with three decimals (one Wh).
pub(crate) fn kwh(wh: Wh) -> String {
    format!("{:.3}", wh.kwh())
}

/// An amount in yuan with two decimals.
pub(crate) fn cny(m: Money) -> String {
    format!("{:.2}", m.amount())
}

/// The UTC instant a local day starts at, in the operator's zone.
pub(crate) fn day_start(state: &ConsoleState, day: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    state
        .config
        .timezone
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Today in the operator's zone, as `[start, end)` in UTC.
pub(crate) fn today(state: &ConsoleState) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = state
        .clock
        .now()
        .with_timezone(&state.config.timezone)
        .date_naive();
    Some((
        day_start(state, day)?,
        day_start(state, day.checked_add_days(Days::new(1))?)?,
    ))
}

/// A `from`/`to` pair of local dates (`YYYY-MM-DD`, both inclusive) as a UTC range
/// `[from 00:00, the day after to 00:00)`. A malformed date or a `to` before `from` is a
/// message on that field.
pub(crate) fn date_range(
    state: &ConsoleState,
    from: &str,
    to: &str,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let parse = |field: &str, s: &str, errors: &mut FieldErrors| -> Option<NaiveDate> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        if day.is_none() {
            errors.add(field, t.ops_err_date);
        }
        day
    };
    let from_day = parse("from", from, errors);
    let to_day = parse("to", to, errors);
    if let (Some(f), Some(e)) = (from_day, to_day)
        && e < f
    {
        errors.add("to", t.ops_err_date_order);
        return (None, None);
    }
    (
        from_day.and_then(|d| day_start(state, d)),
        to_day
            .and_then(|d| d.checked_add_days(Days::new(1)))
            .and_then(|d| day_start(state, d)),
    )
}

/// A page of a list: `after` is the cursor of the "next" link followed, empty on the first
/// page.
pub(crate) fn page_after(limit: u32, after: &str) -> PageRequest {
    PageRequest {
        limit,
        after: Some(after.to_owned()).filter(|a| !a.is_empty()),
    }
}

/// A list's "next page" link: `base` with the filters kept (empty ones left out) and
/// `after` set; no link when there is no next page.
pub(crate) fn next_href(
    base: &str,
    params: &[(&str, &str)],
    after: Option<&str>,
) -> Option<String> {
    let after = after?;
    let mut q: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    q.push(format!("after={}", url_encode(after)));
    Some(format!("{base}?{}", q.join("&")))
}

/// A filter picked from a list: empty is "all" (`None`); a value `parse` does not know puts
/// `message` on `field` (the list only offers known values, so it was typed or stale).
pub(crate) fn picked<T>(
    value: &str,
    field: &str,
    message: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
    errors: &mut FieldErrors,
) -> Option<T> {
    if value.is_empty() {
        return None;
    }
    let parsed = parse(value);
    if parsed.is_none() {
        errors.add(field, message);
    }
    parsed
}

/// One labelled value of a detail page (a session, a CDR, a statement, a partner).
pub(crate) struct Fact {
    pub(crate) label: &'static str,
    pub(crate) value: String,
}

impl Fact {
    pub(crate) fn new(label: &'static str, value: impl Into<String>) -> Self {
        Self {
            label,
            value: value.into(),
        }
    }
}

/// One option of a filter's `<select>`.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

impl Choice {
    pub(crate) fn new(value: impl Into<String>, label: impl Into<String>, current: &str) -> Self {
        let value = value.into();
        Self {
            selected: value == current,
            value,
            label: label.into(),
        }
    }
}

/// A filter's choices: "all" (the empty value) first, then `(value, label)` in order;
/// `current` is selected.
pub(crate) fn all_and<V, L>(
    t: &'static Messages,
    current: &str,
    options: impl IntoIterator<Item = (V, L)>,
) -> Vec<Choice>
where
    V: Into<String>,
    L: Into<String>,
{
    std::iter::once(Choice::new("", t.ops_all, current))
        .chain(options.into_iter().map(|(v, l)| Choice::new(v, l, current)))
        .collect()
}

/// Every partner as a filter choice (id → name), with "all" first.
pub(crate) async fn partner_choices(
    state: &ConsoleState,
    current: &str,
    t: &'static Messages,
) -> Result<Vec<Choice>, ConsoleError> {
    let partners = match state.partners() {
        Ok(partners) => {
            partners
                .list_partners(&PageRequest::first(PageRequest::MAX_LIMIT))
                .await
                .map_err(core_error)?
                .items
        }
        Err(_) => Vec::new(),
    };
    Ok(all_and(
        t,
        current,
        partners.into_iter().map(|p| (p.id.to_string(), p.name)),
    ))
}

/// Every station as a filter choice, with "all" first.
pub(crate) async fn station_choices(
    state: &ConsoleState,
    current: &str,
    t: &'static Messages,
) -> Result<Vec<Choice>, ConsoleError> {
    let stations = crate::network::all_stations(state).await?;
    Ok(all_and(
        t,
        current,
        stations
            .into_iter()
            .map(|s| (s.id.to_string(), format!("{} · {}", s.id, s.name))),
    ))
}

/// The words for a session state.
pub(crate) fn session_state(s: SessionState, t: &'static Messages) -> &'static str {
    match s.as_str() {
        "pending" => t.ops_state_pending,
        "starting" => t.ops_state_starting,
        "charging" => t.ops_state_charging,
        "stopping" => t.ops_state_stopping,
        "completed" => t.ops_state_completed,
        "failed" => t.ops_state_failed,
        "finishing" => t.ops_state_finishing,
        _ => t.ops_state_other,
    }
}

/// A core error on a page that is not a form: not found, forbidden, or a failure.
pub(crate) fn core_error(e: CoreError) -> ConsoleError {
    match e {
        CoreError::NotFound { .. } => ConsoleError::NotFound,
        CoreError::Forbidden | CoreError::Unauthorized => ConsoleError::Forbidden,
        CoreError::Store(s) => ConsoleError::Store(s),
        other => ConsoleError::internal(other),
    }
}

/// A core error answering a form: the rule that was broken, as a message on `field` (or on
/// the form); anything else is an error page.
pub(crate) fn form_error(
    e: CoreError,
    field: &str,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Result<(), ConsoleError> {
    match e {
        CoreError::Validation(v) if v.field == field || v.field == "reason" => {
            let target = if v.field == "reason" { "reason" } else { field };
            errors.add(target, format!("{} ({})", t.ops_err_rule, v.reason));
        }
        CoreError::Validation(v) => {
            errors.add("form", format!("{} ({v})", t.ops_err_rule));
        }
        CoreError::InvalidState(s) => errors.add("form", format!("{} ({s})", t.ops_err_state)),
        CoreError::Conflict(c) => errors.add("form", format!("{} ({c})", t.ops_err_state)),
        other => return Err(core_error(other)),
    }
    Ok(())
}

/// A reason typed in a form: 1–500 characters after trimming.
pub(crate) fn reason(s: &str, t: &'static Messages, errors: &mut FieldErrors) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        errors.add("reason", t.ops_err_reason);
        return None;
    }
    if s.chars().count() > 500 {
        errors.add("reason", t.ops_err_reason_long);
        return None;
    }
    Some(s.to_owned())
}

/// A positive amount in yuan with at most two decimals (as the admin API reads one), or a
/// message on `field`. Empty is `Ok(None)`: the caller decides whether that is allowed.
pub(crate) fn positive_amount(
    field: &str,
    s: &str,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<Option<Money>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(None);
    }
    match Money::parse_amount(field, s) {
        Ok(m) if !m.is_negative() && m != Money::ZERO => Some(Some(m)),
        Ok(_) => {
            errors.add(field, t.ops_err_amount_positive);
            None
        }
        Err(_) => {
            errors.add(field, t.ops_err_amount);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::EN;

    #[test]
    fn figures_are_written_with_fixed_decimals() {
        assert_eq!(kwh(Wh(12_345)), "12.345");
        assert_eq!(kwh(Wh(-500)), "-0.500");
        assert_eq!(
            cny(Money::new(rust_decimal::Decimal::new(1234, 1))),
            "123.40"
        );
    }

    #[test]
    fn amounts_are_positive_with_two_decimals() {
        let mut e = FieldErrors::default();
        assert_eq!(positive_amount("amount", "", &EN, &mut e), Some(None));
        assert_eq!(
            positive_amount("amount", "12.5", &EN, &mut e),
            Some(Some(Money::new(rust_decimal::Decimal::new(125, 1))))
        );
        assert!(!e.any());
        assert_eq!(positive_amount("amount", "1.234", &EN, &mut e), None);
        assert_eq!(e.get("amount"), Some(EN.ops_err_amount));
        let mut e = FieldErrors::default();
        assert_eq!(positive_amount("amount", "-3", &EN, &mut e), None);
        assert_eq!(e.get("amount"), Some(EN.ops_err_amount_positive));
    }

    #[test]
    fn next_links_keep_the_filters_that_are_set() {
        let filters = [("partner", "p 1"), ("state", ""), ("from", "2026-01-01")];
        assert_eq!(
            next_href("", &filters, Some("c 9")).as_deref(),
            Some("?partner=p%201&from=2026-01-01&after=c%209")
        );
        assert_eq!(
            next_href("/portal/cdrs", &[("from", "")], Some("x")).as_deref(),
            Some("/portal/cdrs?after=x")
        );
        assert_eq!(next_href("", &filters, None), None);
        assert_eq!(page_after(25, "").after, None);
        assert_eq!(page_after(25, "c9").after.as_deref(), Some("c9"));
    }

    #[test]
    fn a_filter_choice_is_all_known_or_an_error() {
        let parse = |s: &str| (s == "ok").then_some(1);
        let mut e = FieldErrors::default();
        assert_eq!(picked("", "state", EN.ops_err_choice, parse, &mut e), None);
        assert_eq!(
            picked("ok", "state", EN.ops_err_choice, parse, &mut e),
            Some(1)
        );
        assert!(!e.any());
        assert_eq!(
            picked("no", "state", EN.ops_err_choice, parse, &mut e),
            None
        );
        assert_eq!(e.get("state"), Some(EN.ops_err_choice));
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        let mut e = FieldErrors::default();
        assert_eq!(reason("  ok ", &EN, &mut e).as_deref(), Some("ok"));
        assert!(!e.any());
        assert_eq!(reason("   ", &EN, &mut e), None);
        assert_eq!(e.get("reason"), Some(EN.ops_err_reason));
        let mut e = FieldErrors::default();
        assert_eq!(reason(&"x".repeat(501), &EN, &mut e), None);
        assert_eq!(e.get("reason"), Some(EN.ops_err_reason_long));
    }
}
