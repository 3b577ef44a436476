//! Operator login, logout and the session every other console page requires.
//!
//! A session is a random token in the `openpile_console` cookie (HttpOnly, SameSite=Lax,
//! Path=/console, Secure when configured), stored only as its SHA-256 through
//! `OperatorStore::create_operator_token`, exactly like the admin API's bearer tokens, so either
//! face's logout revokes the same kind of record. A page asked for without a live session
//! redirects to the login page with `?next=`, and the login sends the operator back there.
//!
//! The login form has its own CSRF key (the `openpile_console_login` cookie), so a foreign site
//! cannot log a browser into an account of its choosing.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::operator::{Email, OperatorAccount};
use serde::Deserialize;

use crate::csrf::{self, Purpose};
use crate::error::ConsoleError;
use crate::form::FormData;
use crate::i18n::{Lang, Messages, fill};
use crate::nav::{Permission, allows};
use crate::page::{Chrome, render, url_encode};
use crate::{ConsoleState, audit, cookie};
use openpile_secrets as secrets;

pub(crate) const SESSION_COOKIE: &str = "openpile_console";
const LOGIN_COOKIE: &str = "openpile_console_login";
const COOKIE_PATH: &str = "/console";

/// A logged-in operator.
#[derive(Debug, Clone)]
pub(crate) struct Staff {
    pub(crate) operator: OperatorAccount,
    /// The session token itself (the CSRF secret); never shown or logged.
    token: String,
    pub(crate) lang: Lang,
    /// Whether the partner screens are on.
    pub(crate) partners_on: bool,
}

impl Staff {
    pub(crate) fn t(&self) -> &'static Messages {
        self.lang.messages()
    }

    /// The CSRF field for this session's forms.
    pub(crate) fn csrf(&self) -> String {
        csrf::token(&self.token, Purpose::Session)
    }

    /// Refuses a form whose CSRF field is not this session's.
    pub(crate) fn check_csrf(&self, form: &FormData) -> Result<(), ConsoleError> {
        if csrf::verify(&self.token, Purpose::Session, form.get("csrf")) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }

    pub(crate) fn can(&self, p: Permission) -> bool {
        allows(self.operator.role, p)
    }

    pub(crate) fn require(&self, p: Permission) -> Result<(), ConsoleError> {
        if self.can(p) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    /// `operator:<id>`, as the audit trail names actors.
    pub(crate) fn actor(&self) -> String {
        format!("operator:{}", self.operator.id)
    }

    pub(crate) fn token_sha256(&self) -> String {
        secrets::token_sha256(&self.token)
    }
}

/// Why a request has no operator.
pub(crate) enum NoSession {
    /// Not logged in (or the session ended): log in, then come back to `next`.
    Login { next: String, expired: bool },
    /// The live-status stream cannot follow a redirect to a form.
    Stream,
    /// The store failed while looking the session up.
    Error(ConsoleError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::Login { next, expired } => {
                let mut to = format!("/console/login?next={}", url_encode(&next));
                if expired {
                    to.push_str("&expired=1");
                }
                let mut res = see_other(&to);
                if expired {
                    append_cookie(&mut res, &cookie::clear(SESSION_COOKIE, COOKIE_PATH, false));
                }
                res
            }
            Self::Stream => StatusCode::UNAUTHORIZED.into_response(),
            Self::Error(e) => e.into_response(),
        }
    }
}

/// Where to come back to after logging in: the page asked for (for a POST, the page of its
/// form, which every form's path also serves).
fn next_of(parts: &Parts) -> String {
    let path = parts.uri.path();
    if parts.method == Method::GET || parts.method == Method::HEAD {
        match parts.uri.query() {
            Some(q) if !q.is_empty() => format!("{path}?{q}"),
            _ => path.to_owned(),
        }
    } else if path == "/console/logout" {
        "/console".to_owned()
    } else {
        path.to_owned()
    }
}

/// Accepts only paths inside the console, so `next` cannot send anyone to another site
/// (`//evil.example`, `/\evil.example`, `https://…`).
pub(crate) fn safe_next(next: &str) -> String {
    safe_next_in("/console", next)
}

/// Accepts only paths inside `root` (`/console`, `/portal`) other than its sign-in and
/// sign-out pages; anything else is `root` itself.
pub(crate) fn safe_next_in(root: &str, next: &str) -> String {
    let ok = next.starts_with(root)
        && matches!(next.as_bytes().get(root.len()), None | Some(b'/' | b'?'))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && !next.starts_with(&format!("{root}/login"))
        && !next.starts_with(&format!("{root}/logout"));
    if ok { next.to_owned() } else { root.to_owned() }
}

/// The CSRF key of a sign-in form: the browser's own, or a fresh one (`true`: the response
/// must set it).
pub(crate) fn form_key(existing: Option<String>) -> (String, bool) {
    match existing {
        Some(k) => (k, false),
        None => (secrets::random_token(), true),
    }
}

/// Sets an HttpOnly cookie on `path`, Secure when the console is served over TLS: the
/// sign-in form keys and the session cookies of the console and the portal.
pub(crate) fn set_private_cookie(
    state: &ConsoleState,
    res: &mut Response,
    name: &str,
    path: &'static str,
    value: &str,
    max_age_secs: Option<i64>,
) {
    let cookie = cookie::set(
        name,
        value,
        cookie::Attributes {
            path,
            http_only: true,
            secure: state.config.secure_cookies,
            max_age_secs,
        },
    );
    append_cookie(res, &cookie);
}

impl FromRequestParts<ConsoleState> for Staff {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, NoSession> {
        let stream = parts.uri.path() == "/console/events";
        let refuse = |expired: bool| {
            if stream {
                NoSession::Stream
            } else {
                NoSession::Login {
                    next: next_of(parts),
                    expired,
                }
            }
        };
        let Some(token) = cookie::get(&parts.headers, SESSION_COOKIE) else {
            return Err(refuse(false));
        };
        let now = state.clock.now();
        match state
            .operators
            .find_operator_token(&secrets::token_sha256(&token), now)
            .await
        {
            Ok(session) if !session.operator.disabled => Ok(Staff {
                operator: session.operator,
                token,
                lang: Lang::of_request(&parts.uri, &parts.headers),
                partners_on: state.partners.is_some(),
            }),
            Ok(_) | Err(StoreError::NotFound) => Err(refuse(true)),
            Err(e) => Err(NoSession::Error(e.into())),
        }
    }
}

pub(crate) fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// A 303 to `to`: the end of every successful POST (post/redirect/get).
pub(crate) fn redirect(to: &str) -> Response {
    see_other(to)
}

pub(crate) fn append_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(SET_COOKIE, v);
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
pub(crate) struct LoginTemplate {
    pub(crate) t: &'static Messages,
    pub(crate) chrome: Chrome,
    pub(crate) heading: &'static str,
    pub(crate) action: &'static str,
    pub(crate) csrf: String,
    pub(crate) next: String,
    pub(crate) email: String,
    pub(crate) error: Option<String>,
    pub(crate) notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) expired: Option<String>,
    #[serde(default)]
    pub(crate) bye: Option<String>,
}

/// The login form, with its CSRF key cookie (kept if the browser has one already).
fn login_form(
    state: &ConsoleState,
    lang: Lang,
    key: Option<String>,
    status: StatusCode,
    fill_in: LoginForm,
) -> Result<Response, ConsoleError> {
    let (key, fresh) = form_key(key);
    let tpl = LoginTemplate {
        t: lang.messages(),
        chrome: Chrome::anonymous(
            lang,
            &format!("/console/login?next={}", url_encode(&fill_in.next)),
        ),
        heading: lang.messages().login_title,
        action: "/console/login",
        csrf: csrf::token(&key, Purpose::Login),
        next: fill_in.next,
        email: fill_in.email,
        error: fill_in.error,
        notice: fill_in.notice,
    };
    let mut res = render(status, &tpl)?;
    if fresh {
        set_private_cookie(state, &mut res, LOGIN_COOKIE, COOKIE_PATH, &key, None);
    }
    Ok(res)
}

/// What a login form shows again.
#[derive(Default)]
pub(crate) struct LoginForm {
    pub(crate) next: String,
    pub(crate) email: String,
    pub(crate) error: Option<String>,
    pub(crate) notice: Option<&'static str>,
}

/// `GET /console/login`
pub(crate) async fn login_page(
    State(state): State<ConsoleState>,
    lang: Lang,
    Query(q): Query<LoginQuery>,
    parts: axum::http::HeaderMap,
) -> Result<Response, ConsoleError> {
    let t = lang.messages();
    let next = safe_next(q.next.as_deref().unwrap_or("/console"));
    // Someone already logged in goes straight on.
    if let Some(token) = cookie::get(&parts, SESSION_COOKIE) {
        let now = state.clock.now();
        if let Ok(s) = state
            .operators
            .find_operator_token(&secrets::token_sha256(&token), now)
            .await
            && !s.operator.disabled
        {
            return Ok(redirect(&next));
        }
    }
    let notice = if q.bye.is_some() {
        Some(t.logged_out)
    } else if q.expired.is_some() {
        Some(t.session_expired)
    } else {
        None
    };
    login_form(
        &state,
        lang,
        cookie::get(&parts, LOGIN_COOKIE),
        StatusCode::OK,
        LoginForm {
            next,
            notice,
            ..LoginForm::default()
        },
    )
}

/// `POST /console/login`
pub(crate) async fn login(
    State(state): State<ConsoleState>,
    lang: Lang,
    headers: axum::http::HeaderMap,
    form: FormData,
) -> Result<Response, ConsoleError> {
    let t = lang.messages();
    let next = safe_next(form.get("next"));
    let typed_email = form.get("email").trim().to_owned();
    let again = |status: StatusCode, error: String, key: Option<String>| {
        login_form(
            &state,
            lang,
            key,
            status,
            LoginForm {
                next: next.clone(),
                email: typed_email.clone(),
                error: Some(error),
                notice: None,
            },
        )
    };

    let key = cookie::get(&headers, LOGIN_COOKIE);
    let key_ok = key
        .as_deref()
        .is_some_and(|k| csrf::verify(k, Purpose::Login, form.get("csrf")));
    if !key_ok {
        // A fresh key: the old one (if any) is what failed.
        return again(StatusCode::FORBIDDEN, t.login_form_expired.to_owned(), None);
    }
    let Ok(email) = Email::parse(&typed_email) else {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            t.login_email_invalid.to_owned(),
            key,
        );
    };

    let now = state.clock.now();
    let lock_key = email.as_str().to_owned();
    if let Some(until) = state.lockout.locked_until(&lock_key, now) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            locked_message(&state, t, until),
            key,
        );
    }

    let account = match state.operators.find_operator_by_email(&email).await {
        Ok(a) => Some(a),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let phc = account
        .as_ref()
        .filter(|a| !a.disabled)
        .map(|a| a.password_hash.clone());
    let password = form.get("password").to_owned();
    if !secrets::verify_account_password(password, phc).await {
        if let Some(until) = state.lockout.record_failure(&lock_key, now) {
            audit::record(
                &state,
                "system".to_owned(),
                "operator.locked_out",
                format!("email:{}", email.as_str()),
                serde_json::json!({ "until": until, "via": "console" }),
            )
            .await?;
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                locked_message(&state, t, until),
                key,
            );
        }
        return again(StatusCode::UNAUTHORIZED, t.login_failed.to_owned(), key);
    }
    let Some(account) = account else {
        // verify_account_password never matches without an account.
        return again(StatusCode::UNAUTHORIZED, t.login_failed.to_owned(), key);
    };
    state.lockout.record_success(&lock_key);

    let token = secrets::random_token();
    let expires_at = now + state.config.session_ttl;
    state
        .operators
        .create_operator_token(&secrets::token_sha256(&token), &account.id, now, expires_at)
        .await?;
    audit::record(
        &state,
        format!("operator:{}", account.id),
        "operator.login",
        format!("operator:{}", account.id),
        serde_json::json!({ "via": "console" }),
    )
    .await?;

    let mut res = redirect(&next);
    let ttl = Some(state.config.session_ttl.num_seconds());
    set_private_cookie(&state, &mut res, SESSION_COOKIE, COOKIE_PATH, &token, ttl);
    append_cookie(
        &mut res,
        &cookie::clear(LOGIN_COOKIE, COOKIE_PATH, state.config.secure_cookies),
    );
    Ok(res)
}

fn locked_message(state: &ConsoleState, t: &'static Messages, until: DateTime<Utc>) -> String {
    fill(
        t.login_locked,
        until.with_timezone(&state.config.timezone).format("%H:%M"),
    )
}

/// `POST /console/logout`
pub(crate) async fn logout(
    State(state): State<ConsoleState>,
    staff: Staff,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    state
        .operators
        .revoke_operator_token(&staff.token_sha256())
        .await?;
    audit::record(
        &state,
        staff.actor(),
        "operator.logout",
        staff.actor(),
        serde_json::json!({ "via": "console" }),
    )
    .await?;
    let mut res = redirect("/console/login?bye=1");
    append_cookie(
        &mut res,
        &cookie::clear(SESSION_COOKIE, COOKIE_PATH, state.config.secure_cookies),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_console() {
        for ok in ["/console", "/console/stations/SH-1", "/console?lang=en"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "https://evil.example/console",
            "//evil.example",
            "/console//evil",
            "/consolex",
            "/console/\\evil",
            "/console/login?next=/x",
            "/portal",
        ] {
            assert_eq!(safe_next(bad), "/console", "{bad}");
        }
    }
}
