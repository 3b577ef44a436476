//! A partner's webhook (one per credential environment): configure it, rotate its signing
//! secret, send a test, read the delivery log and replay a delivery. Deliveries themselves are
//! made by the outbox worker; this face only reads and writes the configuration and log through
//! core's [`EventStore`](openpile_core::event::EventStore).
//!
//! The URL is checked when saved by core's [`check_webhook_url`], the rule the partner portal
//! applies too (an IP literal or `localhost` that webhooks may not reach is refused with
//! `validation_failed`); the worker checks again at connect time, on the addresses it really
//! connects to.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::event::{
    Delivery, Event, EventData, EventType, WebhookConfig, WebhookSecret, WebhookTestData,
};
use openpile_core::webhook_target::{PrivateTargets, check_webhook_url};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiProblem};
use crate::events::{EventsAuth, EventsState};
use crate::extract::{IdPath, JsonBody, QueryMap};

/// `PUT /v1/webhook`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://partner.example.com/openpile/webhook",
    "event_types": ["connector.status_changed", "session.completed"],
    "enabled": true
}))]
pub struct WebhookRequest {
    /// Absolute `https://` (or `http://`) URL, at most 512 characters, no credentials or
    /// fragment. Must reach a public address (sandbox and private ones only where the operator
    /// allows them).
    pub url: String,
    /// The event types to deliver; at least one.
    pub event_types: Vec<String>,
    /// Default `true`. Disabled webhooks get no deliveries (events stay in the feed).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A webhook as the partner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub url: String,
    pub event_types: Vec<&'static str>,
    pub enabled: bool,
    /// Which credentials' events it receives: `sandbox` or `production`.
    #[schema(example = "production")]
    pub environment: &'static str,
    /// `active`, `disabled` (by you) or `failing_disabled` (by us, after failing for days).
    #[schema(example = "active")]
    pub status: &'static str,
    /// Since when every attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// The signing secret (`whsec_…`): only in the answer that created the webhook. Keep it;
    /// it is never shown again (rotate to get a new one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn webhook_view(w: &openpile_core::event::Webhook, secret: Option<String>) -> WebhookView {
    WebhookView {
        url: w.config.url.clone(),
        event_types: w.config.event_types.iter().map(|t| t.as_str()).collect(),
        enabled: w.config.enabled,
        environment: w.feed.environment.as_str(),
        status: match (w.config.enabled, w.disabled_at) {
            (_, Some(_)) => "failing_disabled",
            (false, None) => "disabled",
            (true, None) => "active",
        },
        failing_since: w.failing_since,
        disabled_at: w.disabled_at,
        secret,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

/// A new signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`), shown once.
    pub secret: String,
    /// Until then deliveries carry a signature with the previous secret too.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: DateTime<Utc>,
    /// The HTTP status your endpoint answered, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// What went wrong (absent on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A delivery of one event to the webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub event_id: String,
    #[schema(example = "connector.status_changed")]
    pub event_type: &'static str,
    /// The event's feed position (absent for tests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// `pending`, `delivered` or `dead` (gave up after about three days; replay with retry).
    #[schema(example = "delivered")]
    pub state: &'static str,
    pub attempts: Vec<AttemptView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event_id.to_string(),
        event_type: d.event_type.as_str(),
        seq: d.seq,
        state: d.state.as_str(),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptView {
                at: a.at,
                status: a.status,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect(),
        next_attempt_at: d.next_attempt_at,
        created_at: d.created_at,
    }
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A fresh signing secret (made by `openpile-secrets`, checked by core's type).
fn new_secret() -> Result<WebhookSecret, ApiError> {
    WebhookSecret::new(openpile_secrets::webhook_secret())
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

fn check_types(names: &[String]) -> Result<Vec<EventType>, ValidationError> {
    if names.is_empty() {
        return Err(ValidationError::new(
            "event_types",
            "must name at least one event type",
        ));
    }
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let t = EventType::parse(name)
            .filter(|t| t.is_subscribable())
            .ok_or_else(|| {
                ValidationError::new(
                    format!("event_types[{i}]"),
                    format!("{name:?} is not an event type"),
                )
            })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn no_webhook() -> ApiError {
    ApiError::not_found("webhook", "")
}

const AUTH_ERRORS: &str = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked` or `partner_suspended` (RFC 6750, with `WWW-Authenticate`)";

#[utoipa::path(
    put,
    path = "/v1/webhook",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "Created; the answer carries the signing `secret`, shown only this once", body = WebhookView),
        (status = 200, description = "Updated (the secret is unchanged and not shown)", body = WebhookView),
        (status = 400, description = "`bad_request`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `events:read`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `url` or `event_types[i]`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_webhook(
    State(state): State<EventsState>,
    auth: EventsAuth,
    JsonBody(body): JsonBody<WebhookRequest>,
) -> Result<Response, ApiError> {
    let private = PrivateTargets {
        production: state.settings.allow_private_targets,
        sandbox: state.settings.allow_private_sandbox_targets,
    };
    let allow_private = private.allowed_for(auth.feed.environment);
    let config = WebhookConfig {
        url: check_webhook_url(&body.url, allow_private).map_err(ValidationError::from)?,
        event_types: check_types(&body.event_types)?,
        enabled: body.enabled,
    };
    let secret = new_secret()?;
    let now = state.api.clock.now();
    let webhook = state
        .events
        .put_webhook(&auth.feed, &config, &secret, now)
        .await?;
    // The store keeps an existing webhook's secret: the new one took only if it was created.
    if webhook.secret == secret {
        let view = webhook_view(&webhook, Some(secret.expose().to_string()));
        Ok((StatusCode::CREATED, Json(view)).into_response())
    } else {
        Ok(Json(webhook_view(&webhook, None)).into_response())
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhook",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    responses(
        (status = 200, description = "The webhook of the token's environment", body = WebhookView),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no webhook configured", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_webhook(
    State(state): State<EventsState>,
    auth: EventsAuth,
) -> Result<Json<WebhookView>, ApiError> {
    let webhook = state
        .events
        .webhook(&auth.feed)
        .await?
        .ok_or_else(no_webhook)?;
    Ok(Json(webhook_view(&webhook, None)))
}

#[utoipa::path(
    post,
    path = "/v1/webhook/secret/rotate",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    responses(
        (status = 200, description = "The new secret, shown once; the previous one keeps signing (a second signature) for the grace period (24 h by default)", body = RotatedSecret),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no webhook configured", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn rotate_secret(
    State(state): State<EventsState>,
    auth: EventsAuth,
) -> Result<Json<RotatedSecret>, ApiError> {
    let secret = new_secret()?;
    let now = state.api.clock.now();
    let until = now
        + chrono::Duration::from_std(state.settings.secret_grace)
            .unwrap_or(chrono::Duration::hours(24));
    state
        .events
        .rotate_webhook_secret(&auth.feed, &secret, until, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => no_webhook(),
            e => e.into(),
        })?;
    Ok(Json(RotatedSecret {
        secret: secret.expose().to_string(),
        previous_secret_expires_at: until,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/webhook/test",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    responses(
        (status = 202, description = "A `webhook.test` delivery was queued (also when the webhook is disabled); follow it in the delivery log", body = DeliveryView),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no webhook configured", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn test_webhook(
    State(state): State<EventsState>,
    auth: EventsAuth,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let now = state.api.clock.now();
    let event = Event::new(
        EventData::WebhookTest {
            partner_id: auth.feed.partner_id.clone(),
            data: WebhookTestData {
                message: "This is a test delivery from OpenPile.".into(),
                requested_at: now,
            },
        },
        now,
    );
    let delivery = state
        .events
        .queue_test_delivery(&auth.feed, &event)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => no_webhook(),
            e => e.into(),
        })?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))))
}

#[utoipa::path(
    get,
    path = "/v1/webhook/deliveries",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    params(
        ("limit" = Option<u32>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Deliveries with their attempts (status, latency, error), newest first", body = DeliveryList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_deliveries(
    State(state): State<EventsState>,
    auth: EventsAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<DeliveryList>, ApiError> {
    let q = QueryMap::parse(query.as_deref(), &["limit", "cursor"])?;
    let limit = crate::paging::page_limit(q.get("limit"), 20, 100)?;
    let before =
        q.get("cursor")
            .map(|c| {
                c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::InvalidCursor("is not a cursor this list issued".into())
                })
            })
            .transpose()?;
    let page = state
        .events
        .list_deliveries(&auth.feed, before, u32::try_from(limit).unwrap_or(100))
        .await?;
    Ok(Json(DeliveryList {
        items: page.items.iter().map(delivery_view).collect(),
        next_cursor: page.next,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/webhook/deliveries/{id}/retry",
    tag = "webhooks",
    security(("oauth2" = ["events:read"])),
    params(("id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again at once with a fresh retry window (a replay; it still waits for older pending deliveries of its subject)", body = DeliveryView),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retry_delivery(
    State(state): State<EventsState>,
    auth: EventsAuth,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let not_found = || ApiError::not_found("delivery", id.clone());
    let n = id.parse::<i64>().map_err(|_| not_found())?;
    let delivery = state
        .events
        .retry_delivery(&auth.feed, n, state.api.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found(),
            e => e.into(),
        })?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_known_and_subscribable() {
        let ok = check_types(&["session.completed".into(), "session.completed".into()]).unwrap();
        assert_eq!(ok, vec![EventType::SessionCompleted]);
        assert_eq!(check_types(&[]).unwrap_err().field, "event_types");
        assert_eq!(
            check_types(&["session.completed".into(), "webhook.test".into()])
                .unwrap_err()
                .field,
            "event_types[1]"
        );
    }

    #[test]
    fn secrets_follow_standard_webhooks() {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let s = new_secret().unwrap();
        let body = s.expose().strip_prefix("whsec_").unwrap();
        assert_eq!(STANDARD.decode(body).unwrap().len(), 32);
        assert_ne!(new_secret().unwrap(), s);
    }
}
