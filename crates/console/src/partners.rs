//! Partners: the list (status, webhook health, rate-limit refusals) and one partner's page with
//! its contract (station scope, revenue share per fee, rate limit, settlement cycle, scopes),
//! its revenue-share terms over time (the contract's, then those scheduled with a date),
//! its credentials as metadata only (client ids, secret ids, created, expiry of a rotated
//! secret, revocation — a secret or its digest is never shown), suspend and resume with a
//! reason, the health of each webhook endpoint and its delivery log with a retry button, and
//! its rate-limit refusals since the server started.
//!
//! Suspension goes through the partner service (which kills every token at once and writes the
//! audit entry); the service's resume takes no reason, so the console records the one the
//! operator gave in its own audit entry (`partner.resume_reason`). A retry queues the delivery
//! again through the events port and is audited here (`webhook_delivery.retry`). Who may do
//! what: see `nav` (view: admin, reviewer, operations; suspend/resume: admin, reviewer; retry:
//! admin, operations).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use openpile_core::event::{DeliveryState, FeedKey};
use openpile_core::ids::PartnerId;
use openpile_core::ops::{EndpointHealth, PartnerDeliveryHealth};
use openpile_core::page::PageRequest;
use openpile_core::partner::contract::{Contract, SettlementCycle, StationScope};
use openpile_core::partner::credential::{Environment, Partner, PartnerStatus};
use openpile_core::settlement::terms::TermsSchedule;
use serde::Deserialize;
use serde_json::json;

use crate::ConsoleState;
use crate::applications::share_summary;
use crate::audit;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_opt_time, fmt_time, render, url_encode};
use crate::views::{Fact, core_error, form_error, reason};

/// Deliveries shown per endpoint on a partner's page.
const LOG_SIZE: u32 = 20;

pub(crate) fn status_label(s: PartnerStatus, t: &'static Messages) -> &'static str {
    match s {
        PartnerStatus::Applicant => t.partner_applicant,
        PartnerStatus::Active => t.partner_active,
        PartnerStatus::Suspended => t.partner_suspended,
    }
}

fn env_label(e: Environment, t: &'static Messages) -> &'static str {
    match e {
        Environment::Sandbox => t.env_sandbox,
        Environment::Production => t.env_production,
    }
}

fn cycle_label(c: SettlementCycle, t: &'static Messages) -> &'static str {
    match c {
        SettlementCycle::Daily => t.cycle_daily,
        SettlementCycle::Weekly => t.cycle_weekly,
        SettlementCycle::Monthly => t.cycle_monthly,
    }
}

/// One endpoint's health in a sentence-sized form, for tables.
pub(crate) struct HealthView {
    pub(crate) environment: &'static str,
    pub(crate) url: String,
    /// `ok`, `failing` or `disabled`: how the row is marked.
    pub(crate) level: &'static str,
    pub(crate) level_label: &'static str,
    pub(crate) last_success: String,
    pub(crate) failing_since: String,
    pub(crate) last_error: String,
    pub(crate) pending: u64,
    pub(crate) failing: u64,
    pub(crate) dead: u64,
}

pub(crate) fn health_view(
    state: &ConsoleState,
    e: &EndpointHealth,
    t: &'static Messages,
) -> HealthView {
    let (level, level_label) = if !e.enabled || e.disabled_at.is_some() {
        ("disabled", t.ops_wh_disabled)
    } else if e.failing_since.is_some() || e.failing > 0 {
        ("failing", t.ops_wh_failing)
    } else {
        ("ok", t.ops_wh_ok)
    };
    HealthView {
        environment: env_label(e.environment, t),
        url: e.url.clone(),
        level,
        level_label,
        last_success: fmt_opt_time(state, e.last_success_at, t),
        failing_since: fmt_opt_time(state, e.failing_since, t),
        last_error: e.last_error.clone().unwrap_or_default(),
        pending: e.pending,
        failing: e.failing,
        dead: e.dead,
    }
}

/// A partner's deliveries summed over its endpoints, for the list and the dashboard.
pub(crate) struct HealthSummary {
    pub(crate) partner_id: String,
    pub(crate) partner_name: String,
    pub(crate) endpoints: Vec<HealthView>,
}

pub(crate) fn health_summary(
    state: &ConsoleState,
    h: &PartnerDeliveryHealth,
    t: &'static Messages,
) -> HealthSummary {
    HealthSummary {
        partner_id: h.partner_id.to_string(),
        partner_name: h.partner_name.clone(),
        endpoints: h
            .endpoints
            .iter()
            .map(|e| health_view(state, e, t))
            .collect(),
    }
}

struct Row {
    id: String,
    name: String,
    status: &'static str,
    status_label: &'static str,
    cycle: &'static str,
    health: Vec<HealthView>,
    hits: u64,
}

#[derive(Template)]
#[template(path = "ops_partners.html")]
struct ListPage {
    t: &'static Messages,
    chrome: Chrome,
    rows: Vec<Row>,
}

/// `GET /console/partners`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewPartners)?;
    let partners = state.partners()?;
    let ops = state.ops()?;
    let t = staff.t();
    let page = partners
        .list_partners(&PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .map_err(core_error)?;
    let mut health = ops.views.delivery_health(None).await?;
    let rows = page
        .items
        .iter()
        .map(|p| Row {
            id: p.id.to_string(),
            name: p.name.clone(),
            status: p.status.as_str(),
            status_label: status_label(p.status, t),
            cycle: p
                .contract
                .as_ref()
                .map_or("", |c| cycle_label(c.settlement_cycle, t)),
            health: health
                .iter_mut()
                .find(|h| h.partner_id == p.id)
                .map_or_else(Vec::new, |h| {
                    h.endpoints
                        .iter()
                        .map(|e| health_view(&state, e, t))
                        .collect()
                }),
            hits: ops.hits.total_of(&p.id),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Partners), "/console/partners"),
            rows,
        },
    )
}

struct SecretView {
    id: String,
    created_at: String,
    status: String,
    live: bool,
}

struct CredentialView {
    client_id: String,
    environment: &'static str,
    scopes: String,
    created_at: String,
    secrets: Vec<SecretView>,
}

struct DeliveryView {
    id: i64,
    event_type: String,
    state: &'static str,
    state_label: &'static str,
    attempts: usize,
    last_attempt: String,
    created_at: String,
    can_retry: bool,
}

struct EndpointView {
    environment_code: &'static str,
    health: HealthView,
    deliveries: Vec<DeliveryView>,
}

/// One entry of the partner's revenue-share terms over time.
struct TermsView {
    effective_from: String,
    electricity: String,
    service: String,
    idle: String,
    /// `in-force`, `scheduled` or `superseded`: how the row is marked.
    state: &'static str,
    state_label: &'static str,
}

struct HitView {
    environment: &'static str,
    total: u64,
    last_at: String,
}

#[derive(Template)]
#[template(path = "ops_partner.html")]
struct DetailPage {
    t: &'static Messages,
    chrome: Chrome,
    id: String,
    name: String,
    status: &'static str,
    status_label: &'static str,
    suspended: bool,
    facts: Vec<Fact>,
    contract: Vec<Fact>,
    /// Empty without a contract, or when settlement is off in this console.
    terms: Vec<TermsView>,
    credentials: Vec<CredentialView>,
    endpoints: Vec<EndpointView>,
    hits: Vec<HitView>,
    can_manage: bool,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

fn partner_id(id: &str) -> Result<PartnerId, ConsoleError> {
    PartnerId::parse(id).map_err(|_| ConsoleError::NotFound)
}

fn contract_facts(c: &Contract, t: &'static Messages) -> Vec<Fact> {
    let scope = match &c.station_scope {
        StationScope::All => t.scope_all_stations.to_owned(),
        StationScope::List { station_ids } => station_ids
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    vec![
        Fact::new(t.contract_stations, scope),
        Fact::new(t.contract_revenue_share, share_summary(c.revenue_share, t)),
        Fact::new(
            t.contract_rate_limit,
            format!(
                "{}/s ({} {})",
                c.rate_limit.requests_per_second, t.contract_burst, c.rate_limit.burst
            ),
        ),
        Fact::new(
            t.contract_cycle,
            cycle_label(c.settlement_cycle, t).to_owned(),
        ),
        Fact::new(t.contract_scopes, c.scopes.to_string()),
    ]
}

/// The schedule oldest first, each entry marked against `now`: the one in force, those
/// scheduled after it, those it replaced.
fn terms_views(
    state: &ConsoleState,
    schedule: &TermsSchedule,
    now: DateTime<Utc>,
    t: &'static Messages,
) -> Vec<TermsView> {
    let current = schedule.at(now).effective_from;
    schedule
        .entries()
        .iter()
        .map(|e| {
            let (state_code, state_label) = if e.effective_from == current {
                ("in-force", t.terms_in_force)
            } else if e.effective_from > now {
                ("scheduled", t.terms_scheduled)
            } else {
                ("superseded", t.terms_superseded)
            };
            TermsView {
                // The contract's entry has no date of its own: it holds from approval.
                effective_from: if e.effective_from == DateTime::<Utc>::MIN_UTC {
                    t.terms_from_approval.to_owned()
                } else {
                    fmt_time(state, e.effective_from)
                },
                electricity: e.partner_share_of_electricity.to_string(),
                service: e.partner_share_of_service.to_string(),
                idle: e.partner_share_of_idle.to_string(),
                state: state_code,
                state_label,
            }
        })
        .collect()
}

async fn detail_page(
    state: &ConsoleState,
    staff: &Staff,
    p: &Partner,
    reason: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let partners = state.partners()?;
    let ops = state.ops()?;
    let services = state.services()?;
    let now = state.clock.now();
    let credentials = partners
        .credentials(&p.id)
        .await
        .map_err(core_error)?
        .into_iter()
        .map(|c| CredentialView {
            client_id: c.client_id.to_string(),
            environment: env_label(c.environment, t),
            scopes: c.scopes.to_string(),
            created_at: fmt_time(state, c.created_at),
            secrets: c
                .secrets
                .iter()
                .map(|s| SecretView {
                    id: s.id.clone(),
                    created_at: fmt_time(state, s.created_at),
                    live: s.is_live(now),
                    status: match (s.revoked_at, s.expires_at) {
                        (Some(at), _) => {
                            crate::i18n::fill(t.secret_revoked_at, fmt_time(state, at))
                        }
                        (None, Some(at)) if at <= now => {
                            crate::i18n::fill(t.secret_expired_at, fmt_time(state, at))
                        }
                        (None, Some(at)) => {
                            crate::i18n::fill(t.secret_expires_at, fmt_time(state, at))
                        }
                        (None, None) => t.secret_live.to_owned(),
                    },
                })
                .collect(),
        })
        .collect();
    let health = ops.views.delivery_health(Some(&p.id)).await?;
    let can_retry = staff.can(Permission::RetryDeliveries);
    let mut endpoints = Vec::new();
    for e in health.iter().flat_map(|h| h.endpoints.iter()) {
        let feed = FeedKey {
            partner_id: p.id.clone(),
            environment: e.environment,
        };
        let log = services
            .events
            .list_deliveries(&feed, None, LOG_SIZE)
            .await?;
        endpoints.push(EndpointView {
            environment_code: e.environment.as_str(),
            health: health_view(state, e, t),
            deliveries: log
                .items
                .iter()
                .map(|d| DeliveryView {
                    id: d.id,
                    event_type: d.event_type.as_str().to_owned(),
                    state: d.state.as_str(),
                    state_label: match d.state {
                        DeliveryState::Pending => t.ops_dl_pending,
                        DeliveryState::Delivered => t.ops_dl_delivered,
                        DeliveryState::Dead => t.ops_dl_dead,
                    },
                    attempts: d.attempts.len(),
                    last_attempt: d.attempts.last().map_or_else(String::new, |a| {
                        format!(
                            "{} · {} · {} ms{}",
                            fmt_time(state, a.at),
                            a.status.map_or_else(|| "—".to_owned(), |s| s.to_string()),
                            a.latency_ms,
                            a.error
                                .as_deref()
                                .map_or_else(String::new, |e| format!(" · {e}"))
                        )
                    }),
                    created_at: fmt_time(state, d.created_at),
                    can_retry: can_retry && d.state != DeliveryState::Pending,
                })
                .collect(),
        });
    }
    let terms = if p.contract.is_some() {
        let schedule = services
            .settlement
            .terms_of(&p.id)
            .await
            .map_err(core_error)?;
        terms_views(state, &schedule, now, t)
    } else {
        Vec::new()
    };
    let hits = ops
        .hits
        .of(&p.id)
        .into_iter()
        .map(|(e, c)| HitView {
            environment: env_label(e, t),
            total: c.total,
            last_at: fmt_time(state, c.last_at),
        })
        .collect();
    let mut facts = vec![
        Fact::new(t.ops_partner_id, p.id.to_string()),
        Fact::new(t.ops_email, p.email.as_str().to_owned()),
        Fact::new(t.ops_created, fmt_time(state, p.created_at)),
        Fact::new(t.ops_application, p.application_id.clone()),
    ];
    if let Some(at) = p.suspended_at {
        facts.push(Fact::new(t.ops_suspended_at, fmt_time(state, at)));
    }
    if let Some(r) = &p.suspension_reason {
        facts.push(Fact::new(t.ops_suspension_reason, r.clone()));
    }
    let status = errors.status();
    let path = format!("/console/partners/{}", p.id);
    render(
        status,
        &DetailPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Partners), &path),
            id: p.id.to_string(),
            name: p.name.clone(),
            status: p.status.as_str(),
            status_label: status_label(p.status, t),
            suspended: p.status == PartnerStatus::Suspended,
            facts,
            contract: p
                .contract
                .as_ref()
                .map_or_else(Vec::new, |c| contract_facts(c, t)),
            terms,
            credentials,
            endpoints,
            hits,
            can_manage: staff.can(Permission::ManagePartners),
            reason,
            errors,
            notice,
        },
    )
}

/// `GET /console/partners/{id}`
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewPartners)?;
    let t = staff.t();
    let p = state
        .partners()?
        .partner(&partner_id(&id)?)
        .await
        .map_err(core_error)?;
    let notice = match q.done.as_deref() {
        Some("suspended") => Some(t.ops_done_suspended),
        Some("resumed") => Some(t.ops_done_resumed),
        Some("retried") => Some(t.ops_done_retried),
        _ => None,
    };
    detail_page(
        &state,
        &staff,
        &p,
        String::new(),
        FieldErrors::default(),
        notice,
    )
    .await
}

/// `GET` on a form's address: back to the partner.
pub(crate) async fn back_to_partner(Path(id): Path<String>) -> Response {
    redirect(&format!("/console/partners/{}", url_encode(&id)))
}

/// `GET` on a delivery's retry address: back to the partner.
pub(crate) async fn back_from_delivery(Path((id, _)): Path<(String, String)>) -> Response {
    redirect(&format!("/console/partners/{}", url_encode(&id)))
}

fn done(id: &PartnerId, what: &str) -> String {
    format!("/console/partners/{}?done={what}", url_encode(id.as_str()))
}

/// `POST /console/partners/{id}/suspend` and `…/resume`: both need a reason.
async fn change_status(
    state: &ConsoleState,
    staff: &Staff,
    id: &str,
    form: &FormData,
    suspend: bool,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(form)?;
    staff.require(Permission::ManagePartners)?;
    let partners = state.partners()?;
    let t = staff.t();
    let pid = partner_id(id)?;
    let p = partners.partner(&pid).await.map_err(core_error)?;
    let guard = claim_or_return!(&state.nonces, form);
    let mut errors = FieldErrors::default();
    let Some(why) = reason(form.get("reason"), t, &mut errors) else {
        return detail_page(
            state,
            staff,
            &p,
            form.get("reason").to_owned(),
            errors,
            None,
        )
        .await;
    };
    let result = if suspend {
        partners.suspend(&pid, &why, &staff.operator.id).await
    } else {
        partners.resume(&pid, &staff.operator.id).await
    };
    match result {
        Ok(_) => {
            if !suspend {
                audit::record(
                    state,
                    staff.actor(),
                    "partner.resume_reason",
                    format!("partner:{pid}"),
                    json!({ "reason": why, "via": "console" }),
                )
                .await?;
            }
            let to = done(&pid, if suspend { "suspended" } else { "resumed" });
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            form_error(e, "reason", t, &mut errors)?;
            detail_page(
                state,
                staff,
                &p,
                form.get("reason").to_owned(),
                errors,
                None,
            )
            .await
        }
    }
}

/// `POST /console/partners/{id}/suspend`
pub(crate) async fn suspend(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    change_status(&state, &staff, &id, &form, true).await
}

/// `POST /console/partners/{id}/resume`
pub(crate) async fn resume(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    change_status(&state, &staff, &id, &form, false).await
}

/// `POST /console/partners/{id}/deliveries/{delivery}/retry` (form field `environment`).
pub(crate) async fn retry(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path((id, delivery)): Path<(String, String)>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::RetryDeliveries)?;
    let services = state.services()?;
    let pid = partner_id(&id)?;
    let delivery: i64 = delivery.parse().map_err(|_| ConsoleError::NotFound)?;
    let environment = Environment::parse(form.get("environment"))
        .ok_or_else(|| ConsoleError::BadRequest("unknown environment".into()))?;
    let guard = claim_or_return!(&state.nonces, &form);
    let feed = FeedKey {
        partner_id: pid.clone(),
        environment,
    };
    let d = services
        .events
        .retry_delivery(&feed, delivery, state.clock.now())
        .await?;
    audit::record(
        &state,
        staff.actor(),
        "webhook_delivery.retry",
        format!("webhook_delivery:{}", d.id),
        json!({
            "partner_id": pid.as_str(),
            "environment": environment.as_str(),
            "event_type": d.event_type.as_str(),
            "via": "console",
        }),
    )
    .await?;
    let to = done(&pid, "retried");
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}
