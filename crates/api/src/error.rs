//! The Open API's one error type and its wire form: RFC 9457 `application/problem+json` with a
//! stable machine-readable `code` from [`ErrorCode`], the one table partners program against.
//! Core errors are mapped here, once, so handlers only use `?`. Internal errors are logged once,
//! here, and their text never reaches the client. The token endpoint answers in the shape
//! RFC 6749 §5.2 prescribes instead (see `oauth`), with the same codes.

use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openpile_core::error::{CoreError, StoreError, ValidationError};
use openpile_core::partner::credential::Scope;
use openpile_core::partner::service::AuthError;

use crate::sessions::ChargingCode;
use serde::Serialize;
use utoipa::ToSchema;

/// The realm of every `WWW-Authenticate` challenge (RFC 6750 §3, RFC 7617 §2).
pub const REALM: &str = "openpile";

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Every error code of the Open API. Codes are API: they are never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    InvalidQuery,
    InvalidCursor,
    CursorExpired,
    ValidationFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    PartnerSuspended,
    InsufficientScope,
    NotFound,
    MethodNotAllowed,
    Conflict,
    InvalidState,
    RateLimited,
    Unavailable,
    Internal,
    // RFC 6749 §5.2, answered by POST /oauth/token only.
    InvalidRequest,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 26] = [
        Self::BadRequest,
        Self::InvalidQuery,
        Self::InvalidCursor,
        Self::CursorExpired,
        Self::ValidationFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::PartnerSuspended,
        Self::InsufficientScope,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::InvalidState,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
    ];

    /// The table: code, HTTP status, title and when it happens.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest => (
                "bad_request",
                S::BAD_REQUEST,
                "Malformed request",
                "The body is not JSON, or a path segment is malformed.",
            ),
            Self::InvalidQuery => (
                "invalid_query",
                S::BAD_REQUEST,
                "Invalid query parameter",
                "A query parameter is unknown, repeated, malformed or out of range; `field` names it.",
            ),
            Self::InvalidCursor => (
                "invalid_cursor",
                S::BAD_REQUEST,
                "Invalid cursor",
                "The `cursor` was not issued by this list (or by this list with these filters' order).",
            ),
            Self::CursorExpired => (
                "cursor_expired",
                S::GONE,
                "Cursor expired",
                "The events after the feed cursor (`after`, `Last-Event-ID`) were purged (retention, 7 days by default): start again with `after=0` and resynchronise statuses from `/v1/connector-statuses`. Also the `code` of an SSE `event: error` that ends a stream which fell behind.",
            ),
            Self::ValidationFailed => (
                "validation_failed",
                S::UNPROCESSABLE_ENTITY,
                "Validation failed",
                "A body field is missing, unknown or invalid; `field` names it. Nothing was stored.",
            ),
            Self::PayloadTooLarge => (
                "payload_too_large",
                S::PAYLOAD_TOO_LARGE,
                "Request body too large",
                "The body exceeds 64 KiB.",
            ),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                S::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "The body must be application/json.",
            ),
            Self::Unauthorized => (
                "unauthorized",
                S::UNAUTHORIZED,
                "Authentication required",
                "No credentials were sent (RFC 6750 §3.1: no error attribute).",
            ),
            Self::InvalidCredentials => (
                "invalid_credentials",
                S::UNAUTHORIZED,
                "Invalid e-mail or password",
                "HTTP Basic applicant credentials do not match.",
            ),
            Self::InvalidToken => (
                "invalid_token",
                S::UNAUTHORIZED,
                "Invalid access token",
                "The bearer token is unknown or malformed (RFC 6750 invalid_token).",
            ),
            Self::TokenExpired => (
                "token_expired",
                S::UNAUTHORIZED,
                "Access token expired",
                "The bearer token has expired; request a new one (RFC 6750 invalid_token).",
            ),
            Self::TokenRevoked => (
                "token_revoked",
                S::UNAUTHORIZED,
                "Access token revoked",
                "The secret the token was issued with was revoked (RFC 6750 invalid_token).",
            ),
            Self::PartnerSuspended => (
                "partner_suspended",
                S::UNAUTHORIZED,
                "Partner suspended",
                "The operator suspended the partner; every token stopped working (RFC 6750 invalid_token).",
            ),
            Self::InsufficientScope => (
                "insufficient_scope",
                S::FORBIDDEN,
                "Insufficient scope",
                "The token lacks the scope this operation needs (RFC 6750 insufficient_scope).",
            ),
            Self::NotFound => (
                "not_found",
                S::NOT_FOUND,
                "Not found",
                "The object does not exist or is outside the partner's scope (never 403, so scope does not leak); also a path that is no route.",
            ),
            Self::MethodNotAllowed => (
                "method_not_allowed",
                S::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "The path exists but not with this HTTP method.",
            ),
            Self::Conflict => (
                "conflict",
                S::CONFLICT,
                "Conflict",
                "The request clashes with existing data (an e-mail or company already registered, a concurrent change).",
            ),
            Self::InvalidState => (
                "invalid_state",
                S::CONFLICT,
                "Invalid state",
                "The object's state does not allow this (e.g. resubmitting an approved application).",
            ),
            Self::RateLimited => (
                "rate_limited",
                S::TOO_MANY_REQUESTS,
                "Too many requests",
                "The partner's rate limit is exhausted; `Retry-After` says when to retry.",
            ),
            Self::Unavailable => (
                "unavailable",
                S::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database cannot be reached; retry later.",
            ),
            Self::Internal => (
                "internal",
                S::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Something broke on our side; quote `request_id`.",
            ),
            Self::InvalidRequest => (
                "invalid_request",
                S::BAD_REQUEST,
                "Invalid token request",
                "RFC 6749 §5.2: a parameter is missing, repeated or malformed, or two client authentication methods were used.",
            ),
            Self::InvalidClient => (
                "invalid_client",
                S::UNAUTHORIZED,
                "Client authentication failed",
                "RFC 6749 §5.2: unknown client, wrong or dead secret, or no client authentication; with `WWW-Authenticate: Basic`.",
            ),
            Self::UnauthorizedClient => (
                "unauthorized_client",
                S::BAD_REQUEST,
                "Client not authorized",
                "RFC 6749 §5.2: the client authenticated but its partner is suspended.",
            ),
            Self::UnsupportedGrantType => (
                "unsupported_grant_type",
                S::BAD_REQUEST,
                "Unsupported grant type",
                "RFC 6749 §5.2: only `client_credentials` is supported.",
            ),
            Self::InvalidScope => (
                "invalid_scope",
                S::BAD_REQUEST,
                "Invalid scope",
                "RFC 6749 §5.2: a requested scope is unknown or not granted to the client.",
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    pub fn status(self) -> StatusCode {
        self.describe().1
    }

    /// The one table of the API description, as Markdown: every code the Open API answers
    /// with, the general ones and then the charging ones ([`ChargingCode`]), which have their
    /// own problem shape but share this vocabulary.
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | HTTP | when |\n|---|---|---|\n");
        let general = Self::ALL.into_iter().map(Self::describe);
        let charging = ChargingCode::ALL.into_iter().map(ChargingCode::describe);
        for (code, status, _, when) in general.chain(charging) {
            out.push_str(&format!("| `{code}` | {} | {when} |\n", status.as_u16()));
        }
        out
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:openpile:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "unified_social_credit_code: check character does not match (GB 32100-2015)",
    "code": "validation_failed",
    "field": "unified_social_credit_code",
    "request_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d"
}))]
pub struct ApiProblem {
    /// `urn:openpile:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine-readable code (see the table in the API description).
    pub code: String,
    /// The offending field or parameter (`validation_failed`, `invalid_query`, `invalid_cursor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait (`rate_limited`), as in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// The scope that was missing (`insufficient_scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The `X-Request-Id` of the request, to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Which authentication a 401 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// Bearer tokens from /oauth/token.
    Bearer,
    /// The applicant account (HTTP Basic) or a bearer token.
    BasicOrBearer,
}

/// Everything an Open API handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { detail: String },
    #[error("{field}: {reason}")]
    InvalidQuery { field: String, reason: String },
    #[error("cursor: {0}")]
    InvalidCursor(String),
    #[error(transparent)]
    Validation(ValidationError),
    #[error("the request body exceeds the limit")]
    PayloadTooLarge,
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    #[error("authentication required")]
    Unauthorized(Challenge),
    #[error("the e-mail or password is wrong")]
    InvalidCredentials,
    #[error("{1}")]
    Token(ErrorCode, String),
    #[error("this operation needs the scope {0}")]
    InsufficientScope(Scope),
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("rate limit exceeded; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::InvalidQuery { .. } => ErrorCode::InvalidQuery,
            Self::InvalidCursor(_) => ErrorCode::InvalidCursor,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Token(code, _) => *code,
            Self::InsufficientScope(_) => ErrorCode::InsufficientScope,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::InvalidState(_) => ErrorCode::InvalidState,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn invalid_query(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidQuery {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }

    /// The problem document, without the request id (the middleware adds it).
    pub fn problem(&self) -> ApiProblem {
        let code = self.code();
        let (name, status, title, _) = code.describe();
        let mut p = ApiProblem {
            type_uri: format!("urn:openpile:problem:{name}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: name.to_string(),
            field: None,
            retry_after_s: None,
            scope: None,
            request_id: None,
        };
        match self {
            Self::Validation(v) => p.field = Some(v.field.clone()),
            Self::InvalidQuery { field, .. } => p.field = Some(field.clone()),
            Self::InvalidCursor(_) => p.field = Some("cursor".into()),
            Self::RateLimited { retry_after_s } => p.retry_after_s = Some(*retry_after_s),
            Self::InsufficientScope(s) => p.scope = Some(s.as_str().to_string()),
            Self::Unauthorized(Challenge::Bearer) => {
                p.detail = "send Authorization: Bearer <access_token> from POST /oauth/token".into()
            }
            Self::Unauthorized(Challenge::BasicOrBearer) => {
                p.detail = "sign in with HTTP Basic (the application's e-mail and password) or send a bearer token".into()
            }
            // Never leak internals: the request id is what support needs.
            Self::Internal(_) => {
                p.detail = "an internal error occurred; quote the request_id when reporting it".into()
            }
            Self::Unavailable(_) => p.detail = "the database is unavailable; retry later".into(),
            _ => {}
        }
        p
    }
}

impl From<ValidationError> for ApiError {
    fn from(v: ValidationError) -> Self {
        Self::Validation(v)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("object", ""),
            StoreError::Conflict { constraint } => {
                Self::Conflict(format!("the change violates {constraint}"))
            }
            e @ StoreError::Unavailable(_) => Self::Unavailable(e),
            e @ StoreError::Other(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { entity, id } => Self::NotFound { entity, id },
            CoreError::Validation(v) => Self::Validation(v),
            CoreError::InvalidState(t) => Self::InvalidState(t.to_string()),
            CoreError::Conflict(detail) => Self::Conflict(detail),
            // Scope is never leaked: what a partner may not touch does not exist for it.
            CoreError::Forbidden => Self::not_found("object", ""),
            CoreError::Unauthorized => Self::InvalidCredentials,
            CoreError::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let detail = e.to_string();
        match e {
            AuthError::Store(s) => s.into(),
            AuthError::Unknown => Self::Token(ErrorCode::InvalidToken, detail),
            AuthError::Expired => Self::Token(ErrorCode::TokenExpired, detail),
            AuthError::Revoked => Self::Token(ErrorCode::TokenRevoked, detail),
            AuthError::Suspended => Self::Token(ErrorCode::PartnerSuspended, detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(e) => {
                tracing::error!(error = %ErrorChain(e.as_ref()), "api request failed");
            }
            Self::Unavailable(e) => tracing::warn!(error = %ErrorChain(e), "store unavailable"),
            _ => {}
        }
        let problem = self.problem();
        let mut response = render(self.code().status(), &problem, PROBLEM_JSON);
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(Challenge::Bearer) => {
                add_header(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{REALM}\""),
                );
            }
            Self::Unauthorized(Challenge::BasicOrBearer) | Self::InvalidCredentials => {
                add_header(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
                );
                add_header(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{REALM}\""),
                );
            }
            Self::Token(_, detail) => {
                // RFC 6750 §3: quoted-string values; our descriptions contain no quotes.
                add_header(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!(
                        "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                        detail.replace('"', "'")
                    ),
                );
            }
            Self::InsufficientScope(scope) => add_header(
                headers,
                header::WWW_AUTHENTICATE,
                &format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    scope.as_str()
                ),
            ),
            Self::RateLimited { retry_after_s } => {
                add_header(headers, header::RETRY_AFTER, &retry_after_s.to_string());
            }
            _ => {}
        }
        response.extensions_mut().insert(problem);
        response
    }
}

pub(crate) fn add_header(
    headers: &mut axum::http::HeaderMap,
    name: header::HeaderName,
    value: &str,
) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(name, v);
    }
}

pub(crate) fn render<T: Serialize>(
    status: StatusCode,
    body: &T,
    content_type: &'static str,
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response()
}

/// Puts the request id into every problem an Open API route returns, and turns the bare
/// rejections of layers below the handlers (body limit) into problems.
pub(crate) async fn finish_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(mut problem) = response.extensions().get::<ApiProblem>().cloned() else {
        return response;
    };
    problem.request_id = request_id;
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Displays an error with its sources, for the one log line an internal error gets.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_every_status_is_an_error() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let p = ApiError::Internal(Box::new(std::io::Error::other("/var/secret"))).problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("secret"));
    }

    #[test]
    fn forbidden_is_reported_as_not_found() {
        let e: ApiError = CoreError::Forbidden.into();
        assert_eq!(e.code(), ErrorCode::NotFound);
    }

    #[test]
    fn token_errors_challenge_with_invalid_token() {
        let r = ApiError::from(AuthError::Expired).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(
            r.extensions().get::<ApiProblem>().unwrap().code,
            "token_expired"
        );
    }
}
