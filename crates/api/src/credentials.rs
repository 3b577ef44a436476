//! A partner's client credentials: list them, rotate a secret (the previous one keeps working
//! for a grace period) and revoke one (at once, with every token issued with it). Signed in
//! with the applicant account, any credential of the partner; with a bearer token, only the
//! credential that token came from.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use openpile_core::partner::credential::{ClientSecret, Credential};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ApiProblem};
use crate::extract::{AccountAuth, JsonBody};
use crate::onboarding::IssuedSecretView;

/// One secret of a credential (never its value).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// End of the grace period after a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expiring` (in its grace period), `expired` or `revoked`.
    #[schema(example = "active")]
    pub status: &'static str,
}

fn secret_view(s: &ClientSecret, now: DateTime<Utc>) -> SecretView {
    let status = match (s.revoked_at, s.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(e)) if e <= now => "expired",
        (None, Some(_)) => "expiring",
        (None, None) => "active",
    };
    SecretView {
        id: s.id.clone(),
        created_at: s.created_at,
        expires_at: s.expires_at,
        revoked_at: s.revoked_at,
        status,
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "client_id": "prd_0193b2a46c1e7d1a9f1e3c2b1a0f9e8d",
    "environment": "production",
    "scopes": ["stations:read", "charging:write", "events:read", "settlement:write"],
    "created_at": "2026-11-29T10:00:00.000Z",
    "secrets": [{"id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e90", "created_at": "2026-11-29T10:05:00.000Z", "status": "active"}]
}))]
pub struct CredentialView {
    pub client_id: String,
    /// `sandbox` or `production`.
    #[schema(example = "production")]
    pub environment: &'static str,
    pub scopes: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
    /// Newest first. A production credential has none until its first rotation.
    pub secrets: Vec<SecretView>,
}

fn credential_view(c: &Credential, now: DateTime<Utc>) -> CredentialView {
    CredentialView {
        client_id: c.client_id.to_string(),
        environment: c.environment.as_str(),
        scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
        created_at: c.created_at,
        secrets: c.secrets.iter().map(|s| secret_view(s, now)).collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub items: Vec<CredentialView>,
}

/// The partner's credentials (with a bearer token: only its own).
#[utoipa::path(
    get,
    path = "/v1/credentials",
    tag = "credentials",
    security(("applicant_basic" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The credentials, by client id", body = CredentialList),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_credentials(
    State(state): State<ApiState>,
    auth: AccountAuth,
) -> Result<Json<CredentialList>, ApiError> {
    let now = state.clock.now();
    let creds = state.partners.credentials(&auth.partner_id).await?;
    Ok(Json(CredentialList {
        items: creds
            .iter()
            .filter(|c| {
                auth.client_id
                    .as_ref()
                    .is_none_or(|own| *own == c.client_id)
            })
            .map(|c| credential_view(c, now))
            .collect(),
    }))
}

/// Which credential to act on: with a bearer token, its own (`client_id` may be left out).
fn target(auth: &AccountAuth, client_id: Option<String>) -> Result<String, ApiError> {
    match (&auth.client_id, client_id) {
        (Some(own), None) => Ok(own.to_string()),
        (Some(own), Some(asked)) if own.as_str() == asked => Ok(asked),
        // Another client's credential does not exist for this token.
        (Some(_), Some(asked)) => Err(ApiError::not_found("credential", asked)),
        (None, Some(asked)) => Ok(asked),
        (None, None) => Err(openpile_core::error::ValidationError::new(
            "client_id",
            "is required when signed in with the account",
        )
        .into()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_id": "prd_0193b2a46c1e7d1a9f1e3c2b1a0f9e8d", "grace_period_s": 86400}))]
pub struct RotateRequest {
    /// Required when signed in with the account; defaults to the token's own client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// How long the current secret keeps working (default 86 400 s; at most 30 days).
    #[serde(default)]
    pub grace_period_s: Option<u64>,
}

/// Issues a new client secret (shown once). The previous secret stays valid for the grace
/// period; one still in an earlier grace period ends now. Also issues the first secret of a
/// production credential after approval.
#[utoipa::path(
    post,
    path = "/v1/credentials/rotate",
    tag = "credentials",
    security(("applicant_basic" = []), ("oauth2" = [])),
    request_body = RotateRequest,
    responses(
        (status = 200, description = "The new secret", body = IssuedSecretView),
        (status = 400, description = "`bad_request`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential of this partner", body = ApiProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`client_id`, `grace_period_s`)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn rotate(
    State(state): State<ApiState>,
    auth: AccountAuth,
    JsonBody(body): JsonBody<RotateRequest>,
) -> Result<Json<IssuedSecretView>, ApiError> {
    let client_id = target(&auth, body.client_id)?;
    let issued = state
        .partners
        .rotate_secret(
            &auth.partner_id,
            &client_id,
            body.grace_period_s.map(Duration::from_secs),
        )
        .await?;
    Ok(Json(issued.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_id": "prd_0193b2a46c1e7d1a9f1e3c2b1a0f9e8d", "secret_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e90"}))]
pub struct RevokeRequest {
    /// Required when signed in with the account; defaults to the token's own client.
    #[serde(default)]
    pub client_id: Option<String>,
    pub secret_id: String,
}

/// Revokes one secret at once: it no longer authenticates, and every token issued with it
/// stops working.
#[utoipa::path(
    post,
    path = "/v1/credentials/revoke",
    tag = "credentials",
    security(("applicant_basic" = []), ("oauth2" = [])),
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "The credential after revocation", body = CredentialView),
        (status = 400, description = "`bad_request`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such credential or secret", body = ApiProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    auth: AccountAuth,
    JsonBody(body): JsonBody<RevokeRequest>,
) -> Result<Json<CredentialView>, ApiError> {
    let client_id = target(&auth, body.client_id)?;
    state
        .partners
        .revoke_secret(&auth.partner_id, &client_id, &body.secret_id)
        .await?;
    let now = state.clock.now();
    let creds = state.partners.credentials(&auth.partner_id).await?;
    let cred = creds
        .iter()
        .find(|c| c.client_id.as_str() == client_id)
        .ok_or_else(|| ApiError::not_found("credential", client_id.clone()))?;
    Ok(Json(credential_view(cred, now)))
}
