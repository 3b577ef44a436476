//! The partner portal under `/portal`: apply (sandbox credentials at once), sign in, see the
//! application's status and the reviewer's reason, correct and resubmit, reveal a new secret
//! once, rotate and revoke secrets, and watch the stations the partner may use with live
//! status. Links lead to the API documentation.
//!
//! Sessions: applicant accounts have no session store in core, so a portal session is a
//! signed cookie (`openpile_portal`: partner id and expiry, HMAC-SHA256 with the configured
//! `SessionKey`), HttpOnly, SameSite=Lax, Path=/portal. Signing out deletes the cookie; a copy
//! taken before stays valid until it expires (`portal_session_ttl`), which is the price of
//! having no server-side session. Forms carry a CSRF field derived from the cookie.
//!
//! Screens beyond the account (each in its own module, all scoped to the signed-in partner:
//! another partner's ids are simply not found):
//! - [`webhooks`]: webhook settings per credential environment, signing-secret rotation, test
//!   deliveries and the delivery log with retry;
//! - [`stream`]: the live view of the partner's own event feed (server-sent events);
//! - [`sessions`]: its charging sessions and CDRs;
//! - [`statements`]: its statements, the settlement-report upload (CSV) and the
//!   reconciliation;
//! - [`guide`]: the getting-started guide, linked with the API docs from every portal page.

use std::collections::HashSet;
use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use openpile_core::error::CoreError;
use openpile_core::ids::PartnerId;
use openpile_core::network::Station;
use openpile_core::page::PageRequest;
use openpile_core::partner::application::{Application, ApplicationStatus};
use openpile_core::partner::catalog::Visibility;
use openpile_core::partner::credential::{Environment, Partner, PartnerStatus};
use openpile_core::partner::service::IssuedSecret;
use openpile_core::ports::ConnectorFilter;
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::application_form::{self, Draft};
use crate::applications::{contract_summary, status_label};
use crate::auth::{LoginForm, LoginQuery, LoginTemplate, append_cookie, redirect};
use crate::csrf::{self, Purpose};
use crate::error::ConsoleError;
use crate::events::{Guard, Scope, live_stream, since_of};
use crate::form::{FieldErrors, FormData};
use crate::i18n::{Lang, Messages, fill};
use crate::network::{StationRow, station_rows};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, fmt_time, render, url_encode};
use crate::views::core_error;
use crate::{ConsoleState, audit, auth, cookie};

mod guide;
mod sessions;
mod statements;
mod stream;
mod webhooks;

pub(crate) use guide::guide;
pub(crate) use sessions::{cdr, cdrs, session, sessions};
pub(crate) use statements::{statement, statements, upload_report};
pub(crate) use stream::{live, live_events};
pub(crate) use webhooks::{
    retry_delivery, rotate_webhook_secret, save_webhook, test_webhook, webhook,
};

const SESSION_COOKIE: &str = "openpile_portal";
const FORM_COOKIE: &str = "openpile_portal_form";
const COOKIE_PATH: &str = "/portal";

fn session_mac(key: &[u8], payload: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"openpile-portal/session\0");
    mac.update(payload.as_bytes());
    mac
}

/// The cookie value for `partner` until `expires_at`.
fn seal(key: &[u8], partner: &PartnerId, expires_at: DateTime<Utc>) -> String {
    let payload = format!("{partner}|{}", expires_at.timestamp());
    let tag = session_mac(key, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The partner and expiry of a genuine, unexpired cookie.
fn open(key: &[u8], value: &str, now: DateTime<Utc>) -> Option<(PartnerId, DateTime<Utc>)> {
    let (payload, tag) = value.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    session_mac(key, &payload).verify_slice(&tag).ok()?;
    let (partner, expires) = payload.rsplit_once('|')?;
    let expires_at = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
    (expires_at > now).then_some(())?;
    Some((PartnerId::parse(partner).ok()?, expires_at))
}

/// A signed-in partner.
pub(crate) struct PartnerSession {
    pub(crate) partner_id: PartnerId,
    pub(crate) expires_at: DateTime<Utc>,
    cookie: String,
    pub(crate) lang: Lang,
}

impl PartnerSession {
    fn t(&self) -> &'static Messages {
        self.lang.messages()
    }

    fn csrf(&self) -> String {
        csrf::token(&self.cookie, Purpose::Portal)
    }

    fn check_csrf(&self, form: &FormData) -> Result<(), ConsoleError> {
        if csrf::verify(&self.cookie, Purpose::Portal, form.get("csrf")) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }

    fn chrome(&self, name: &str, path: &str) -> Chrome {
        portal_chrome(self.lang, path, Some((name.to_owned(), self.csrf())))
    }

    fn actor(&self) -> String {
        format!("partner:{}", self.partner_id)
    }
}

/// Why a portal request has no partner.
pub(crate) enum NoPartner {
    SignIn { next: String },
    Stream,
    Off,
}

impl IntoResponse for NoPartner {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => redirect(&format!("/portal/login?next={}", url_encode(&next))),
            Self::Stream => StatusCode::UNAUTHORIZED.into_response(),
            Self::Off => ConsoleError::NotFound.into_response(),
        }
    }
}

impl FromRequestParts<ConsoleState> for PartnerSession {
    type Rejection = NoPartner;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, NoPartner> {
        if state.partners.is_none() {
            return Err(NoPartner::Off);
        }
        let key = state.config.portal_session_key.bytes();
        let found = cookie::get(&parts.headers, SESSION_COOKIE)
            .and_then(|c| open(key, &c, state.clock.now()).map(|(p, e)| (p, e, c)));
        match found {
            Some((partner_id, expires_at, cookie)) => Ok(Self {
                partner_id,
                expires_at,
                cookie,
                lang: Lang::of_request(&parts.uri, &parts.headers),
            }),
            None if matches!(parts.uri.path(), "/portal/events" | "/portal/live/stream") => {
                Err(NoPartner::Stream)
            }
            None => {
                let path = parts.uri.path();
                let next = if parts.method == Method::GET {
                    match parts.uri.query() {
                        Some(q) if !q.is_empty() => format!("{path}?{q}"),
                        _ => path.to_owned(),
                    }
                } else {
                    // A form posted after the session expired: back to the page it was on.
                    page_of_form(path)
                };
                Err(NoPartner::SignIn { next })
            }
        }
    }
}

/// The frame of a portal page, with the portal's navigation: the partner's screens once signed
/// in, and always the API documentation and the getting-started guide.
fn portal_chrome(lang: Lang, path: &str, partner: Option<(String, String)>) -> Chrome {
    let t = lang.messages();
    let signed_in = partner.is_some();
    let mut chrome = Chrome::portal(lang, path, partner);
    let bare = path.split('?').next().unwrap_or(path);
    let screens: &[(&'static str, &'static str)] = &[
        ("/portal", t.pt_nav_home),
        ("/portal/webhook", t.pt_nav_webhook),
        ("/portal/live", t.pt_nav_live),
        ("/portal/sessions", t.pt_nav_sessions),
        ("/portal/cdrs", t.pt_nav_cdrs),
        ("/portal/statements", t.pt_nav_statements),
    ];
    let docs: &[(&'static str, &'static str)] = &[
        ("/docs", t.portal_api_docs),
        ("/portal/guide", t.pt_nav_guide),
    ];
    let shown = if signed_in { screens } else { &screens[..0] };
    chrome.nav = shown
        .iter()
        .chain(docs)
        .map(|(href, label)| crate::nav::NavLink {
            href,
            label,
            // A screen's own pages (a session under the sessions list) mark it too.
            current: bare == *href || (*href != "/portal" && bare.starts_with(&format!("{href}/"))),
        })
        .collect();
    chrome
}

/// The signed-in partner and the frame of one of its pages.
async fn partner_page(
    state: &ConsoleState,
    session: &PartnerSession,
    path: &str,
) -> Result<(Partner, Chrome), ConsoleError> {
    let partner = state
        .partners()?
        .partner(&session.partner_id)
        .await
        .map_err(core_error)?;
    let chrome = session.chrome(&partner.name, path);
    Ok((partner, chrome))
}

/// The page a portal form is posted from, by the path it posts to.
fn page_of_form(action: &str) -> String {
    if action.starts_with("/portal/webhook") {
        return "/portal/webhook".to_owned();
    }
    if let Some(rest) = action.strip_prefix("/portal/statements/")
        && let Some((id, _)) = rest.split_once('/')
    {
        return format!("/portal/statements/{id}");
    }
    "/portal".to_owned()
}

/// Only paths inside the portal (see `auth::safe_next`).
fn safe_next(next: &str) -> String {
    auth::safe_next_in(COOKIE_PATH, next)
}

/// The form key cookie of the sign-in and application forms (their CSRF secret), made when
/// the browser has none.
fn form_key(headers: &HeaderMap) -> (String, bool) {
    auth::form_key(cookie::get(headers, FORM_COOKIE))
}

fn set_form_key(state: &ConsoleState, res: &mut Response, key: &str) {
    auth::set_private_cookie(state, res, FORM_COOKIE, COOKIE_PATH, key, None);
}

fn form_key_ok(headers: &HeaderMap, form: &FormData) -> bool {
    cookie::get(headers, FORM_COOKIE)
        .is_some_and(|k| csrf::verify(&k, Purpose::PortalLogin, form.get("csrf")))
}

/// Signs `partner` in: the session cookie, and the form key is dropped.
fn start_session(state: &ConsoleState, res: &mut Response, partner: &PartnerId) {
    let ttl = state.config.portal_session_ttl;
    let value = seal(
        state.config.portal_session_key.bytes(),
        partner,
        state.clock.now() + ttl,
    );
    let max_age = Some(ttl.num_seconds());
    auth::set_private_cookie(state, res, SESSION_COOKIE, COOKIE_PATH, &value, max_age);
    append_cookie(
        res,
        &cookie::clear(FORM_COOKIE, COOKIE_PATH, state.config.secure_cookies),
    );
}

// ---- landing, sign-in, sign-out ---------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_landing.html")]
struct LandingPage {
    t: &'static Messages,
    chrome: Chrome,
}

/// `GET /portal`: the partner's home when signed in, else the landing page.
pub(crate) async fn index(
    State(state): State<ConsoleState>,
    session: Result<PartnerSession, NoPartner>,
    lang: Lang,
    Query(q): Query<HomeQuery>,
) -> Result<Response, ConsoleError> {
    match session {
        Ok(s) => match home(&state, &s, &q).await {
            // A genuine cookie for a partner the store no longer has (a reset database).
            Err(ConsoleError::NotFound) => {
                let mut res = redirect("/portal/login");
                append_cookie(
                    &mut res,
                    &cookie::clear(SESSION_COOKIE, COOKIE_PATH, state.config.secure_cookies),
                );
                Ok(res)
            }
            other => other,
        },
        Err(NoPartner::Off) => Err(ConsoleError::NotFound),
        Err(_) => render(
            StatusCode::OK,
            &LandingPage {
                t: lang.messages(),
                chrome: portal_chrome(lang, "/portal", None),
            },
        ),
    }
}

fn login_page(
    state: &ConsoleState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    shown: LoginForm,
) -> Result<Response, ConsoleError> {
    let LoginForm {
        next,
        email,
        error,
        notice,
    } = shown;
    let t = lang.messages();
    let (key, fresh) = form_key(headers);
    let tpl = LoginTemplate {
        t,
        chrome: portal_chrome(
            lang,
            &format!("/portal/login?next={}", url_encode(&next)),
            None,
        ),
        heading: t.portal_sign_in,
        action: "/portal/login",
        csrf: csrf::token(&key, Purpose::PortalLogin),
        next,
        email,
        error,
        notice,
    };
    let mut res = render(status, &tpl)?;
    if fresh {
        set_form_key(state, &mut res, &key);
    }
    Ok(res)
}

/// `GET /portal/login`
pub(crate) async fn login_form(
    State(state): State<ConsoleState>,
    lang: Lang,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    state.partners()?;
    let t = lang.messages();
    let notice = q.bye.is_some().then_some(t.logged_out);
    let next = safe_next(q.next.as_deref().unwrap_or("/portal"));
    login_page(
        &state,
        lang,
        &headers,
        StatusCode::OK,
        LoginForm {
            next,
            notice,
            ..LoginForm::default()
        },
    )
}

/// `POST /portal/login`
pub(crate) async fn login(
    State(state): State<ConsoleState>,
    lang: Lang,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, ConsoleError> {
    let partners = state.partners()?.clone();
    let t = lang.messages();
    let next = safe_next(form.get("next"));
    let email = form.get("email").trim().to_owned();
    let again = |status, error: String| {
        login_page(
            &state,
            lang,
            &headers,
            status,
            LoginForm {
                next: next.clone(),
                email: email.clone(),
                error: Some(error),
                notice: None,
            },
        )
    };
    if !form_key_ok(&headers, &form) {
        return again(StatusCode::FORBIDDEN, t.login_form_expired.to_owned());
    }
    let now = state.clock.now();
    let lock_key = format!("portal:{}", email.to_lowercase());
    if let Some(until) = state.lockout.locked_until(&lock_key, now) {
        return again(StatusCode::TOO_MANY_REQUESTS, locked(&state, t, until));
    }
    match partners.sign_in(&email, form.get("password")).await {
        Ok(account) => {
            state.lockout.record_success(&lock_key);
            let mut res = redirect(&next);
            start_session(&state, &mut res, &account.partner_id);
            Ok(res)
        }
        Err(CoreError::Unauthorized) => {
            if let Some(until) = state.lockout.record_failure(&lock_key, now) {
                return again(StatusCode::TOO_MANY_REQUESTS, locked(&state, t, until));
            }
            again(StatusCode::UNAUTHORIZED, t.login_failed.to_owned())
        }
        Err(e) => Err(core_error(e)),
    }
}

fn locked(state: &ConsoleState, t: &'static Messages, until: DateTime<Utc>) -> String {
    fill(
        t.login_locked,
        until.with_timezone(&state.config.timezone).format("%H:%M"),
    )
}

/// `POST /portal/logout`
pub(crate) async fn logout(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let mut res = redirect("/portal/login?bye=1");
    append_cookie(
        &mut res,
        &cookie::clear(SESSION_COOKIE, COOKIE_PATH, state.config.secure_cookies),
    );
    Ok(res)
}

// ---- applying and resubmitting -----------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_apply.html")]
struct ApplyPage {
    t: &'static Messages,
    chrome: Chrome,
    heading: &'static str,
    action: &'static str,
    /// A new application asks for a password; a resubmission does not.
    new_account: bool,
    csrf: String,
    nonce: String,
    d: Draft,
    errors: FieldErrors,
    reason: Option<String>,
}

/// `GET /portal/apply`
pub(crate) async fn apply_form(
    State(state): State<ConsoleState>,
    lang: Lang,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    state.partners()?;
    apply_page(
        &state,
        lang,
        &headers,
        Draft::default(),
        FieldErrors::default(),
    )
}

fn apply_page(
    state: &ConsoleState,
    lang: Lang,
    headers: &HeaderMap,
    d: Draft,
    errors: FieldErrors,
) -> Result<Response, ConsoleError> {
    let t = lang.messages();
    let (key, fresh) = form_key(headers);
    let status = errors.status();
    let mut res = render(
        status,
        &ApplyPage {
            t,
            chrome: portal_chrome(lang, "/portal/apply", None),
            heading: t.portal_apply,
            action: "/portal/apply",
            new_account: true,
            csrf: csrf::token(&key, Purpose::PortalLogin),
            nonce: openpile_secrets::random_token(),
            d,
            errors,
            reason: None,
        },
    )?;
    if fresh {
        set_form_key(state, &mut res, &key);
    }
    Ok(res)
}

/// Places core's refusal of an application on the form. Conflicts name their field before a
/// colon (`email: …`).
fn place_refusal(
    e: CoreError,
    t: &'static Messages,
    errors: &mut FieldErrors,
) -> Result<(), ConsoleError> {
    match e {
        CoreError::Validation(v) => {
            let msg = if v.field == "password" {
                t.err_password_short
            } else {
                application_form::message(&v.field, t)
            };
            errors.add(v.field, msg);
        }
        CoreError::Conflict(msg) if msg.starts_with("email:") => {
            errors.add("email", t.err_email_taken);
        }
        CoreError::Conflict(msg) if msg.starts_with("unified_social_credit_code:") => {
            errors.add("unified_social_credit_code", t.err_uscc_taken);
        }
        CoreError::Conflict(_) => errors.add("form", t.err_application_changed),
        CoreError::InvalidState(_) => errors.add("form", t.err_application_closed),
        other => return Err(core_error(other)),
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "portal_secret.html")]
struct SecretPage {
    t: &'static Messages,
    chrome: Chrome,
    heading: &'static str,
    intro: &'static str,
    client_id: String,
    environment: &'static str,
    secret: String,
    scopes: String,
    previous_expires: Option<String>,
}

fn env_label(e: Environment, t: &'static Messages) -> &'static str {
    match e {
        Environment::Sandbox => t.env_sandbox,
        Environment::Production => t.env_production,
    }
}

fn secret_page(
    state: &ConsoleState,
    chrome: Chrome,
    t: &'static Messages,
    heading: &'static str,
    intro: &'static str,
    s: IssuedSecret,
) -> Result<Response, ConsoleError> {
    render(
        StatusCode::OK,
        &SecretPage {
            t,
            chrome,
            heading,
            intro,
            client_id: s.client_id.to_string(),
            environment: env_label(s.environment, t),
            secret: s.client_secret,
            scopes: s.scopes.to_string(),
            previous_expires: s.previous_expires_at.map(|at| fmt_time(state, at)),
        },
    )
}

/// `POST /portal/apply`: a new application; the sandbox secret is shown once.
pub(crate) async fn apply(
    State(state): State<ConsoleState>,
    lang: Lang,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, ConsoleError> {
    let partners = state.partners()?.clone();
    let t = lang.messages();
    if !form_key_ok(&headers, &form) {
        return Err(ConsoleError::Csrf);
    }
    let guard = claim_or_return!(&state.nonces, &form);
    let d = Draft::from_form(&form);
    let password = form.get("password");
    let checked = application_form::check(&d, t);
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    application_form::check_password(password, form.get("password_confirm"), &mut errors, t);
    let input = match checked {
        Ok(input) if !errors.any() => input,
        _ => return apply_page(&state, lang, &headers, d, errors),
    };
    let submitted = match partners.apply(&input, password).await {
        Ok(s) => s,
        Err(e) => {
            place_refusal(e, t, &mut errors)?;
            return apply_page(&state, lang, &headers, d, errors);
        }
    };
    let partner = submitted.application.partner_id.clone();
    audit::record(
        &state,
        format!("partner:{partner}"),
        "partner_application.submit",
        format!("partner_application:{}", submitted.application.id),
        json!({ "revision": 1, "via": "portal" }),
    )
    .await?;
    guard.complete(None);
    let chrome = portal_chrome(
        lang,
        "/portal",
        Some((input.company_name.clone(), String::new())),
    );
    let mut res = secret_page(
        &state,
        chrome,
        t,
        t.portal_applied,
        t.portal_applied_intro,
        submitted.sandbox,
    )?;
    start_session(&state, &mut res, &partner);
    Ok(res)
}

/// The application of the signed-in partner.
async fn own_application(
    state: &ConsoleState,
    session: &PartnerSession,
) -> Result<(Partner, Application), ConsoleError> {
    let partners = state.partners()?;
    let partner = partners
        .partner(&session.partner_id)
        .await
        .map_err(core_error)?;
    let app = partners
        .application_for(&session.partner_id, &partner.application_id)
        .await
        .map_err(core_error)?;
    Ok((partner, app))
}

fn resubmit_page(
    session: &PartnerSession,
    partner: &Partner,
    app: &Application,
    d: Draft,
    errors: FieldErrors,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let status = errors.status();
    render(
        status,
        &ApplyPage {
            t,
            chrome: session.chrome(&partner.name, "/portal/application"),
            heading: t.portal_resubmit,
            action: "/portal/application",
            new_account: false,
            csrf: session.csrf(),
            nonce: openpile_secrets::random_token(),
            d,
            errors,
            reason: app.rejection_reason().map(str::to_owned),
        },
    )
}

/// `GET /portal/application`: the current form, to correct.
pub(crate) async fn resubmit_form(
    State(state): State<ConsoleState>,
    session: PartnerSession,
) -> Result<Response, ConsoleError> {
    let (partner, app) = own_application(&state, &session).await?;
    let d = app
        .current()
        .map(|r| Draft::of(&r.form))
        .unwrap_or_default();
    resubmit_page(&session, &partner, &app, d, FieldErrors::default())
}

/// `POST /portal/application`
pub(crate) async fn resubmit(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let partners = state.partners()?.clone();
    let t = session.t();
    let (partner, app) = own_application(&state, &session).await?;
    let guard = claim_or_return!(&state.nonces, &form);
    let d = Draft::from_form(&form);
    let input = match application_form::check(&d, t) {
        Ok(i) => i,
        Err(errors) => return resubmit_page(&session, &partner, &app, d, errors),
    };
    match partners
        .resubmit(&session.partner_id, &app.id, &input)
        .await
    {
        Ok(updated) => {
            audit::record(
                &state,
                session.actor(),
                "partner_application.resubmit",
                format!("partner_application:{}", app.id),
                json!({ "revision": updated.revision, "via": "portal" }),
            )
            .await?;
            let to = "/portal?resubmitted=1".to_owned();
            guard.complete(Some(to.clone()));
            Ok(redirect(&to))
        }
        Err(e) => {
            let mut errors = FieldErrors::default();
            if let CoreError::Validation(v) = &e
                && v.field == "email"
            {
                errors.add("email", t.err_email_fixed);
            } else {
                place_refusal(e, t, &mut errors)?;
            }
            resubmit_page(&session, &partner, &app, d, errors)
        }
    }
}

// ---- home: status, credentials, stations -------------------------------------------------

struct SecretView {
    id: String,
    created_at: String,
    state: String,
    live: bool,
}

struct CredentialView {
    client_id: String,
    environment: &'static str,
    scopes: String,
    secrets: Vec<SecretView>,
}

struct NoteView {
    at: String,
    subject: String,
    body: String,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    t: &'static Messages,
    chrome: Chrome,
    partner_name: String,
    partner_status: &'static str,
    suspension_reason: Option<String>,
    app_status: &'static str,
    app_status_label: &'static str,
    revision: u32,
    reason: Option<String>,
    can_resubmit: bool,
    contract: Option<String>,
    credentials: Vec<CredentialView>,
    stations: Vec<StationRow>,
    live_url: String,
    notes: Vec<NoteView>,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct HomeQuery {
    #[serde(default)]
    resubmitted: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
}

/// What the partner's credentials let it see: sandbox stations always, and the contract's
/// stations once approved (and not suspended).
fn visibilities(partner: &Partner) -> Vec<Visibility> {
    let mut v = vec![Visibility::Sandbox];
    if partner.status == PartnerStatus::Active
        && let Some(c) = &partner.contract
    {
        v.push(Visibility::Production(Arc::new(c.station_scope.clone())));
    }
    v
}

fn sees(vis: &[Visibility], s: &Station) -> bool {
    vis.iter().any(|v| v.sees(s))
}

fn partner_status_label(s: PartnerStatus, t: &'static Messages) -> &'static str {
    match s {
        PartnerStatus::Applicant => t.partner_applicant,
        PartnerStatus::Active => t.partner_active,
        PartnerStatus::Suspended => t.partner_suspended,
    }
}

async fn home(
    state: &ConsoleState,
    session: &PartnerSession,
    q: &HomeQuery,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let partners = state.partners()?;
    let (partner, app) = own_application(state, session).await?;
    let now = state.clock.now();
    let credentials = partners
        .credentials(&session.partner_id)
        .await
        .map_err(core_error)?
        .into_iter()
        .map(|c| CredentialView {
            client_id: c.client_id.to_string(),
            environment: env_label(c.environment, t),
            scopes: c.scopes.to_string(),
            secrets: c
                .secrets
                .iter()
                .rev()
                .map(|s| {
                    let live = s.is_live(now);
                    let state_text = match (s.revoked_at, s.expires_at) {
                        (Some(at), _) => fill(t.secret_revoked_at, fmt_time(state, at)),
                        (None, Some(at)) if at <= now => {
                            fill(t.secret_expired_at, fmt_time(state, at))
                        }
                        (None, Some(at)) => fill(t.secret_expires_at, fmt_time(state, at)),
                        (None, None) => t.secret_live.to_owned(),
                    };
                    SecretView {
                        id: s.id.clone(),
                        created_at: fmt_time(state, s.created_at),
                        state: state_text,
                        live,
                    }
                })
                .collect(),
        })
        .collect();
    let vis = visibilities(&partner);
    let live_url = format!(
        "/portal/events?since={}",
        url_encode(&state.clock.now().to_rfc3339())
    );
    let (stations, _, _) = station_rows(state, t, |s| sees(&vis, s)).await?;
    let notes = partners
        .notifications(&session.partner_id, &PageRequest::first(10))
        .await
        .map_err(core_error)?
        .items
        .into_iter()
        .map(|n| NoteView {
            at: fmt_time(state, n.created_at),
            subject: n.subject,
            body: n.body,
        })
        .collect();
    let notice = if q.resubmitted.is_some() {
        Some(t.portal_resubmitted)
    } else if q.revoked.is_some() {
        Some(t.secret_revoked_notice)
    } else {
        None
    };
    render(
        StatusCode::OK,
        &HomePage {
            t,
            chrome: session.chrome(&partner.name, "/portal"),
            partner_name: partner.name.clone(),
            partner_status: partner_status_label(partner.status, t),
            suspension_reason: partner.suspension_reason.clone(),
            app_status: app.status.as_str(),
            app_status_label: status_label(app.status, t),
            revision: app.revision,
            reason: app.rejection_reason().map(str::to_owned),
            can_resubmit: app.status != ApplicationStatus::Approved,
            contract: partner.contract.as_ref().map(|c| contract_summary(c, t)),
            credentials,
            stations,
            live_url,
            notes,
            notice,
        },
    )
}

/// `POST /portal/credentials/{client_id}/rotate`: a new secret, shown once.
pub(crate) async fn rotate(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path(client_id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let partners = state.partners()?.clone();
    let t = session.t();
    let guard = claim_or_return!(&state.nonces, &form);
    let issued = partners
        .rotate_secret(&session.partner_id, &client_id, None)
        .await
        .map_err(core_error)?;
    audit::record(
        &state,
        session.actor(),
        "partner_credential.rotate",
        format!("credential:{client_id}"),
        json!({ "secret_id": issued.secret_id, "via": "portal" }),
    )
    .await?;
    guard.complete(None);
    let partner = partners
        .partner(&session.partner_id)
        .await
        .map_err(core_error)?;
    secret_page(
        &state,
        session.chrome(&partner.name, "/portal"),
        t,
        t.secret_new,
        t.secret_new_intro,
        issued,
    )
}

/// `POST /portal/credentials/{client_id}/secrets/{secret_id}/revoke`
pub(crate) async fn revoke(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Path((client_id, secret_id)): Path<(String, String)>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form)?;
    let partners = state.partners()?.clone();
    let guard = claim_or_return!(&state.nonces, &form);
    partners
        .revoke_secret(&session.partner_id, &client_id, &secret_id)
        .await
        .map_err(core_error)?;
    audit::record(
        &state,
        session.actor(),
        "partner_credential.revoke",
        format!("credential:{client_id}"),
        json!({ "secret_id": secret_id, "via": "portal" }),
    )
    .await?;
    let to = "/portal?revoked=1".to_owned();
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: Option<String>,
}

/// `GET /portal/events`: live status of the partner's visible stations.
pub(crate) async fn events(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let partner = state
        .partners()?
        .partner(&session.partner_id)
        .await
        .map_err(core_error)?;
    let vis = visibilities(&partner);
    let stations: HashSet<_> = crate::network::all_stations(&state)
        .await?
        .into_iter()
        .filter(|s| sees(&vis, s))
        .map(|s| s.id)
        .collect();
    let since = since_of(&state, &headers, q.since.as_deref());
    let scope = Scope {
        filter: ConnectorFilter::default(),
        stations: Some(stations),
    };
    Ok(live_stream(
        state,
        session.t(),
        scope,
        Guard::Partner(session.expires_at),
        since,
    )
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_session_cookie_opens_only_with_its_key_and_before_expiry() {
        let key = [7u8; 32];
        let now = Utc::now();
        let p = PartnerId::parse("0193b2a4-6c1e-7d1a").unwrap();
        let c = seal(&key, &p, now + TimeDelta::hours(1));
        assert_eq!(open(&key, &c, now).map(|(id, _)| id), Some(p));
        assert!(open(&[8u8; 32], &c, now).is_none());
        assert!(open(&key, &c, now + TimeDelta::hours(2)).is_none());
        let forged = c.replacen('.', "x.", 1);
        assert!(open(&key, &forged, now).is_none());
        assert!(open(&key, "garbage", now).is_none());
    }

    #[test]
    fn next_stays_inside_the_portal() {
        assert_eq!(safe_next("/portal/application"), "/portal/application");
        assert_eq!(safe_next("//evil"), "/portal");
        assert_eq!(safe_next("/console"), "/portal");
        assert_eq!(safe_next("/portalx"), "/portal");
    }
}
