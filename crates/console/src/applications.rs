//! Partner applications in the console: the review queue, an application with every revision
//! (fields changed since the previous revision are marked) and every decision, and the approve
//! (with contract terms, the revenue share asked fee by fee) and reject (reason required)
//! forms. Reviewers and admins decide; the decision, its notification to the applicant and its
//! audit entry are written by core's `PartnerService` in one transaction.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::error::CoreError;
use openpile_core::ids::StationId;
use openpile_core::money::parse_plain_decimal;
use openpile_core::page::PageRequest;
use openpile_core::partner::application::{
    Application, ApplicationForm, ApplicationStatus, DecisionOutcome, validate_reason,
};
use openpile_core::partner::contract::{
    Contract, RateLimit, RevenueShare, SettlementCycle, ShareRate, StationScope,
};
use openpile_core::partner::credential::{Scope, ScopeSet};
use serde::Deserialize;

use crate::ConsoleState;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::{Messages, fill};
use crate::nav::{Permission, Screen};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_time, render, url_encode};
use crate::views::core_error;

pub(crate) fn status_label(s: ApplicationStatus, t: &'static Messages) -> &'static str {
    match s {
        ApplicationStatus::Pending => t.app_pending,
        ApplicationStatus::Approved => t.app_approved,
        ApplicationStatus::Rejected => t.app_rejected,
    }
}

/// One field of a submitted form, labelled.
pub(crate) struct FieldView {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    /// Differs from the previous revision.
    pub(crate) changed: bool,
}

/// The fields of a form, in the order the applicant filled them in.
pub(crate) fn fields(
    form: &ApplicationForm,
    previous: Option<&ApplicationForm>,
    t: &'static Messages,
) -> Vec<FieldView> {
    let values = |f: &ApplicationForm| -> Vec<(&'static str, String)> {
        vec![
            (t.f_company_name, f.company_name.clone()),
            (
                t.f_unified_social_credit_code,
                f.unified_social_credit_code.to_string(),
            ),
            (t.f_legal_representative, f.legal_representative.clone()),
            (t.f_contact_name, f.contact_name.clone()),
            (t.f_mobile, f.mobile.as_str().to_owned()),
            (t.f_email, f.email.as_str().to_owned()),
            (
                t.f_website,
                f.website
                    .as_ref()
                    .map_or_else(|| t.not_set.to_owned(), |w| w.as_str().to_owned()),
            ),
            (t.f_intended_use, f.intended_use.clone()),
            (
                t.f_expected_monthly_volume,
                f.expected_monthly_volume.to_string(),
            ),
            (
                t.f_callback_base_url,
                f.callback_base_url.as_str().to_owned(),
            ),
        ]
    };
    let before = previous.map(values);
    values(form)
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| FieldView {
            label,
            changed: before
                .as_ref()
                .is_some_and(|b| b.get(i).is_some_and(|(_, v)| *v != value)),
            value,
        })
        .collect()
}

struct QueueRow {
    id: String,
    company: String,
    uscc: String,
    revision: u32,
    status: &'static str,
    status_label: &'static str,
    updated_at: String,
}

struct StatusFilter {
    value: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct QueuePage {
    t: &'static Messages,
    chrome: Chrome,
    rows: Vec<QueueRow>,
    filters: Vec<StatusFilter>,
    next: Option<String>,
    filter: &'static str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /console/applications?status=pending|approved|rejected|all`
pub(crate) async fn queue(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ReviewPartners)?;
    let partners = state.partners()?;
    let t = staff.t();
    let filter = q.status.as_deref().unwrap_or("pending");
    let status = ApplicationStatus::parse(filter);
    let filter: &'static str = status.map_or("all", ApplicationStatus::as_str);
    let page = partners
        .list_applications(
            status,
            &PageRequest {
                limit: 50,
                after: q.after.filter(|a| !a.is_empty()),
            },
        )
        .await
        .map_err(core_error)?;
    let rows = page
        .items
        .iter()
        .map(|a| {
            let form = a.current().map(|r| &r.form);
            QueueRow {
                id: a.id.clone(),
                company: form.map_or_else(String::new, |f| f.company_name.clone()),
                uscc: form.map_or_else(String::new, |f| f.unified_social_credit_code.to_string()),
                revision: a.revision,
                status: a.status.as_str(),
                status_label: status_label(a.status, t),
                updated_at: fmt_time(&state, a.updated_at),
            }
        })
        .collect();
    let filters = ["pending", "rejected", "approved", "all"]
        .into_iter()
        .map(|v| StatusFilter {
            value: v,
            label: ApplicationStatus::parse(v).map_or(t.app_all, |s| status_label(s, t)),
            current: v == filter,
        })
        .collect();
    render(
        StatusCode::OK,
        &QueuePage {
            t,
            chrome: Chrome::for_staff(
                &staff,
                Some(Screen::Applications),
                &format!("/console/applications?status={filter}"),
            ),
            rows,
            filters,
            next: page.next.as_deref().map(url_encode),
            filter,
        },
    )
}

/// The approve form as typed.
#[derive(Debug, Clone)]
struct ContractDraft {
    scope_kind: String,
    station_ids: String,
    /// The partner's share of each fee, as typed (`share_electricity`, …).
    share_electricity: String,
    share_service: String,
    share_idle: String,
    rps: String,
    burst: String,
    cycle: String,
    scopes: Vec<String>,
}

impl Default for ContractDraft {
    fn default() -> Self {
        Self {
            scope_kind: "all".into(),
            station_ids: String::new(),
            // The example: the partner keeps 10 % of the service fee and passes the
            // electricity and idle fees on whole.
            share_electricity: "0".into(),
            share_service: "0.10".into(),
            share_idle: "0".into(),
            rps: "20".into(),
            burst: "40".into(),
            cycle: "monthly".into(),
            scopes: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }
}

impl ContractDraft {
    fn from_form(f: &FormData) -> Self {
        Self {
            scope_kind: f.get("scope_kind").to_owned(),
            station_ids: f.get("station_ids").to_owned(),
            share_electricity: f.get("share_electricity").trim().to_owned(),
            share_service: f.get("share_service").trim().to_owned(),
            share_idle: f.get("share_idle").trim().to_owned(),
            rps: f.get("rps").trim().to_owned(),
            burst: f.get("burst").trim().to_owned(),
            cycle: f.get("settlement_cycle").to_owned(),
            scopes: f.all("scope").into_iter().map(str::to_owned).collect(),
        }
    }
}

/// Reads the contract terms; station ids must name existing stations.
async fn read_contract(
    state: &ConsoleState,
    d: &ContractDraft,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Option<Contract> {
    let station_scope = match d.scope_kind.as_str() {
        "all" => Some(StationScope::All),
        "list" => {
            let mut ids = BTreeSet::new();
            let mut bad = Vec::new();
            for raw in d
                .station_ids
                .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                .filter(|s| !s.is_empty())
            {
                match StationId::parse(raw) {
                    Ok(id) => match state.network.get_station(&id).await {
                        Ok(_) => {
                            ids.insert(id);
                        }
                        Err(openpile_core::error::StoreError::NotFound) => bad.push(raw.to_owned()),
                        Err(e) => {
                            tracing::warn!(error = %e, "station lookup failed");
                            bad.push(raw.to_owned());
                        }
                    },
                    Err(_) => bad.push(raw.to_owned()),
                }
            }
            if !bad.is_empty() {
                errors.add("station_ids", fill(t.err_station_ids, bad.join(", ")));
                None
            } else {
                StationScope::list(ids)
                    .map_err(|_| errors.add("station_ids", t.err_station_ids_empty))
                    .ok()
            }
        }
        _ => {
            errors.add("scope_kind", t.err_invalid);
            None
        }
    };
    let mut share = |field: &'static str, text: &str| -> Option<ShareRate> {
        if text.is_empty() {
            errors.add(field, t.err_share_required);
            return None;
        }
        // Core's rules (0–1, at most 4 decimals), reported on the field that broke them.
        let rate = parse_plain_decimal(field, text)
            .and_then(|v| ShareRate::new(field, v))
            .ok();
        if rate.is_none() {
            errors.add(field, t.err_revenue_share);
        }
        rate
    };
    let electricity = share("share_electricity", &d.share_electricity);
    let service = share("share_service", &d.share_service);
    let idle = share("share_idle", &d.share_idle);
    let revenue_share = match (electricity, service, idle) {
        (Some(e), Some(s), Some(i)) => Some(RevenueShare::per_fee(e, s, i)),
        _ => None,
    };
    let rate_limit = match (d.rps.parse::<u32>(), d.burst.parse::<u32>()) {
        (Ok(r), Ok(b)) => RateLimit::new(r, b).ok(),
        _ => None,
    };
    if rate_limit.is_none() {
        errors.add("rate_limit", t.err_rate_limit);
    }
    let cycle = SettlementCycle::parse(&d.cycle).ok();
    if cycle.is_none() {
        errors.add("settlement_cycle", t.err_invalid);
    }
    let scopes: ScopeSet = d.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    if scopes.is_empty() {
        errors.add("scopes", t.err_scopes);
    }
    Some(Contract {
        station_scope: station_scope?,
        revenue_share: revenue_share?,
        rate_limit: rate_limit?,
        settlement_cycle: cycle?,
        scopes,
    })
}

pub(crate) fn contract_summary(c: &Contract, t: &'static Messages) -> String {
    let scope = match &c.station_scope {
        StationScope::All => t.scope_all_stations.to_owned(),
        StationScope::List { station_ids } => station_ids
            .iter()
            .map(StationId::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "{}: {} · {}: {} · {}: {}/s ({} {}) · {}: {} · {}: {}",
        t.contract_stations,
        scope,
        t.contract_revenue_share,
        share_summary(c.revenue_share, t),
        t.contract_rate_limit,
        c.rate_limit.requests_per_second,
        t.contract_burst,
        c.rate_limit.burst,
        t.contract_cycle,
        cycle_label(c.settlement_cycle, t),
        t.contract_scopes,
        c.scopes,
    )
}

/// `电费 0 · 服务费 0.1 · 占位费 0`: the partner's share of each fee on one line.
pub(crate) fn share_summary(share: RevenueShare, t: &'static Messages) -> String {
    format!(
        "{} {} · {} {} · {} {}",
        t.ops_electricity_fee,
        share.electricity,
        t.ops_service_fee,
        share.service,
        t.ops_idle_fee,
        share.idle
    )
}

fn cycle_label(c: SettlementCycle, t: &'static Messages) -> &'static str {
    match c {
        SettlementCycle::Daily => t.cycle_daily,
        SettlementCycle::Weekly => t.cycle_weekly,
        SettlementCycle::Monthly => t.cycle_monthly,
    }
}

struct RevisionView {
    number: u32,
    submitted_at: String,
    fields: Vec<FieldView>,
}

struct DecisionView {
    revision: u32,
    approved: bool,
    outcome: &'static str,
    reason: String,
    decided_by: String,
    decided_at: String,
    contract: String,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "application.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    company: String,
    status: &'static str,
    status_label: &'static str,
    revision: u32,
    current: Option<RevisionView>,
    older: Vec<RevisionView>,
    decisions: Vec<DecisionView>,
    can_decide: bool,
    draft: ContractDraft,
    scope_choices: Vec<Choice>,
    cycle_choices: Vec<Choice>,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

fn detail_page(
    state: &ConsoleState,
    staff: &Staff,
    app: &Application,
    draft: ContractDraft,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let revisions: Vec<RevisionView> = app
        .revisions
        .iter()
        .enumerate()
        .map(|(i, r)| RevisionView {
            number: r.number,
            submitted_at: fmt_time(state, r.submitted_at),
            fields: fields(
                &r.form,
                i.checked_sub(1)
                    .and_then(|p| app.revisions.get(p))
                    .map(|p| &p.form),
                t,
            ),
        })
        .collect();
    let mut older = revisions;
    let current = older.pop();
    older.reverse();
    let decisions = app
        .decisions
        .iter()
        .rev()
        .map(|d| DecisionView {
            revision: d.revision,
            approved: d.outcome == DecisionOutcome::Approved,
            outcome: match d.outcome {
                DecisionOutcome::Approved => t.app_approved,
                DecisionOutcome::Rejected => t.app_rejected,
            },
            reason: d.reason.clone().unwrap_or_default(),
            decided_by: d.decided_by.clone(),
            decided_at: fmt_time(state, d.decided_at),
            contract: d
                .contract
                .as_ref()
                .map_or_else(String::new, |c| contract_summary(c, t)),
        })
        .collect();
    let scope_choices = Scope::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: s.as_str(),
            selected: draft.scopes.iter().any(|x| x == s.as_str()),
        })
        .collect();
    let cycle_choices = SettlementCycle::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: cycle_label(*c, t),
            selected: draft.cycle == c.as_str(),
        })
        .collect();
    let status = errors.status();
    let path = format!("/console/applications/{}", app.id);
    render(
        status,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Applications), &path),
            id: app.id.clone(),
            company: app
                .current()
                .map_or_else(String::new, |r| r.form.company_name.clone()),
            status: app.status.as_str(),
            status_label: status_label(app.status, t),
            revision: app.revision,
            current,
            older,
            decisions,
            can_decide: staff.can(Permission::ReviewPartners)
                && app.status == ApplicationStatus::Pending,
            draft,
            scope_choices,
            cycle_choices,
            reason,
            errors,
            notice,
        },
    )
}

/// `GET …/approve` and `…/reject` (after a login with `next=`): the forms live on the
/// application's page.
pub(crate) async fn back_to_application(Path(id): Path<String>) -> Response {
    redirect(&format!("/console/applications/{}", url_encode(&id)))
}

/// `GET /console/applications/{id}`
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ReviewPartners)?;
    let t = staff.t();
    let app = state
        .partners()?
        .application(&id)
        .await
        .map_err(core_error)?;
    let notice = match q.done.as_deref() {
        Some("approved") => Some(t.app_done_approved),
        Some("rejected") => Some(t.app_done_rejected),
        _ => None,
    };
    detail_page(
        &state,
        &staff,
        &app,
        ContractDraft::default(),
        String::new(),
        FieldErrors::default(),
        notice,
    )
}

/// Where a decision that core refused belongs on the form.
fn decision_refused(
    e: CoreError,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Result<(), ConsoleError> {
    match e {
        CoreError::Conflict(_) => errors.add("form", t.err_application_changed),
        CoreError::InvalidState(_) => errors.add("form", t.err_application_decided),
        CoreError::Validation(v) if v.field == "reason" => errors.add("reason", t.err_reason),
        CoreError::Validation(v) => errors.add("form", format!("{} ({v})", t.err_invalid)),
        other => return Err(core_error(other)),
    }
    Ok(())
}

fn expected_revision(form: &FormData) -> Option<u32> {
    form.get("revision").parse().ok()
}

/// `POST /console/applications/{id}/approve`
pub(crate) async fn approve(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ReviewPartners)?;
    let partners = state.partners()?.clone();
    let t = staff.t();
    let app = partners.application(&id).await.map_err(core_error)?;
    let guard = claim_or_return!(&state.nonces, &form);
    let draft = ContractDraft::from_form(&form);
    let mut errors = FieldErrors::default();
    let Some(contract) = read_contract(&state, &draft, t, &mut errors).await else {
        return detail_page(&state, &staff, &app, draft, String::new(), errors, None);
    };
    match partners
        .approve(&id, expected_revision(&form), contract, &staff.operator.id)
        .await
    {
        Ok(_) => {
            let to = format!("/console/applications/{id}?done=approved");
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            decision_refused(e, t, &mut errors)?;
            let app = partners.application(&id).await.map_err(core_error)?;
            detail_page(&state, &staff, &app, draft, String::new(), errors, None)
        }
    }
}

/// `POST /console/applications/{id}/reject`
pub(crate) async fn reject(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ReviewPartners)?;
    let partners = state.partners()?.clone();
    let t = staff.t();
    let app = partners.application(&id).await.map_err(core_error)?;
    let guard = claim_or_return!(&state.nonces, &form);
    let reason = form.get("reason").to_owned();
    let mut errors = FieldErrors::default();
    if validate_reason(&reason).is_err() {
        errors.add("reason", t.err_reason);
        return detail_page(
            &state,
            &staff,
            &app,
            ContractDraft::default(),
            reason,
            errors,
            None,
        );
    }
    match partners
        .reject(&id, expected_revision(&form), &reason, &staff.operator.id)
        .await
    {
        Ok(_) => {
            let to = format!("/console/applications/{id}?done=rejected");
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            decision_refused(e, t, &mut errors)?;
            let app = partners.application(&id).await.map_err(core_error)?;
            detail_page(
                &state,
                &staff,
                &app,
                ContractDraft::default(),
                reason,
                errors,
                None,
            )
        }
    }
}
