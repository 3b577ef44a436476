//! Extractors whose rejections are admin problems: a JSON body whose errors name the field
//! (serde's own messages do not), and cursor pagination parameters.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openpile_core::page::{Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::AdminError;

/// A JSON request body. Malformed JSON is `bad_request`; a missing, unknown or wrongly typed
/// field is `validation_failed` naming that field by its path (`segments[2].start`).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
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
            return Err(AdminError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AdminError::PayloadTooLarge
                } else {
                    AdminError::BadRequest {
                        detail: "the request body could not be read".into(),
                    }
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes`, telling a syntax error (400) from a field error (422 naming it).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let reason = strip_position(&inner.to_string());
                let (field, reason) = locate_field(&path, reason);
                AdminError::validation(field, reason)
            }
            _ => not_json(&inner),
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(e: &serde_json::Error) -> AdminError {
    AdminError::BadRequest {
        detail: format!("the body is not valid JSON: {e}"),
    }
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// serde reports a missing field at the path of its parent object, naming the field only in
/// the message: move it into the path so `field` is always the offending field. (An unknown
/// field's path already ends with it.)
fn locate_field(path: &str, reason: String) -> (String, String) {
    let path = if path == "." { "" } else { path };
    if let Some(rest) = reason.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        let name = &rest[..end];
        let field = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return (field, "is required".to_owned());
    }
    if let Some(rest) = reason.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = if path.is_empty() { &rest[..end] } else { path };
        return (field.to_owned(), "is not a known field".to_owned());
    }
    (path.to_owned(), reason)
}

/// Query parameters. Every parameter type here is made of optional strings parsed by the
/// handler, so this only fails on a malformed query string.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| QueryParams(v))
            .map_err(|e| AdminError::invalid_query("", e.body_text()))
    }
}

/// A path segment naming an object. Any string is accepted here; a segment that is not a valid
/// id is simply not found by the handler.
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| IdPath(id))
            .map_err(|e| AdminError::BadRequest {
                detail: e.body_text(),
            })
    }
}

/// `limit` and `cursor` of every list. Parsed by hand so that errors name the parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub const DEFAULT_LIMIT: u32 = 50;

    pub(crate) fn to_request(&self) -> Result<PageRequest, AdminError> {
        let limit = match self.limit.as_deref() {
            None | Some("") => Self::DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    AdminError::invalid_query(
                        "limit",
                        format!(
                            "must be a whole number from 1 to {}",
                            PageRequest::MAX_LIMIT
                        ),
                    )
                })?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// The cursor is the last key of the page, base64url-encoded: opaque to clients, so the key's
/// form can change without breaking them.
pub(crate) fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, AdminError> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AdminError::invalid_query("cursor", "is not a cursor this API issued"))
}

/// Reads an optional boolean query parameter (`true`/`false`, `1`/`0`).
pub(crate) fn parse_bool(field: &str, value: Option<&str>) -> Result<bool, AdminError> {
    match value {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(AdminError::invalid_query(field, "must be true or false")),
    }
}

/// A decimal as the client wrote it: a JSON string (`"120.5"`, preferred: exact) or a JSON
/// number. Kept as text so that core's parsers judge it and name the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal number as a string, e.g. \"0.8500\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DecimalText, E> {
                // The shortest text that reads back as the same f64 is what the client wrote
                // for any price or power with a sane number of digits.
                Ok(DecimalText(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> PageDto<T> {
    pub(crate) fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next.as_deref().map(encode_cursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn field_of(json: &str) -> (ErrorCode, Option<String>) {
        let e = parse_json::<Outer>(json.as_bytes()).unwrap_err();
        (e.code(), e.problem().field)
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"name": 1, "inner": []}"#),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field_of(r#"{"name": "x", "inner": [{"n": 1}, {"n": "2"}]}"#),
            (ErrorCode::ValidationFailed, Some("inner[1].n".into()))
        );
        assert_eq!(
            field_of(r#"{"inner": []}"#),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field_of(r#"{"name": "x", "inner": [{}]}"#),
            (ErrorCode::ValidationFailed, Some("inner[0].n".into()))
        );
        assert_eq!(
            field_of(r#"{"name": "x", "inner": [], "extra": 1}"#),
            (ErrorCode::ValidationFailed, Some("extra".into()))
        );
        assert_eq!(field_of(r#"{"name": "#).0, ErrorCode::BadRequest);
        assert_eq!(
            field_of(r#"{"name": "x", "inner": []} x"#).0,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_rejected() {
        let p = PageParams {
            limit: Some("10".into()),
            cursor: Some(encode_cursor("SH-0007")),
        };
        let r = p.to_request().unwrap();
        assert_eq!((r.limit, r.after.as_deref()), (10, Some("SH-0007")));
        for (limit, cursor, field) in [
            (Some("0"), None, "limit"),
            (Some("501"), None, "limit"),
            (Some("ten"), None, "limit"),
            (None, Some("!!!"), "cursor"),
        ] {
            let p = PageParams {
                limit: limit.map(str::to_owned),
                cursor: cursor.map(str::to_owned),
            };
            let e = p.to_request().unwrap_err();
            assert_eq!(e.problem().field.as_deref(), Some(field));
            assert_eq!(e.code(), ErrorCode::InvalidQuery);
        }
    }
}
