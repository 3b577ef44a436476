//! Reading the `Cookie` header and writing `Set-Cookie` values (RFC 6265), for the few cookies
//! the console uses. Values we set are base64url or language tags, so they never need quoting.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The value of cookie `name`, if the request sent it.
pub(crate) fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// How a cookie is sent back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attributes {
    pub(crate) path: &'static str,
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
    /// `None` is a session cookie (gone when the browser closes).
    pub(crate) max_age_secs: Option<i64>,
}

/// A `Set-Cookie` value. SameSite=Lax: sent on top-level navigation from other sites (links
/// into the console work) but not on their cross-site POSTs or subresource requests.
pub(crate) fn set(name: &str, value: &str, a: Attributes) -> String {
    let mut s = format!("{name}={value}; Path={}; SameSite=Lax", a.path);
    if let Some(secs) = a.max_age_secs {
        s.push_str(&format!("; Max-Age={secs}"));
    }
    if a.http_only {
        s.push_str("; HttpOnly");
    }
    if a.secure {
        s.push_str("; Secure");
    }
    s
}

/// A `Set-Cookie` value that deletes the cookie.
pub(crate) fn clear(name: &str, path: &'static str, secure: bool) -> String {
    set(
        name,
        "",
        Attributes {
            path,
            http_only: true,
            secure,
            max_age_secs: Some(0),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; openpile_console=tok; b=2"),
        );
        h.append(COOKIE, HeaderValue::from_static("openpile_lang=en"));
        assert_eq!(get(&h, "openpile_console").as_deref(), Some("tok"));
        assert_eq!(get(&h, "openpile_lang").as_deref(), Some("en"));
        assert_eq!(get(&h, "missing"), None);
    }

    #[test]
    fn set_cookie_carries_the_attributes() {
        let v = set(
            "s",
            "v",
            Attributes {
                path: "/console",
                http_only: true,
                secure: true,
                max_age_secs: Some(60),
            },
        );
        assert_eq!(
            v,
            "s=v; Path=/console; SameSite=Lax; Max-Age=60; HttpOnly; Secure"
        );
    }
}
