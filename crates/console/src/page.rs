//! What every page shares: the frame around it ([`Chrome`]: language, navigation, the
//! operator, the CSRF token), rendering a template into a response, and how times and
//! values are written.

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::ConsoleState;
use crate::assets;
use crate::auth::Staff;
use crate::error::ConsoleError;
use crate::i18n::{Lang, Messages};
use crate::nav::{self, NavLink, Screen};
use openpile_secrets as secrets;

/// The logged-in operator, as the header shows them.
#[derive(Debug, Clone)]
pub(crate) struct Badge {
    pub(crate) email: String,
    pub(crate) role: &'static str,
}

/// The frame of a page.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) lang_code: &'static str,
    pub(crate) other_lang_code: &'static str,
    /// The current path, for the language switch.
    pub(crate) path: String,
    pub(crate) nav: Vec<NavLink>,
    pub(crate) operator: Option<Badge>,
    /// The hidden-field value of this page's forms.
    pub(crate) csrf: String,
    pub(crate) css_url: String,
    pub(crate) js_url: String,
    /// The product name in the top bar, and where it links.
    pub(crate) brand: &'static str,
    pub(crate) home: &'static str,
    /// Where the logout form posts.
    pub(crate) logout_action: &'static str,
}

impl Chrome {
    fn base(lang: Lang, path: &str) -> Self {
        Self {
            lang_code: lang.code(),
            other_lang_code: lang.other().code(),
            path: path.to_owned(),
            nav: Vec::new(),
            operator: None,
            csrf: String::new(),
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
            brand: lang.messages().app_name,
            home: "/console",
            logout_action: "/console/logout",
        }
    }

    /// A page of the partner portal; `partner` is who is signed in (name, CSRF field).
    pub(crate) fn portal(lang: Lang, path: &str, partner: Option<(String, String)>) -> Self {
        let t = lang.messages();
        let (operator, csrf) = match partner {
            Some((name, csrf)) => (
                Some(Badge {
                    email: name,
                    role: t.portal_partner,
                }),
                csrf,
            ),
            None => (None, String::new()),
        };
        Self {
            brand: t.portal_name,
            home: "/portal",
            logout_action: "/portal/logout",
            operator,
            csrf,
            ..Self::base(lang, path)
        }
    }

    /// A page for nobody in particular (login, errors).
    pub(crate) fn anonymous(lang: Lang, path: &str) -> Self {
        Self::base(lang, path)
    }

    /// The language switch: this page with `lang=` replaced.
    pub(crate) fn lang_href(&self) -> String {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut parts: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
            .collect();
        let lang = format!("lang={}", self.other_lang_code);
        parts.push(&lang);
        format!("{path}?{}", parts.join("&"))
    }

    /// A page of the console for a logged-in operator.
    pub(crate) fn for_staff(staff: &Staff, current: Option<Screen>, path: &str) -> Self {
        let t = staff.lang.messages();
        Self {
            nav: nav::links(staff.operator.role, staff.partners_on, current, t),
            operator: Some(Badge {
                email: staff.operator.email.as_str().to_owned(),
                role: t.role(staff.operator.role),
            }),
            csrf: staff.csrf(),
            ..Self::base(staff.lang, path)
        }
    }

    /// A fresh double-submit nonce for one form (see `nonce`).
    pub(crate) fn nonce(&self) -> String {
        secrets::random_token()
    }
}

/// Renders `tpl` as an HTML response with `status`.
pub(crate) fn render<T: Template>(status: StatusCode, tpl: &T) -> Result<Response, ConsoleError> {
    let html = tpl.render().map_err(ConsoleError::internal)?;
    Ok((status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// A time in the operator's zone, to the second.
pub(crate) fn fmt_time(state: &ConsoleState, t: DateTime<Utc>) -> String {
    t.with_timezone(&state.config.timezone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// An optional time, or the word for "never".
pub(crate) fn fmt_opt_time(
    state: &ConsoleState,
    t: Option<DateTime<Utc>>,
    m: &'static Messages,
) -> String {
    t.map_or_else(|| m.never.to_owned(), |t| fmt_time(state, t))
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass; `/` too, to
/// keep `next=` paths readable).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_switch_keeps_the_query() {
        let mut c = Chrome::anonymous(Lang::Zh, "/console/login?next=/console/x&lang=zh-CN");
        assert_eq!(c.lang_href(), "/console/login?next=/console/x&lang=en");
        c.path = "/console".into();
        assert_eq!(c.lang_href(), "/console?lang=en");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("/console/stations"), "/console/stations");
        assert_eq!(url_encode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
        assert_eq!(url_encode("充"), "%E5%85%85");
    }
}
