//! The console's one error type and the middleware that turns it into a page. A handler returns
//! `Err(ConsoleError)`; its response carries only the kind of error, and [`render_errors`],
//! which knows the request's language, renders the page and logs internal errors once. The
//! same middleware adds the security headers every console response carries.

use askama::Template;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openpile_core::error::StoreError;

use crate::cookie;
use crate::i18n::{LANG_COOKIE, Lang, Messages};
use crate::page::{self, Chrome};

/// What went wrong, as the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    NotFound,
    Forbidden,
    Csrf,
    BadRequest,
    AlreadySubmitted,
    Unavailable,
    Internal,
}

impl ErrorKind {
    fn status(self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::AlreadySubmitted => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn words(self, t: &'static Messages) -> (&'static str, &'static str) {
        match self {
            Self::NotFound => (t.err_not_found, t.err_not_found_detail),
            Self::Forbidden => (t.err_forbidden, t.err_forbidden_detail),
            Self::Csrf => (t.err_csrf, t.err_csrf_detail),
            Self::BadRequest => (t.err_bad_request, t.err_bad_request_detail),
            Self::AlreadySubmitted => (t.err_twice, t.err_twice_detail),
            Self::Unavailable => (t.err_unavailable, t.err_unavailable_detail),
            Self::Internal => (t.err_internal, t.err_internal_detail),
        }
    }
}

/// An error a console handler returns.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    #[error("not found")]
    NotFound,
    #[error("forbidden for this role")]
    Forbidden,
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("form already submitted")]
    AlreadySubmitted,
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ConsoleError {
    pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound | Self::Store(StoreError::NotFound) => ErrorKind::NotFound,
            Self::Forbidden => ErrorKind::Forbidden,
            Self::Csrf => ErrorKind::Csrf,
            Self::BadRequest(_) => ErrorKind::BadRequest,
            Self::AlreadySubmitted => ErrorKind::AlreadySubmitted,
            Self::Store(StoreError::Unavailable(_)) => ErrorKind::Unavailable,
            Self::Store(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Whether a store lookup found the thing (an id that is already taken, a row to update);
/// errors other than "not found" stay errors.
pub(crate) fn exists<T>(found: Result<T, StoreError>) -> Result<bool, StoreError> {
    match found {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Marks a response to be replaced by an error page; `log` is the text to log, for errors the
/// operator cannot act on.
#[derive(Debug, Clone)]
struct ErrorPage {
    kind: ErrorKind,
    log: Option<String>,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let log = matches!(kind, ErrorKind::Internal | ErrorKind::Unavailable).then(|| {
            // The whole source chain: the top-level message alone rarely says enough.
            let mut text = self.to_string();
            let mut source = std::error::Error::source(&self);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        });
        let mut res = kind.status().into_response();
        res.extensions_mut().insert(ErrorPage { kind, log });
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    t: &'static Messages,
    chrome: Chrome,
    heading: &'static str,
    detail: &'static str,
    back_href: &'static str,
    back_label: &'static str,
}

/// Content-Security-Policy of every console page: only our own scripts, styles and
/// connections (no inline script, so injected markup cannot run), no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Renders error pages in the request's language, adds security headers, and remembers a
/// language chosen with `?lang=`.
pub(crate) async fn render_errors(req: Request, next: Next) -> Response {
    let lang = Lang::of_request(req.uri(), req.headers());
    let chosen = Lang::from_query(req.uri().query());
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;

    if let Some(page) = res.extensions_mut().remove::<ErrorPage>() {
        if let Some(text) = &page.log {
            tracing::error!(path = %path, error = %text, "console request failed");
        }
        let t = lang.messages();
        let (heading, detail) = page.kind.words(t);
        let tpl = ErrorTemplate {
            t,
            chrome: Chrome::anonymous(lang, &path),
            heading,
            detail,
            back_href: "/console",
            back_label: t.back_to_console,
        };
        let status = res.status();
        let headers = res.headers().clone();
        res = match page::render(status, &tpl) {
            Ok(mut r) => {
                // Keep what the handler set (cookies, for instance).
                for (k, v) in &headers {
                    r.headers_mut().append(k, v.clone());
                }
                r
            }
            Err(_) => status.into_response(),
        };
    }

    let h = res.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages show live and private data: never from a cache, nor after logout via Back.
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(lang) = chosen {
        let value = cookie::set(
            LANG_COOKIE,
            lang.code(),
            cookie::Attributes {
                path: "/",
                http_only: true,
                secure: false,
                max_age_secs: Some(365 * 24 * 3600),
            },
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(SET_COOKIE, v);
        }
    }
    res
}

/// Any other path under `/console`.
pub(crate) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}
