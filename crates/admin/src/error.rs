//! The admin face's one error type and its wire form: RFC 9457 `application/problem+json` with a
//! stable machine-readable `code` from [`ErrorCode`]. Core and store errors are mapped here, in
//! one place, so handlers only use `?`. Internal errors are logged once, here, and their text is
//! never sent to the client.

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openpile_core::error::{CoreError, StoreError, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

/// The realm named in `WWW-Authenticate` challenges (RFC 6750 §3).
pub(crate) const REALM: &str = "openpile-admin";

/// The public vocabulary of admin API errors. Codes are API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed: JSON that does not parse, a wrong path segment.
    BadRequest,
    /// A query parameter is invalid (`field` names it).
    InvalidQuery,
    /// A body field is missing or invalid (`field` names it).
    ValidationFailed,
    /// No, expired or revoked bearer token.
    Unauthorized,
    /// Wrong e-mail or password at login.
    InvalidCredentials,
    /// The operator's role does not allow this.
    Forbidden,
    /// The object does not exist.
    NotFound,
    /// The change clashes with existing data (`constraint` names the rule).
    Conflict,
    /// The body is larger than `http.body_limit`.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The database cannot be reached right now; retry later.
    Unavailable,
    /// Something broke on our side; the `request_id` finds it in our logs.
    Internal,
}

impl ErrorCode {
    /// Every code, for the documentation table and its test.
    pub const ALL: [ErrorCode; 12] = [
        Self::BadRequest,
        Self::InvalidQuery,
        Self::ValidationFailed,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code, its HTTP status and its title: the one table of the admin face.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest => ("bad_request", S::BAD_REQUEST, "Malformed request"),
            Self::InvalidQuery => ("invalid_query", S::BAD_REQUEST, "Invalid query parameter"),
            Self::ValidationFailed => (
                "validation_failed",
                S::UNPROCESSABLE_ENTITY,
                "Validation failed",
            ),
            Self::Unauthorized => ("unauthorized", S::UNAUTHORIZED, "Authentication required"),
            Self::InvalidCredentials => (
                "invalid_credentials",
                S::UNAUTHORIZED,
                "Invalid e-mail or password",
            ),
            Self::Forbidden => ("forbidden", S::FORBIDDEN, "Not allowed for this role"),
            Self::NotFound => ("not_found", S::NOT_FOUND, "Not found"),
            Self::Conflict => ("conflict", S::CONFLICT, "Conflict with existing data"),
            Self::PayloadTooLarge => (
                "payload_too_large",
                S::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                S::UNSUPPORTED_MEDIA_TYPE,
                "Body must be application/json",
            ),
            Self::Unavailable => (
                "unavailable",
                S::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
            ),
            Self::Internal => ("internal", S::INTERNAL_SERVER_ERROR, "Internal error"),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    pub fn status(self) -> StatusCode {
        self.describe().1
    }
}

/// An RFC 9457 problem document as the admin API sends it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:openpile:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "max_power_kw: must have at most 1 decimal place",
    "code": "validation_failed",
    "field": "max_power_kw",
    "request_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d"
}))]
pub struct Problem {
    /// `urn:openpile:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code: bad_request, invalid_query, validation_failed,
    /// unauthorized, invalid_credentials, forbidden, not_found, conflict, payload_too_large,
    /// unsupported_media_type, unavailable, internal.
    pub code: String,
    /// The offending field (validation_failed, invalid_query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rule that was violated (conflict), e.g. `stations_pkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// The `X-Request-Id` of the request, to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Everything an admin handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{detail}")]
    BadRequest { detail: String },
    #[error("{field}: {reason}")]
    InvalidQuery { field: String, reason: String },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// `invalid_token` is true when a token was presented but is not live (RFC 6750 §3.1).
    #[error("unauthorized")]
    Unauthorized { invalid_token: bool },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden: {needed}")]
    Forbidden { needed: &'static str },
    #[error("{}", not_found_detail(entity, id))]
    NotFound { entity: &'static str, id: String },
    #[error("{detail}")]
    Conflict {
        constraint: Cow<'static, str>,
        detail: String,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn not_found_detail(entity: &str, id: &str) -> String {
    if id.is_empty() {
        format!("the {entity} does not exist")
    } else {
        format!("{entity} {id} not found")
    }
}

impl AdminError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::InvalidQuery { .. } => ErrorCode::InvalidQuery,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Unauthorized { .. } => ErrorCode::Unauthorized,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid_query(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidQuery {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(ValidationError::new(field, reason))
    }

    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }

    pub(crate) fn conflict(constraint: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            constraint: Cow::Borrowed(constraint),
            detail: detail.into(),
        }
    }

    pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The problem document, without the request id (the middleware adds it).
    pub fn problem(&self) -> Problem {
        let code = self.code();
        let (name, status, title) = code.describe();
        let (detail, field, constraint) = match self {
            Self::Validation(v) => (v.to_string(), Some(v.field.clone()), None),
            Self::InvalidQuery { field, .. } => (self.to_string(), Some(field.clone()), None),
            Self::Conflict { constraint, .. } => {
                (self.to_string(), None, Some(constraint.to_string()))
            }
            Self::Unauthorized {
                invalid_token: true,
            } => (
                "the bearer token is unknown, expired or revoked".to_owned(),
                None,
                None,
            ),
            Self::Unauthorized {
                invalid_token: false,
            } => (
                "send Authorization: Bearer <token> from POST /admin/v1/login".to_owned(),
                None,
                None,
            ),
            Self::Forbidden { needed } => (format!("this needs the role {needed}"), None, None),
            // Never leak internals: the request id is what support needs.
            Self::Internal(_) => (
                "an internal error occurred; quote the request_id when reporting it".to_owned(),
                None,
                None,
            ),
            Self::Unavailable(_) => (
                "the database is unavailable; retry later".to_owned(),
                None,
                None,
            ),
            _ => (self.to_string(), None, None),
        };
        Problem {
            type_uri: format!("urn:openpile:problem:{name}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: name.to_owned(),
            field,
            constraint,
            request_id: None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound {
                entity: "object",
                id: String::new(),
            },
            StoreError::Conflict { constraint } => {
                let detail = format!("the change violates {constraint}");
                Self::Conflict {
                    constraint: Cow::Owned(constraint),
                    detail,
                }
            }
            e @ StoreError::Unavailable(_) => Self::Unavailable(e),
            e @ StoreError::Other(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<CoreError> for AdminError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { entity, id } => Self::NotFound { entity, id },
            CoreError::Validation(v) => Self::Validation(v),
            CoreError::InvalidState(t) => Self::Conflict {
                constraint: Cow::Borrowed("invalid_state"),
                detail: t.to_string(),
            },
            CoreError::Conflict(detail) => Self::Conflict {
                constraint: Cow::Borrowed("conflict"),
                detail,
            },
            CoreError::Forbidden => Self::Forbidden { needed: "another" },
            CoreError::Unauthorized => Self::Unauthorized {
                invalid_token: true,
            },
            CoreError::Store(s) => s.into(),
        }
    }
}

/// Looks a store `NotFound` up as the named object, so the client learns what was missing.
pub(crate) trait StoreResultExt<T> {
    fn or_not_found(self, entity: &'static str, id: &str) -> Result<T, AdminError>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn or_not_found(self, entity: &'static str, id: &str) -> Result<T, AdminError> {
        self.map_err(|e| match e {
            StoreError::NotFound => AdminError::not_found(entity, id),
            other => other.into(),
        })
    }
}

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(e) => {
                tracing::error!(error = %ErrorChain(e.as_ref()), "admin request failed")
            }
            Self::Unavailable(e) => tracing::warn!(error = %ErrorChain(e), "store unavailable"),
            _ => {}
        }
        let problem = self.problem();
        let mut response = render(&problem);
        match &self {
            Self::Unauthorized { invalid_token } => {
                let challenge = if *invalid_token {
                    format!(
                        "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"The access token expired or was revoked\""
                    )
                } else {
                    format!("Bearer realm=\"{REALM}\"")
                };
                set_challenge(&mut response, &challenge);
            }
            Self::InvalidCredentials => {
                set_challenge(&mut response, &format!("Bearer realm=\"{REALM}\""))
            }
            Self::Forbidden { .. } => set_challenge(
                &mut response,
                &format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\""),
            ),
            _ => {}
        }
        response.extensions_mut().insert(problem);
        response
    }
}

fn set_challenge(response: &mut Response, challenge: &str) {
    if let Ok(v) = HeaderValue::from_str(challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}

fn render(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}

/// Puts the request id into every problem the admin routes return. The server's request-id
/// layer runs first, so `X-Request-Id` is always on the request by now.
pub(crate) async fn add_request_id(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(mut problem) = response.extensions().get::<Problem>().cloned() else {
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

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
    }

    #[test]
    fn validation_errors_name_the_field() {
        let p = AdminError::validation("max_power_kw", "must be positive").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.code, "validation_failed");
        assert_eq!(p.field.as_deref(), Some("max_power_kw"));
        assert_eq!(p.type_uri, "urn:openpile:problem:validation_failed");
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let e = AdminError::internal(std::io::Error::other("secret path /var/db"));
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("secret"));
    }

    #[test]
    fn store_conflicts_carry_the_constraint() {
        let e: AdminError = StoreError::Conflict {
            constraint: "stations_pkey".into(),
        }
        .into();
        let p = e.problem();
        assert_eq!(p.status, 409);
        assert_eq!(p.constraint.as_deref(), Some("stations_pkey"));
    }
}
