//! Operator login, logout and the bearer-token extractor every other admin route uses.
//! Tokens are random and stored only as their SHA-256 (see `secrets`); passwords are argon2.
//! Bearer errors follow RFC 6750 §3 (`WWW-Authenticate` with `invalid_token` or
//! `insufficient_scope`).

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::operator::{Email, OperatorAccount, OperatorRole};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AdminError, Problem};
use crate::extract::JsonBody;
use crate::{AdminState, audit};
use openpile_secrets as secrets;

/// An authenticated operator, found by the bearer token of the request.
#[derive(Debug, Clone)]
pub struct OperatorAuth {
    pub operator: OperatorAccount,
    /// The stored form of the presented token (for logout).
    pub token_sha256: String,
    pub expires_at: DateTime<Utc>,
}

impl OperatorAuth {
    /// `operator:<id>`, as the audit trail names actors.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.operator.id)
    }

    /// Stations, chargers, connectors, tariffs and charger commands: admin or operations.
    pub fn require_network_writer(&self) -> Result<(), AdminError> {
        if self.operator.role.manages_network() {
            Ok(())
        } else {
            Err(AdminError::Forbidden {
                needed: "admin or operations",
            })
        }
    }

    /// Accounts and the audit trail: admin only.
    pub fn require_admin(&self) -> Result<(), AdminError> {
        if self.operator.role == OperatorRole::Admin {
            Ok(())
        } else {
            Err(AdminError::Forbidden { needed: "admin" })
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl<S> FromRequestParts<S> for OperatorAuth
where
    S: Send + Sync,
    AdminState: FromRef<S>,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        let state = AdminState::from_ref(state);
        let Some(token) = bearer_token(parts) else {
            return Err(AdminError::Unauthorized {
                invalid_token: false,
            });
        };
        let token_sha256 = secrets::token_sha256(token);
        let now = state.clock.now();
        let session = match state
            .operators
            .find_operator_token(&token_sha256, now)
            .await
        {
            Ok(s) => s,
            Err(StoreError::NotFound) => {
                return Err(AdminError::Unauthorized {
                    invalid_token: true,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if session.operator.disabled {
            return Err(AdminError::Unauthorized {
                invalid_token: true,
            });
        }
        Ok(Self {
            operator: session.operator,
            token_sha256,
            expires_at: session.expires_at,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ops@openpile.local", "password": "correct horse battery"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "token": "q8ZsWbq1m3yqH2b7y1vJ3mR8c2xq9Zp0aTgkq1eKx3Q",
    "token_type": "Bearer",
    "expires_at": "2026-12-01T20:00:00Z"
}))]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once; we keep only its hash.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
}

/// The operator behind a token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b2a4-0000-7000-8000-000000000001",
    "email": "ops@openpile.local",
    "role": "admin",
    "token_expires_at": "2026-12-01T20:00:00Z"
}))]
pub struct MeResponse {
    pub id: String,
    pub email: String,
    /// admin, reviewer, operations or finance.
    pub role: String,
    pub token_expires_at: DateTime<Utc>,
}

/// Log in with e-mail and password; returns a bearer token.
#[utoipa::path(
    post,
    path = "/admin/v1/login",
    tag = "admin-auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong e-mail or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed e-mail or missing field (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    State(state): State<AdminState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, AdminError> {
    let email = Email::parse(&req.email)?;
    let account = match state.operators.find_operator_by_email(&email).await {
        Ok(a) => Some(a),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // Verify against a dummy hash when there is no usable account, so the answer takes as long
    // either way and does not reveal which e-mails have accounts.
    let phc = account.as_ref().map_or_else(
        || secrets::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let matches = secrets::verify_password_blocking(req.password, phc).await;
    let account = match account {
        Some(a) if matches && !a.disabled => a,
        _ => return Err(AdminError::InvalidCredentials),
    };

    let (token, token_sha256) = secrets::new_token();
    let now = state.clock.now();
    let expires_at = now + state.settings.token_ttl;
    state
        .operators
        .create_operator_token(&token_sha256, &account.id, now, expires_at)
        .await?;
    audit::record(
        &state,
        format!("operator:{}", account.id),
        "operator.login",
        format!("operator:{}", account.id),
        serde_json::json!({}),
    )
    .await?;
    Ok(Json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at,
    }))
}

/// Revoke the token of this request.
#[utoipa::path(
    post,
    path = "/admin/v1/logout",
    tag = "admin-auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, description = "No live token (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AdminState>,
    auth: OperatorAuth,
) -> Result<StatusCode, AdminError> {
    state
        .operators
        .revoke_operator_token(&auth.token_sha256)
        .await?;
    audit::record(
        &state,
        auth.actor(),
        "operator.logout",
        auth.actor(),
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I: the operator behind the token.
#[utoipa::path(
    get,
    path = "/admin/v1/me",
    tag = "admin-auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operator", body = MeResponse),
        (status = 401, description = "No live token (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn me(auth: OperatorAuth) -> Json<MeResponse> {
    Json(MeResponse {
        id: auth.operator.id,
        email: auth.operator.email.as_str().to_owned(),
        role: auth.operator.role.as_str().to_owned(),
        token_expires_at: auth.expires_at,
    })
}
