//! The console's routes in process: login and sessions, CSRF, lock-out, roles, forms with field
//! errors in both languages, double submits, remote commands, the audit trail, assets and the
//! live stream.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::TimeDelta;
use futures_util::StreamExt as _;
use openpile_core::ids::{ChargerId, TariffId};
use openpile_core::operator::OperatorRole;
use openpile_core::ports::{
    ChargerCommand, CommandReply, GatewayError, NetworkStore, OperatorStore,
};
use openpile_core::status::ChargePointStatus;
use tower::ServiceExt as _;

use crate::support::{
    CHARGER, CONNECTOR, Env, PASSWORD, STATION, TARIFF, email, hidden_value, urlencode,
};

#[tokio::test]
async fn the_login_page_speaks_chinese_by_default_and_english_on_request() {
    let env = Env::new().await;
    let mut c = env.client();
    let zh = c.get("/console/login").await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.body.contains("<html lang=\"zh-CN\">"));
    assert!(zh.body.contains("登录"));
    assert!(zh.body.contains("<label for=\"email\">邮箱</label>"));

    let en = c.get("/console/login?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("<label for=\"password\">Password</label>"));
    // The choice is remembered in a cookie.
    assert_eq!(
        c.cookies.get("openpile_lang").map(String::as_str),
        Some("en")
    );
    let again = c.get("/console/login").await;
    assert!(again.body.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn a_page_without_a_session_goes_to_login_and_back_after_it() {
    let env = Env::new().await;
    let mut c = env.client();
    let r = c.get(&format!("/console/stations/{STATION}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location(),
        "/console/login?next=/console/stations/SH-0001"
    );
    let login = c
        .login_with_next(
            &email(OperatorRole::Operations),
            PASSWORD,
            "/console/stations/SH-0001",
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.location(), "/console/stations/SH-0001");
    let cookie = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("openpile_console="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let page = c.get("/console/stations/SH-0001").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("上海浦东张江充电站"));
    assert!(
        env.audit_actions()
            .await
            .contains(&"operator.login".to_owned())
    );
}

#[tokio::test]
async fn cookies_are_secure_when_served_over_tls() {
    let env = Env::with_config(openpile_console::ConsoleConfig {
        secure_cookies: true,
        ..Default::default()
    })
    .await;
    let mut c = env.client();
    let r = c.login(&email(OperatorRole::Admin), PASSWORD).await;
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("openpile_console="))
        .unwrap();
    assert!(cookie.ends_with("; HttpOnly; Secure"), "{cookie}");
}

#[tokio::test]
async fn next_cannot_point_outside_the_console() {
    let env = Env::new().await;
    let mut c = env.client();
    let r = c
        .login_with_next(&email(OperatorRole::Admin), PASSWORD, "//evil.example/x")
        .await;
    assert_eq!(r.location(), "/console");
}

#[tokio::test]
async fn an_expired_session_returns_to_login_then_to_the_page() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Operations).await;
    assert_eq!(c.get("/console/tariffs").await.status, StatusCode::OK);
    env.clock.advance(TimeDelta::hours(9));
    let r = c.get("/console/tariffs?x=1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location(),
        "/console/login?next=/console/tariffs%3Fx%3D1&expired=1"
    );
    // The stale cookie is dropped, and the login page says why.
    assert!(!c.cookies.contains_key("openpile_console"));
    let page = c.get(r.location()).await;
    assert!(page.body.contains("登录已过期"), "{}", page.body);
    let next = hidden_value(&page.body, "next");
    assert_eq!(next, "/console/tariffs?x=1");
    let login = c
        .login_with_next(&email(OperatorRole::Operations), PASSWORD, &next)
        .await;
    assert_eq!(login.location(), "/console/tariffs?x=1");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_five_lock_the_account_for_fifteen_minutes() {
    let env = Env::new().await;
    let mut c = env.client();
    let admin = email(OperatorRole::Admin);
    for i in 1..=4 {
        let r = c.login(&admin, "wrong password!!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("邮箱或密码不正确"));
        // The e-mail stays filled in; the password does not.
        assert!(r.body.contains(&format!("value=\"{admin}\"")));
    }
    let fifth = c.login(&admin, "wrong password!!").await;
    assert_eq!(fifth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(fifth.body.contains("账号已锁定"), "{}", fifth.body);
    // Locked: even the right password is refused.
    let right = c.login(&admin, PASSWORD).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    // Other accounts are not affected.
    let other = c.login(&email(OperatorRole::Finance), PASSWORD).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    env.clock.advance(TimeDelta::minutes(15));
    let mut c = env.client();
    let r = c.login(&admin, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        env.audit_actions()
            .await
            .contains(&"operator.locked_out".to_owned())
    );
}

#[tokio::test]
async fn unknown_accounts_are_refused_like_wrong_passwords() {
    let env = Env::new().await;
    let mut c = env.client();
    let r = c.login("nobody@openpile.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("邮箱或密码不正确"));
}

#[tokio::test]
async fn a_login_post_without_the_form_key_is_refused() {
    let env = Env::new().await;
    let mut c = env.client();
    // No GET first: no login-form cookie, and a made-up field.
    let r = c
        .post(
            "/console/login?lang=en",
            &[
                ("csrf", "forged"),
                ("next", "/console"),
                ("email", &email(OperatorRole::Admin)),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("The login form expired"), "{}", r.body);
    assert!(!c.cookies.contains_key("openpile_console"));
}

#[tokio::test]
async fn forms_with_a_wrong_csrf_token_change_nothing() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Admin).await;
    let (_, nonce) = c.form_keys(&format!("/console/chargers/{CHARGER}")).await;
    let r = c
        .post(
            &format!("/console/chargers/{CHARGER}/commands?lang=en"),
            &[
                ("csrf", "AAAA"),
                ("nonce", &nonce),
                ("command", "reset"),
                ("kind", "hard"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Form expired"), "{}", r.body);
    assert!(env.gateway.sent().is_empty());

    // Another session's token does not work either.
    let mut other = env.login(OperatorRole::Operations).await;
    let (other_csrf, _) = other
        .form_keys(&format!("/console/chargers/{CHARGER}"))
        .await;
    let r = c
        .post(
            &format!("/console/chargers/{CHARGER}/password"),
            &[("csrf", &other_csrf), ("nonce", &nonce)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let view = env
        .store
        .get_charger(&ChargerId::parse(CHARGER).unwrap())
        .await
        .unwrap();
    assert!(!view.has_password);

    // Logging out needs the token too.
    let r = c.post("/console/logout", &[("csrf", "nope")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(c.get("/console").await.status, StatusCode::OK);
}

#[tokio::test]
async fn roles_limit_screens_and_actions() {
    let env = Env::new().await;
    let mut finance = env.login(OperatorRole::Finance).await;
    let home = finance.get("/console").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(!home.body.contains("href=\"/console/audit\""));
    assert_eq!(
        finance.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let charger = finance.get(&format!("/console/chargers/{CHARGER}")).await;
    assert_eq!(charger.status, StatusCode::OK);
    assert!(
        !charger.body.contains("/commands\""),
        "finance sees no command forms"
    );
    let csrf = charger.hidden("csrf");
    let r = finance
        .post(
            &format!("/console/chargers/{CHARGER}/commands"),
            &[
                ("csrf", &csrf),
                ("nonce", "n1"),
                ("command", "reset"),
                ("kind", "soft"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(env.gateway.sent().is_empty());

    let mut reviewer = env.login(OperatorRole::Reviewer).await;
    let r = reviewer
        .get(&format!("/console/tariffs/{TARIFF}/versions/new"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("无权访问"));
    let list = reviewer.get("/console/tariffs").await;
    assert!(!list.body.contains("/console/tariffs/new"));

    let mut admin = env.login(OperatorRole::Admin).await;
    let home = admin.get("/console").await;
    assert!(home.body.contains("href=\"/console/audit\""));
    assert_eq!(admin.get("/console/audit").await.status, StatusCode::OK);
}

/// The form of a new version, as a browser would send it: rows of (start, end, electricity,
/// service).
fn version_form<'a>(
    csrf: &'a str,
    nonce: &'a str,
    effective_from: &'a str,
    rows: &[(&'a str, &'a str, &'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf", csrf),
        ("nonce", nonce),
        ("name", "上海工商业分时"),
        ("effective_from", effective_from),
    ];
    for (start, end, e, s) in rows {
        f.extend([
            ("start", *start),
            ("end", *end),
            ("label", ""),
            ("electricity", *e),
            ("service", *s),
        ]);
    }
    f.extend([("idle_price", ""), ("idle_grace", ""), ("intent", "save")]);
    f
}

fn future(env: &Env) -> String {
    use openpile_core::clock::Clock as _;
    (env.clock.now() + TimeDelta::days(2))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%dT00:00")
        .to_string()
}

#[tokio::test]
async fn tariff_field_errors_are_shown_in_chinese_and_english() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Operations).await;
    let path = format!("/console/tariffs/{TARIFF}/versions/new");
    let (csrf, nonce) = c.form_keys(&path).await;
    let when = future(&env);
    let gap = [
        ("00:00", "08:00", "0.3", "0.4"),
        ("09:00", "24:00", "0.9", "0.6"),
    ];
    let r = c
        .post(&path, &version_form(&csrf, &nonce, &when, &gap))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("时段未覆盖全天：08:00–09:00 没有价格。"),
        "{}",
        r.body
    );
    assert!(r.body.contains("表单有错误"));
    // What was typed is kept.
    assert!(r.body.contains("value=\"09:00\""));

    let (csrf, nonce) = c.form_keys(&format!("{path}?lang=en")).await;
    let bad = [
        ("00:00", "8:00", "0.3", "0.4"),
        ("08:00", "24:00", "-1", "0.12345"),
    ];
    let r = c
        .post(
            &path,
            &version_form(&csrf, &nonce, "2020-01-01T00:00", &bad),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("<html lang=\"en\">"));
    assert!(
        r.body.contains("Use a time HH:MM (00:00–24:00)."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Must not be negative."));
    assert!(r.body.contains("Must be in the future."));
    assert!(
        r.body
            .contains("aria-invalid=\"true\" aria-describedby=\"err-effective_from\"")
    );

    let overlap = [
        ("00:00", "09:00", "0.3", "0.4"),
        ("08:00", "24:00", "0.9", "0.6"),
    ];
    let r = c
        .post(&path, &version_form(&csrf, &nonce, &when, &overlap))
        .await;
    assert!(
        r.body.contains("This segment overlaps another"),
        "{}",
        r.body
    );

    // Nothing was stored.
    let versions = env
        .store
        .tariff_versions(&TariffId::parse(TARIFF).unwrap())
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
}

#[tokio::test]
async fn a_valid_version_is_saved_once_even_when_submitted_twice() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Operations).await;
    let path = format!("/console/tariffs/{TARIFF}/versions/new");
    let (csrf, nonce) = c.form_keys(&path).await;
    let when = future(&env);
    let rows = [
        ("22:00", "08:00", "0.31", "0.4"),
        ("08:00", "22:00", "0.95", "0.6"),
    ];
    let form = version_form(&csrf, &nonce, &when, &rows);
    let first = c.post(&path, &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(first.location(), "/console/tariffs/T-SH?saved=2");
    let second = c.post(&path, &form).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(second.location(), "/console/tariffs/T-SH?saved=2");
    let versions = env
        .store
        .tariff_versions(&TariffId::parse(TARIFF).unwrap())
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1].segments[0].electricity_price.to_string(),
        "0.95"
    );

    let page = c.get(first.location()).await;
    assert!(page.body.contains("已保存版本 v2。"));
    assert!(page.body.contains("待生效"));
    let audit = env.audit_actions().await;
    assert_eq!(
        audit
            .iter()
            .filter(|a| *a == "tariff.version_create")
            .count(),
        1
    );
}

#[tokio::test]
async fn adding_a_row_re_renders_the_form_without_saving() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Admin).await;
    let path = format!("/console/tariffs/{TARIFF}/versions/new");
    let (csrf, nonce) = c.form_keys(&path).await;
    let mut form = version_form(&csrf, &nonce, "", &[("00:00", "24:00", "1", "1")]);
    form.retain(|(k, _)| *k != "intent");
    form.push(("intent", "add_row"));
    let r = c.post(&path, &form).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.matches("name=\"start\"").count(), 2);
    assert_eq!(
        env.store
            .tariff_versions(&TariffId::parse(TARIFF).unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_new_tariff_needs_a_free_id() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Admin).await;
    let (csrf, nonce) = c.form_keys("/console/tariffs/new").await;
    let when = future(&env);
    let mut form = version_form(&csrf, &nonce, &when, &[("00:00", "24:00", "1", "0.5")]);
    form.push(("tariff_id", TARIFF));
    let r = c.post("/console/tariffs/new", &form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("该编号已存在"), "{}", r.body);
    let (csrf, nonce) = c.form_keys("/console/tariffs/new").await;
    let mut form = version_form(&csrf, &nonce, &when, &[("00:00", "24:00", "1", "0.5")]);
    form.push(("tariff_id", "T-NEW"));
    let r = c.post("/console/tariffs/new", &form).await;
    assert_eq!(r.location(), "/console/tariffs/T-NEW?saved=1", "{}", r.body);
}

#[tokio::test]
async fn remote_commands_show_the_chargers_answer_or_the_precise_error() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Operations).await;
    let page = format!("/console/chargers/{CHARGER}");
    let path = format!("{page}/commands");

    let (csrf, nonce) = c.form_keys(&page).await;
    let r = c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("command", "unlock"),
                ("connector", "2"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("充电桩已接受：Accepted"), "{}", r.body);
    // A repeat of the same form does not send again.
    let again = c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("command", "unlock"),
                ("connector", "2"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(env.gateway.sent().len(), 1);
    assert!(matches!(
        &env.gateway.sent()[0],
        (id, ChargerCommand::UnlockConnector { connector }) if id == CHARGER && connector.get() == 2
    ));

    env.gateway.answer(Err(GatewayError::Offline));
    let (csrf, nonce) = c.form_keys(&format!("{page}?lang=en")).await;
    let r = c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("command", "availability"),
                ("connector", "0"),
                ("availability", "inoperative"),
            ],
        )
        .await;
    assert!(
        r.body
            .contains("The charger is not connected; nothing was sent."),
        "{}",
        r.body
    );

    env.gateway.answer(Err(GatewayError::CallError {
        code: "NotImplemented".into(),
        description: "TriggerMessage unsupported".into(),
    }));
    let (csrf, nonce) = c.form_keys(&page).await;
    let r = c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("command", "trigger_status"),
                ("connector", "1"),
            ],
        )
        .await;
    assert!(
        r.body
            .contains("The charger answered with an error: NotImplemented")
    );
    assert!(r.body.contains("TriggerMessage unsupported"));

    env.gateway
        .answer(Ok(CommandReply::Status("Rejected".into())));
    let (csrf, nonce) = c.form_keys(&page).await;
    let r = c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("command", "reset"),
                ("kind", "soft"),
            ],
        )
        .await;
    assert!(r.body.contains("The charger did not accept: Rejected"));

    let commands = env
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "charger.command")
        .count();
    assert_eq!(commands, 4);
}

#[tokio::test]
async fn an_ocpp_password_reset_shows_the_new_password_once() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Admin).await;
    let page = format!("/console/chargers/{CHARGER}");
    let (csrf, nonce) = c.form_keys(&page).await;
    let path = format!("{page}/password");
    let r = c.post(&path, &[("csrf", &csrf), ("nonce", &nonce)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("新密码仅显示这一次"));
    let at = r.body.find("id=\"new-password\"").unwrap();
    let password = r.body[at..]
        .split("value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    let again = c.post(&path, &[("csrf", &csrf), ("nonce", &nonce)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(!again.body.contains(&password));
    let view = env
        .store
        .get_charger(&ChargerId::parse(CHARGER).unwrap())
        .await
        .unwrap();
    assert!(view.has_password);
    let audit = env
        .store
        .list_audit(&openpile_core::page::PageRequest::first(50))
        .await
        .unwrap();
    let entry = audit
        .items
        .iter()
        .find(|e| e.action == "charger.password_reset")
        .unwrap();
    assert!(
        !entry.details.contains(&password),
        "the audit trail never holds secrets"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Reviewer).await;
    let home = c.get("/console").await;
    let csrf = home.hidden("csrf");
    let r = c.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.location(), "/console/login?bye=1");
    let old = c.cookies.clone();
    assert!(!old.contains_key("openpile_console"));
    let page = c.get("/console/login?bye=1").await;
    assert!(page.body.contains("您已退出登录"));
    assert_eq!(c.get("/console").await.status, StatusCode::SEE_OTHER);
    assert!(
        env.audit_actions()
            .await
            .contains(&"operator.logout".to_owned())
    );
}

#[tokio::test]
async fn the_audit_log_lists_actions_newest_first() {
    let env = Env::new().await;
    let mut c = env.login(OperatorRole::Admin).await;
    let r = c.get("/console/audit?lang=en").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("operator.login"));
    assert!(r.body.contains("operator:op-admin"));
}

#[tokio::test]
async fn pages_show_the_network_with_status_words() {
    let env = Env::new().await;
    env.charger_reports(CHARGER, 1, ChargePointStatus::Charging)
        .await;
    let mut c = env.login(OperatorRole::Finance).await;
    let home = c.get("/console").await;
    assert!(
        home.body
            .contains("data-connector=\"SH0001-01-1\" data-status=\"charging\"")
    );
    assert!(home.body.contains("充电中"));
    assert!(
        home.body.contains("data-summary=\"online\">1<"),
        "{}",
        home.body
    );
    let station = c.get(&format!("/console/stations/{STATION}?lang=en")).await;
    assert!(station.body.contains("Charging"));
    assert!(station.body.contains("Online"));
    assert!(station.body.contains("1.4.2"));
    assert_eq!(
        c.get("/console/stations/NOPE").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/console/no-such-page").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_assets_are_cached_by_version() {
    let env = Env::new().await;
    let mut c = env.client();
    let page = c.get("/console/login").await;
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    let css_url = page
        .body
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&#x3d;", "=")
        .replace("&#61;", "=");
    assert!(
        css_url.starts_with("/console/assets/app.css?v="),
        "{css_url}"
    );
    let css = c.get(&css_url).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers.get("content-type").unwrap(), "text/css");
    assert_eq!(
        css.headers.get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    let etag = css
        .headers
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let js = c.get("/console/assets/app.js").await;
    assert_eq!(js.headers.get("cache-control").unwrap(), "no-cache");
    assert!(js.body.contains("EventSource"));
    let req = axum::http::Request::get("/console/assets/app.css")
        .header("if-none-match", etag)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = env.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        c.get("/console/assets/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_live_stream_sends_status_changes() {
    let env = Env::new().await;
    let c = env.login(OperatorRole::Operations).await;
    let cookie = c
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let since = urlencode(&chrono::Utc::now().to_rfc3339());
    let req = axum::http::Request::get(format!("/console/events?since={since}&lang=en"))
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = env.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut body = res.into_body().into_data_stream();
    let mut seen = String::new();
    // The first summary says the stream has read the network.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains("event: summary") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    env.charger_reports(CHARGER, 1, ChargePointStatus::Faulted)
        .await;
    let want = format!("\"id\":\"{CONNECTOR}\"");
    while !(seen.contains("event: connector") && seen.contains(&want) && seen.contains("Faulted")) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"status\":\"faulted\""), "{seen}");
}

#[tokio::test]
async fn the_live_stream_needs_a_session() {
    let env = Env::new().await;
    let mut c = env.client();
    assert_eq!(
        c.get("/console/events").await.status,
        StatusCode::UNAUTHORIZED
    );
}
