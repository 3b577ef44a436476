//! `/portal/webhook`: the partner's webhook for each credential environment it holds (one feed
//! per environment, as `PUT /v1/webhook` keys it by the token's environment): URL, event types
//! and on/off, a new signing secret (shown once), a test delivery, and the delivery log with
//! each attempt's status, latency and error, and a retry.
//!
//! Everything goes through core's `EventStore`, the same port and the same rules as the Open
//! API: core's `check_webhook_url` for the URL's shape and where it may point (refused unless
//! the operator allows private targets for the environment, with the same settings as
//! `[events]`), `EventType::is_subscribable` for the types. The delivery worker checks the
//! addresses again when it connects, so a name that resolves to a private address later is
//! still refused there.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::error::StoreError;
use openpile_core::event::{
    Delivery, DeliveryState, Event, EventData, EventType, FeedKey, WebhookConfig, WebhookSecret,
    WebhookTestData,
};
use openpile_core::partner::credential::Environment;
use openpile_core::webhook_target::{PrivateTargets, WebhookUrlError, check_webhook_url};
use serde::Deserialize;
use serde_json::json;

use super::{PartnerSession, env_label, partner_page};
use crate::auth::redirect;
use crate::error::ConsoleError;
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_time, render};
use crate::views::core_error;
use crate::{ConsoleState, audit};

/// Deliveries per page of the log.
const LOG_PAGE: u32 = 20;

/// The environments the partner holds credentials for, sandbox first: its feeds.
pub(super) async fn environments(
    state: &ConsoleState,
    session: &PartnerSession,
) -> Result<Vec<Environment>, ConsoleError> {
    let mut envs: Vec<Environment> = state
        .partners()?
        .credentials(&session.partner_id)
        .await
        .map_err(core_error)?
        .into_iter()
        .map(|c| c.environment)
        .collect();
    envs.sort_by_key(|e| *e == Environment::Production);
    envs.dedup();
    Ok(envs)
}

/// The feed `env` names (default: the first the partner has); one it has no credentials for
/// does not exist.
pub(super) fn feed_of(
    session: &PartnerSession,
    envs: &[Environment],
    env: Option<&str>,
) -> Result<FeedKey, ConsoleError> {
    let environment = match env.filter(|e| !e.is_empty()) {
        Some(e) => Environment::parse(e)
            .filter(|e| envs.contains(e))
            .ok_or(ConsoleError::NotFound)?,
        None => *envs.first().ok_or(ConsoleError::NotFound)?,
    };
    Ok(FeedKey {
        partner_id: session.partner_id.clone(),
        environment,
    })
}

/// The chosen event types: at least one, each one partners may subscribe to.
fn check_types(names: &[&str]) -> Option<Vec<EventType>> {
    let mut out = Vec::new();
    for name in names {
        let t = EventType::parse(name).filter(|t| t.is_subscribable())?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A fresh signing secret (made by `openpile-secrets`, checked by core's type).
fn new_secret() -> Result<WebhookSecret, ConsoleError> {
    WebhookSecret::new(openpile_secrets::webhook_secret()).map_err(ConsoleError::internal)
}

fn allow_private(state: &ConsoleState, env: Environment) -> bool {
    PrivateTargets {
        production: state.config.webhook_private_targets,
        sandbox: state.config.webhook_private_sandbox_targets,
    }
    .allowed_for(env)
}

/// The form as shown: stored values, or what was posted.
struct Draft {
    url: String,
    types: Vec<String>,
    enabled: bool,
}

struct TypeOption {
    name: &'static str,
    checked: bool,
}

struct EnvTab {
    code: &'static str,
    label: &'static str,
    current: bool,
}

struct AttemptRow {
    at: String,
    status: String,
    latency_ms: i64,
    error: String,
    ok: bool,
}

struct DeliveryRow {
    id: i64,
    event_type: &'static str,
    event_id: String,
    state: &'static str,
    state_label: &'static str,
    created_at: String,
    next_attempt_at: Option<String>,
    attempts: Vec<AttemptRow>,
    retryable: bool,
}

#[derive(Template)]
#[template(path = "portal_webhook.html")]
struct WebhookPage {
    t: &'static Messages,
    chrome: Chrome,
    env: &'static str,
    env_label: &'static str,
    tabs: Vec<EnvTab>,
    exists: bool,
    status_label: &'static str,
    failing_since: Option<String>,
    d: Draft,
    types: Vec<TypeOption>,
    errors: FieldErrors,
    notice: Option<&'static str>,
    deliveries: Vec<DeliveryRow>,
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_webhook_secret.html")]
struct SecretPage {
    t: &'static Messages,
    chrome: Chrome,
    env: &'static str,
    env_label: &'static str,
    heading: &'static str,
    secret: String,
    previous_until: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct WebhookQuery {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    done: Option<String>,
    /// The delivery log's page: deliveries older than this id.
    #[serde(default)]
    before: Option<String>,
}

fn delivery_state_label(s: DeliveryState, t: &'static Messages) -> &'static str {
    match s {
        DeliveryState::Pending => t.pt_delivery_pending,
        DeliveryState::Delivered => t.pt_delivery_delivered,
        DeliveryState::Dead => t.pt_delivery_dead,
    }
}

fn delivery_row(state: &ConsoleState, t: &'static Messages, d: &Delivery) -> DeliveryRow {
    DeliveryRow {
        id: d.id,
        event_type: d.event_type.as_str(),
        event_id: d.event_id.to_string(),
        state: d.state.as_str(),
        state_label: delivery_state_label(d.state, t),
        created_at: fmt_time(state, d.created_at),
        next_attempt_at: d.next_attempt_at.map(|at| fmt_time(state, at)),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptRow {
                at: fmt_time(state, a.at),
                status: a
                    .status
                    .map_or_else(|| t.pt_no_response.to_owned(), |s| s.to_string()),
                latency_ms: a.latency_ms,
                error: a.error.clone().unwrap_or_default(),
                ok: a.error.is_none(),
            })
            .collect(),
        retryable: d.state != DeliveryState::Pending,
    }
}

/// The chrome of the webhook pages of one environment (the language switch keeps it).
async fn webhook_chrome(
    state: &ConsoleState,
    session: &PartnerSession,
    env: Environment,
) -> Result<Chrome, ConsoleError> {
    let path = format!("/portal/webhook?env={}", env.as_str());
    Ok(partner_page(state, session, &path).await?.1)
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &ConsoleState,
    session: &PartnerSession,
    envs: &[Environment],
    feed: &FeedKey,
    draft: Option<Draft>,
    errors: FieldErrors,
    notice: Option<&'static str>,
    before: Option<i64>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let env = feed.environment;
    let chrome = webhook_chrome(state, session, env).await?;
    let events = &state.services()?.events;
    let webhook = events.webhook(feed).await?;
    let log = events.list_deliveries(feed, before, LOG_PAGE).await?;
    let d = draft.unwrap_or_else(|| match &webhook {
        Some(w) => Draft {
            url: w.config.url.clone(),
            types: w
                .config
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            enabled: w.config.enabled,
        },
        None => Draft {
            url: String::new(),
            types: Vec::new(),
            enabled: true,
        },
    });
    let types = EventType::ALL
        .iter()
        .filter(|t| t.is_subscribable())
        .map(|ty| TypeOption {
            name: ty.as_str(),
            checked: d.types.iter().any(|s| s == ty.as_str()),
        })
        .collect();
    let status_label = match &webhook {
        None => t.pt_webhook_none,
        Some(w) if w.disabled_at.is_some() => t.pt_webhook_failing_disabled,
        Some(w) if !w.config.enabled => t.pt_webhook_disabled,
        Some(_) => t.pt_webhook_active,
    };
    let status = errors.status();
    render(
        status,
        &WebhookPage {
            t,
            chrome,
            env: env.as_str(),
            env_label: env_label(env, t),
            tabs: envs
                .iter()
                .map(|e| EnvTab {
                    code: e.as_str(),
                    label: env_label(*e, t),
                    current: *e == env,
                })
                .collect(),
            exists: webhook.is_some(),
            status_label,
            failing_since: webhook
                .as_ref()
                .and_then(|w| w.failing_since)
                .map(|at| fmt_time(state, at)),
            d,
            types,
            errors,
            notice,
            deliveries: log
                .items
                .iter()
                .map(|d| delivery_row(state, t, d))
                .collect(),
            older: log.next,
        },
    )
}

/// `GET /portal/webhook?env=…&before=…`
pub(crate) async fn webhook(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<WebhookQuery>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, q.env.as_deref())?;
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(
            b.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConsoleError::BadRequest("before: not a delivery id".into()))?,
        ),
        None => None,
    };
    let notice = match q.done.as_deref() {
        Some("saved") => Some(t.pt_webhook_saved),
        Some("tested") => Some(t.pt_webhook_tested),
        Some("retried") => Some(t.pt_webhook_retried),
        _ => None,
    };
    page(
        &state,
        &session,
        &envs,
        &feed,
        None,
        FieldErrors::default(),
        notice,
        before,
    )
    .await
}

/// Where a finished webhook action sends the browser (and a repeat of it).
fn back(feed: &FeedKey, done: &str) -> String {
    format!(
        "/portal/webhook?env={}&done={done}",
        feed.environment.as_str()
    )
}

/// `POST /portal/webhook`: saves the settings. A new webhook's signing secret is shown once.
pub(crate) async fn save_webhook(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let t = session.t();
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, Some(form.get("env")))?;
    let guard = claim_or_return!(&state.nonces, &form);
    let names = form.all("event_types");
    let draft = Draft {
        url: form.get("url").trim().to_owned(),
        types: names.iter().map(|s| (*s).to_owned()).collect(),
        enabled: form.get("enabled") == "on",
    };
    let mut errors = FieldErrors::default();
    let url = check_webhook_url(&draft.url, allow_private(&state, feed.environment))
        .map_err(|p| match p {
            WebhookUrlError::Malformed(_) => errors.add("url", t.pt_err_webhook_url),
            WebhookUrlError::Private => errors.add("url", t.pt_err_webhook_private),
        })
        .ok();
    let types = check_types(&names);
    if types.is_none() {
        errors.add("event_types", t.pt_err_event_types);
    }
    let (Some(url), Some(event_types)) = (url, types) else {
        return page(
            &state,
            &session,
            &envs,
            &feed,
            Some(draft),
            errors,
            None,
            None,
        )
        .await;
    };
    let config = WebhookConfig {
        url,
        event_types,
        enabled: draft.enabled,
    };
    let secret = new_secret()?;
    let now = state.clock.now();
    let events = &state.services()?.events;
    let stored = events.put_webhook(&feed, &config, &secret, now).await?;
    let created = stored.secret == secret;
    audit::record(
        &state,
        session.actor(),
        "partner_webhook.put",
        format!("webhook:{}:{}", feed.partner_id, feed.environment.as_str()),
        json!({
            "url": config.url,
            "event_types": config.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "enabled": config.enabled,
            "created": created,
            "via": "portal",
        }),
    )
    .await?;
    // The store keeps an existing webhook's secret: the new one took only if it was created.
    if created {
        guard.complete(None);
        return secret_page(
            &state,
            &session,
            &feed,
            t.pt_webhook_created,
            secret.expose().to_owned(),
            None,
        )
        .await;
    }
    let to = back(&feed, "saved");
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

async fn secret_page(
    state: &ConsoleState,
    session: &PartnerSession,
    feed: &FeedKey,
    heading: &'static str,
    secret: String,
    previous_until: Option<String>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let env = feed.environment;
    let chrome = webhook_chrome(state, session, env).await?;
    render(
        StatusCode::OK,
        &SecretPage {
            t,
            chrome,
            env: env.as_str(),
            env_label: env_label(env, t),
            heading,
            secret,
            previous_until,
        },
    )
}

/// `POST /portal/webhook/secret`: a new signing secret, shown once; the previous one keeps
/// signing for the grace period.
pub(crate) async fn rotate_webhook_secret(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let t = session.t();
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, Some(form.get("env")))?;
    let guard = claim_or_return!(&state.nonces, &form);
    let secret = new_secret()?;
    let now = state.clock.now();
    let until = now + state.config.webhook_secret_grace;
    state
        .services()?
        .events
        .rotate_webhook_secret(&feed, &secret, until, now)
        .await?;
    audit::record(
        &state,
        session.actor(),
        "partner_webhook.rotate_secret",
        format!("webhook:{}:{}", feed.partner_id, feed.environment.as_str()),
        json!({ "previous_until": until, "via": "portal" }),
    )
    .await?;
    guard.complete(None);
    secret_page(
        &state,
        &session,
        &feed,
        t.pt_webhook_rotated,
        secret.expose().to_owned(),
        Some(fmt_time(&state, until)),
    )
    .await
}

/// `POST /portal/webhook/test`: queues a `webhook.test` delivery (also to a disabled webhook).
pub(crate) async fn test_webhook(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, Some(form.get("env")))?;
    let guard = claim_or_return!(&state.nonces, &form);
    let now = state.clock.now();
    let event = Event::new(
        EventData::WebhookTest {
            partner_id: feed.partner_id.clone(),
            data: WebhookTestData {
                message: "This is a test delivery from OpenPile.".into(),
                requested_at: now,
            },
        },
        now,
    );
    let delivery = state
        .services()?
        .events
        .queue_test_delivery(&feed, &event)
        .await?;
    audit::record(
        &state,
        session.actor(),
        "partner_webhook.test",
        format!("webhook:{}:{}", feed.partner_id, feed.environment.as_str()),
        json!({ "delivery_id": delivery.id, "via": "portal" }),
    )
    .await?;
    let to = back(&feed, "tested");
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

/// `POST /portal/webhook/deliveries/{id}/retry`: queues the delivery again at once.
pub(crate) async fn retry_delivery(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, Some(form.get("env")))?;
    let n = id.parse::<i64>().map_err(|_| ConsoleError::NotFound)?;
    let guard = claim_or_return!(&state.nonces, &form);
    // Another partner's (or another feed's) delivery is not found: the store checks the feed.
    let retried = state
        .services()?
        .events
        .retry_delivery(&feed, n, state.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ConsoleError::NotFound,
            e => e.into(),
        })?;
    audit::record(
        &state,
        session.actor(),
        "partner_webhook.retry",
        format!("delivery:{}", retried.id),
        json!({ "environment": feed.environment.as_str(), "via": "portal" }),
    )
    .await?;
    let to = back(&feed, "retried");
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_must_be_known_and_subscribable() {
        assert_eq!(
            check_types(&["session.completed", "session.completed"]),
            Some(vec![EventType::SessionCompleted])
        );
        assert_eq!(check_types(&[]), None);
        assert_eq!(check_types(&["session.completed", "webhook.test"]), None);
        assert_eq!(check_types(&["nope"]), None);
    }
}
