//! Extractors whose rejections are Open API problems: JSON bodies whose errors name the field,
//! query strings read strictly (unknown or repeated parameters are errors that name them), and
//! the two ways a caller proves who it is: a bearer token (partners, RFC 6750) or the
//! applicant account (HTTP Basic, RFC 7617) — with the partner's rate limit applied.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openpile_core::ids::PartnerId;
use openpile_core::partner::credential::{ClientId, Scope};
use openpile_core::partner::service::PartnerAccess;
use serde::de::DeserializeOwned;

use crate::ApiState;
use crate::error::{ApiError, Challenge};

/// A JSON request body. Malformed JSON is `bad_request`; a missing, unknown or wrongly typed
/// field is `validation_failed` naming the field by its path.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    detail: "the request body could not be read".into(),
                }
            }
        })
}

/// Deserializes `bytes`, telling a syntax error (400) from a field error (422 naming it).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                let reason = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
                let (field, reason) = locate_field(&path, reason);
                ApiError::Validation(openpile_core::error::ValidationError::new(field, reason))
            }
            _ => ApiError::BadRequest {
                detail: format!("the body is not valid JSON: {inner}"),
            },
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        detail: format!("the body is not valid JSON: {e}"),
    })?;
    Ok(value)
}

/// serde reports a missing field at its parent's path, naming it only in the message; an
/// unknown field's path already ends with it. Either way `field` becomes the offending field.
fn locate_field(path: &str, reason: &str) -> (String, String) {
    let path = if path == "." { "" } else { path };
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(rest) = reason.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        return (join(&rest[..end]), "is required".into());
    }
    if let Some(rest) = reason.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = if path.is_empty() {
            rest[..end].to_string()
        } else {
            path.to_string()
        };
        return (field, "is not a known field".into());
    }
    (path.to_string(), reason.to_string())
}

/// Decodes `application/x-www-form-urlencoded` text (also query strings): `+` is a space,
/// `%XX` a byte; the result must be UTF-8.
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Reads `k=v&k=v` pairs. Every name must be in `allowed` and appear at most once; the error
/// names the offending parameter. (`None` for a malformed encoding.)
pub(crate) fn parse_pairs(
    s: &str,
    allowed: &[&str],
) -> Result<HashMap<String, String>, (String, &'static str)> {
    let mut out = HashMap::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k).ok_or((String::new(), "is not valid percent-encoded UTF-8"))?;
        let v = form_decode(v).ok_or((k.clone(), "is not valid percent-encoded UTF-8"))?;
        if !allowed.contains(&k.as_str()) {
            return Err((k, "is not a known parameter"));
        }
        if out.insert(k.clone(), v).is_some() {
            return Err((k, "must not be repeated"));
        }
    }
    Ok(out)
}

/// The query string, read strictly against the parameters a route documents.
pub struct QueryMap(pub HashMap<String, String>);

impl QueryMap {
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        parse_pairs(query.unwrap_or(""), allowed)
            .map(QueryMap)
            .map_err(|(field, reason)| ApiError::invalid_query(&field, reason))
    }

    /// A parameter, with empty values treated as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A path segment naming an object. Any string is accepted; one that is not a valid id is
/// simply not found.
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| IdPath(id))
            .map_err(|e| ApiError::BadRequest {
                detail: e.body_text(),
            })
    }
}

fn authorization(parts: &Parts) -> Option<(&str, &str)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    Some((scheme, credentials.trim()))
}

/// A partner authenticated by a bearer token (RFC 6750 §2.1), within its rate limit.
#[derive(Debug, Clone)]
pub struct PartnerAuth(pub Arc<PartnerAccess>);

impl PartnerAuth {
    /// RFC 6750 §3.1 `insufficient_scope` unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

async fn bearer(state: &ApiState, token: &str) -> Result<Arc<PartnerAccess>, ApiError> {
    let access = state.partners.authenticate(token).await?;
    state
        .limiter
        .check(&access.partner_id, access.environment, access.rate_limit)
        .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })?;
    Ok(access)
}

impl FromRequestParts<ApiState> for PartnerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match authorization(parts) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Ok(PartnerAuth(bearer(state, token).await?))
            }
            _ => Err(ApiError::Unauthorized(Challenge::Bearer)),
        }
    }
}

/// Who manages an application or credentials: the applicant account (HTTP Basic with the
/// application's e-mail and password) or a bearer token of the same partner.
#[derive(Debug, Clone)]
pub struct AccountAuth {
    pub partner_id: PartnerId,
    /// Set when a bearer token authenticated: it may manage only its own client.
    pub client_id: Option<ClientId>,
}

impl FromRequestParts<ApiState> for AccountAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Some((scheme, credentials)) = authorization(parts) else {
            return Err(ApiError::Unauthorized(Challenge::BasicOrBearer));
        };
        if scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty() {
            let access = bearer(state, credentials).await?;
            return Ok(AccountAuth {
                partner_id: access.partner_id.clone(),
                client_id: Some(access.client_id.clone()),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            // RFC 7617 §2: base64 of `user-id ":" password`, UTF-8 (we announce charset).
            let decoded = STANDARD
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(ApiError::InvalidCredentials)?;
            let (email, password) = decoded
                .split_once(':')
                .ok_or(ApiError::InvalidCredentials)?;
            // Password checks cost an argon2 hash: limit how fast anyone can guess.
            state
                .limiter
                .check_sign_in(email)
                .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })?;
            let account = state.partners.sign_in(email, password).await?;
            return Ok(AccountAuth {
                partner_id: account.partner_id,
                client_id: None,
            });
        }
        Err(ApiError::Unauthorized(Challenge::BasicOrBearer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        n: u32,
    }

    fn field(json: &str) -> (ErrorCode, Option<String>) {
        let e = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (e.code(), e.problem().field)
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(
            field(r#"{"name": 1, "n": 1}"#),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field(r#"{"n": 1}"#),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field(r#"{"name": "x", "n": 1, "extra": true}"#),
            (ErrorCode::ValidationFailed, Some("extra".into()))
        );
        assert_eq!(field(r#"{"name": "#).0, ErrorCode::BadRequest);
        assert_eq!(
            field(r#"{"name": "x", "n": 1} trailing"#).0,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn form_encoding_is_decoded() {
        assert_eq!(form_decode("a+b%2Fc%3D").as_deref(), Some("a b/c="));
        assert_eq!(form_decode("%E4%B8%AD").as_deref(), Some("中"));
        assert_eq!(form_decode("%ZZ"), None);
        assert_eq!(form_decode("%4"), None);
    }

    #[test]
    fn pairs_are_strict() {
        let ok = parse_pairs("a=1&b=x+y", &["a", "b"]).unwrap();
        assert_eq!(ok["b"], "x y");
        assert_eq!(parse_pairs("a=1&a=2", &["a"]).unwrap_err().0, "a");
        assert_eq!(parse_pairs("c=1", &["a"]).unwrap_err().0, "c");
    }
}
