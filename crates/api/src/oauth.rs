//! `POST /oauth/token`: the OAuth 2.0 client credentials grant (RFC 6749 §4.4). Clients
//! authenticate with HTTP Basic or with `client_id`/`client_secret` form fields (§2.3.1), not
//! both. Answers follow §5.1 (with `Cache-Control: no-store`) and errors §5.2 exactly — JSON
//! with `error` and `error_description`, `invalid_client` as 401 with a `WWW-Authenticate`
//! challenge — and carry the members of an RFC 9457 problem besides, so one parser reads every
//! error of the API. Secrets are never logged.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openpile_core::error::StoreError;
use openpile_core::partner::service::TokenError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ErrorChain, ErrorCode, REALM, add_header, render};
use crate::extract::{form_decode, read_body};

/// The form of a token request (`application/x-www-form-urlencoded`). Documentation only: the
/// handler reads the form itself (strictly, RFC 6749 §3.2).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "grant_type": "client_credentials",
    "scope": "stations:read",
    "client_id": "sbx_0193b2a46c1e7d1a9f1e3c2b1a0f9e8d",
    "client_secret": "opsk_3q2-7wEXAMPLEonlyEXAMPLEonlyEXAMPLEonly0"
}))]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: String,
    /// Space-delimited scopes (RFC 6749 §3.3); all the client's scopes when absent.
    pub scope: Option<String>,
    /// With `client_secret`, when not using HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1). (No `Debug`: the token must not reach a log.)
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "opat_Qm9vdHN0cmFwEXAMPLEonlyEXAMPLEonlyEXAMPLE0",
    "token_type": "Bearer",
    "expires_in": 7200,
    "scope": "stations:read charging:write events:read settlement:write"
}))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The granted scopes, space-delimited.
    pub scope: String,
}

/// An error of the token endpoint: RFC 6749 §5.2 members, plus those of an RFC 9457 problem.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "error": "invalid_client",
    "error_description": "client authentication failed",
    "type": "urn:openpile:problem:invalid_client",
    "title": "Client authentication failed",
    "status": 401,
    "detail": "client authentication failed",
    "code": "invalid_client",
    "request_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d"
}))]
pub struct TokenErrorBody {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`, `unsupported_grant_type`,
    /// `invalid_scope` (RFC 6749 §5.2), or `unavailable`/`internal`.
    pub error: &'static str,
    pub error_description: String,
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn no_store(headers: &mut HeaderMap) {
    // RFC 6749 §5.1: responses with tokens (and their errors) must not be cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn oauth_error(
    code: ErrorCode,
    description: impl Into<String>,
    request_id: Option<String>,
) -> Response {
    let (name, status, title, _) = code.describe();
    let description = description.into();
    let body = TokenErrorBody {
        error: name,
        error_description: description.clone(),
        type_uri: format!("urn:openpile:problem:{name}"),
        title,
        status: status.as_u16(),
        detail: description,
        code: name,
        request_id,
    };
    let mut response = render(status, &body, "application/json");
    no_store(response.headers_mut());
    if code == ErrorCode::InvalidClient {
        add_header(
            response.headers_mut(),
            header::WWW_AUTHENTICATE,
            &format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
        );
    }
    response
}

/// Reads the form: unknown parameters are ignored and known ones may not repeat (§3.2).
fn parse_form(body: &str) -> Result<HashMap<&'static str, String>, String> {
    const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];
    let mut out = HashMap::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k).ok_or("the body is not valid form encoding")?;
        let Some(name) = KNOWN.iter().find(|n| **n == k) else {
            continue;
        };
        let v = form_decode(v).ok_or_else(|| format!("{name} is not valid form encoding"))?;
        if out.insert(*name, v).is_some() {
            return Err(format!("{name} must not be repeated"));
        }
    }
    Ok(out)
}

/// HTTP Basic client credentials: both parts are form-encoded before base64 (§2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = (|| {
        let value = value.to_str().ok()?;
        let (scheme, b64) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((form_decode(id)?, form_decode(secret)?))
    })();
    Some(parsed.ok_or(()))
}

/// Issues an access token for a client's credentials.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "RFC 6749 §4.4.2. Authenticate with HTTP Basic (client id and secret, each form-encoded, RFC 6749 §2.3.1) or with the client_id and client_secret fields, not both."),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "A bearer token (RFC 6749 §5.1); `Cache-Control: no-store`", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_scope` or `unauthorized_client` (partner suspended), RFC 6749 §5.2", body = TokenErrorBody),
        (status = 401, description = "`invalid_client`: unknown client, wrong, revoked or expired secret, or no client authentication; with `WWW-Authenticate: Basic`", body = TokenErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"openpile\""))),
        (status = 413, description = "`payload_too_large`", body = TokenErrorBody),
        (status = 500, description = "`internal`", body = TokenErrorBody),
        (status = 503, description = "`unavailable`: the database is unavailable", body = TokenErrorBody),
    )
)]
pub(crate) async fn token(State(state): State<ApiState>, request: Request) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fail = |code, description: &str| oauth_error(code, description, request_id.clone());

    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return fail(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        );
    }
    let basic = basic_credentials(request.headers());
    let body = match read_body(request, &()).await {
        Ok(b) => b,
        Err(ApiError::PayloadTooLarge) => {
            return fail(
                ErrorCode::PayloadTooLarge,
                "the request body exceeds the limit",
            );
        }
        Err(_) => {
            return fail(
                ErrorCode::InvalidRequest,
                "the request body could not be read",
            );
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return fail(ErrorCode::InvalidRequest, "the body is not UTF-8");
    };
    let mut form = match parse_form(body) {
        Ok(f) => f,
        Err(e) => return fail(ErrorCode::InvalidRequest, &e),
    };
    match form.get("grant_type").map(String::as_str) {
        None | Some("") => {
            return fail(ErrorCode::InvalidRequest, "grant_type is required");
        }
        Some("client_credentials") => {}
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedGrantType,
                "only grant_type=client_credentials is supported",
            );
        }
    }
    let form_id = form.remove("client_id");
    let form_secret = form.remove("client_secret");
    let (client_id, client_secret) = match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => {
            return fail(
                ErrorCode::InvalidRequest,
                "use one client authentication method: HTTP Basic or client_secret, not both",
            );
        }
        (Some(Err(())), _, None) => {
            return fail(
                ErrorCode::InvalidClient,
                "the Authorization header is not valid HTTP Basic",
            );
        }
        (Some(Ok((id, secret))), form_id, None) => {
            if form_id.as_ref().is_some_and(|f| *f != id) {
                return fail(
                    ErrorCode::InvalidRequest,
                    "client_id differs from the HTTP Basic user",
                );
            }
            (id, secret)
        }
        (None, Some(id), Some(secret)) => (id, secret),
        (None, _, _) => {
            return fail(
                ErrorCode::InvalidClient,
                "client authentication is required (HTTP Basic, or client_id and client_secret)",
            );
        }
    };
    let scope = form.get("scope").map(String::as_str);
    match state
        .partners
        .issue_token(&client_id, &client_secret, scope)
        .await
    {
        Ok(issued) => {
            let mut response = axum::Json(TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                scope: issued.scopes.to_string(),
            })
            .into_response();
            no_store(response.headers_mut());
            response
        }
        Err(TokenError::InvalidClient) => {
            fail(ErrorCode::InvalidClient, "client authentication failed")
        }
        Err(TokenError::Suspended) => {
            fail(ErrorCode::UnauthorizedClient, "the partner is suspended")
        }
        Err(TokenError::InvalidScope(d)) => fail(ErrorCode::InvalidScope, &d),
        Err(TokenError::Store(e)) => {
            // Logged once, here; the body says only what the code says.
            tracing::error!(error = %ErrorChain(&e), "token request failed");
            let code = if matches!(e, StoreError::Unavailable(_)) {
                ErrorCode::Unavailable
            } else {
                ErrorCode::Internal
            };
            fail(code, "the token could not be issued; retry later")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_ignores_unknown_and_refuses_repeated_parameters() {
        let f = parse_form("grant_type=client_credentials&foo=bar&scope=a+b").unwrap();
        assert_eq!(f["scope"], "a b");
        assert!(!f.contains_key("foo"));
        assert!(parse_form("scope=a&scope=b").unwrap_err().contains("scope"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let raw = STANDARD.encode("sbx_1:a%2Bb%3Ac");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(Ok(("sbx_1".to_string(), "a+b:c".to_string())))
        );
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(Err(())));
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }
}
