//! The console's static files (one stylesheet, one script), embedded in the binary with
//! rust-embed and served under `/console/assets/`: nothing comes from a CDN, so the console
//! works offline. Pages link each file with `?v=<hash of its content>`; such a request may be
//! cached for a year, since a change of content changes the URL. Without the matching `v` the
//! browser must revalidate (ETag), so an old page never pairs with a stale file.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use serde::Deserialize;

use crate::error::ConsoleError;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The first 16 hex digits of each file's SHA-256: its version.
static VERSIONS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|name| {
            let file = Assets::get(&name)?;
            Some((
                name.to_string(),
                hex::encode(file.metadata.sha256_hash())[..16].to_owned(),
            ))
        })
        .collect()
});

/// The URL of an embedded file, versioned by content.
pub(crate) fn url(name: &str) -> String {
    match VERSIONS.get(name) {
        Some(v) => format!("/console/assets/{name}?v={v}"),
        None => format!("/console/assets/{name}"),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssetQuery {
    #[serde(default)]
    v: Option<String>,
}

/// `GET /console/assets/{file}`
pub(crate) async fn serve(
    Path(name): Path<String>,
    Query(q): Query<AssetQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let (Some(file), Some(version)) = (Assets::get(&name), VERSIONS.get(&name)) else {
        return Err(ConsoleError::NotFound);
    };
    let etag = format!("\"{version}\"");
    let cache = if q.v.as_deref() == Some(version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut res = if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = file.data.into_owned().into_response();
        if let Ok(ct) = HeaderValue::from_str(file.metadata.mimetype()) {
            r.headers_mut().insert(CONTENT_TYPE, ct);
        }
        r
    };
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(e) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, e);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_assets_are_embedded_and_versioned() {
        for name in ["app.css", "app.js"] {
            assert!(Assets::get(name).is_some(), "{name} is not embedded");
            let u = url(name);
            assert!(u.starts_with(&format!("/console/assets/{name}?v=")), "{u}");
        }
    }
}
