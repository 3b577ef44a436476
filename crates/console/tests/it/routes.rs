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

// ---------------------------------------------------------------------------------------
// Operator screens of charging, settlement and partners, over the real server (session 2).

mod operator_screens {
    use axum::http::StatusCode;
    use openpile_core::operator::OperatorRole;
    use openpile_core::settlement::cdr::CdrId;

    use crate::support::{Client, Live};

    const CONNECTOR_A: &str = "SH0101-01-1";

    async fn csrf(c: &mut Client, page: &str) -> String {
        let r = c.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
        r.hidden("csrf")
    }

    async fn audit_count(live: &Live, action: &str) -> usize {
        live.shared
            .stores
            .operators
            .list_audit(&openpile_core::page::PageRequest::first(500))
            .await
            .unwrap()
            .items
            .iter()
            .filter(|e| e.action == action)
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_live_session_shows_on_the_dashboard_the_list_its_page_and_becomes_a_cdr() {
        let live = Live::start().await;
        let p = live.partner(81).await;
        let _cp = live.charger("SH0101-01").await;
        let sid = live.start_charging(&p, CONNECTOR_A, "ORD-LIVE-1").await;
        let mut fin = live.login(OperatorRole::Finance).await;

        // The dashboard counts it at its station.
        let d = fin.get("/console?lang=en").await;
        assert_eq!(d.status, StatusCode::OK);
        assert!(
            d.body.contains("data-summary=\"active-sessions\">1<"),
            "{}",
            d.body
        );
        assert!(d.body.contains("<tr data-station=\"SH-0101\">"));
        assert!(d.body.contains("出行平台81有限公司"));

        // Filters: by state, partner, station, and dates with messages on bad ones.
        let r = fin.get("/console/sessions?state=charging").await;
        assert!(r.body.contains(&format!("data-session=\"{sid}\"")));
        let r = fin.get("/console/sessions?state=completed").await;
        assert!(!r.body.contains(&format!("data-session=\"{sid}\"")));
        let r = fin
            .get(&format!(
                "/console/sessions?partner={}&station=SH-0101",
                p.id
            ))
            .await;
        assert!(r.body.contains(&format!("data-session=\"{sid}\"")));
        let r = fin.get("/console/sessions?station=SH-0102").await;
        assert!(!r.body.contains(&format!("data-session=\"{sid}\"")));
        let bad = fin.get("/console/sessions?from=2026-13-01&lang=en").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("id=\"err-from\">Enter a date"),
            "{}",
            bad.body
        );
        let bad = fin
            .get("/console/sessions?from=2026-11-10&to=2026-11-01&lang=zh-CN")
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("id=\"err-to\">结束日期不能早于开始日期"));
        let bad = fin.get("/console/sessions?state=boiling").await;
        assert!(bad.body.contains("id=\"err-state\""));

        // Its page: the timeline has our command, the charger's messages, and the curve.
        let page = fin.get(&format!("/console/sessions/{sid}?lang=en")).await;
        assert_eq!(page.status, StatusCode::OK);
        for text in [
            "RemoteStartTransaction accepted",
            "Charger sent StartTransaction",
            "Charger sent MeterValues",
            "session.started",
        ] {
            assert!(page.body.contains(text), "{text}: {}", page.body);
        }
        assert!(
            page.body
                .contains("data-chart=\"energy\"><svg class=\"chart\"")
        );

        // Stopped: completed, with its CDR and today's figures.
        live.stop_charging(&p, &sid).await;
        let page = fin.get(&format!("/console/sessions/{sid}?lang=en")).await;
        assert!(page.body.contains("Charger sent StopTransaction"));
        assert!(page.body.contains(&format!("href=\"/console/cdrs/{sid}\"")));
        let d = fin.get("/console").await;
        assert!(d.body.contains("data-summary=\"active-sessions\">0<"));
        assert!(
            d.body.contains("data-summary=\"today-cdrs\">1<"),
            "{}",
            d.body
        );
        let cdrs = fin.get(&format!("/console/cdrs?partner={}", p.id)).await;
        assert!(cdrs.body.contains(&format!("data-cdr=\"{sid}\"")));
        let cdr = fin.get(&format!("/console/cdrs/{sid}")).await;
        assert!(cdr.body.contains("id=\"lines\""));
        assert!(cdr.body.contains("id=\"credit-form\""));

        // Roles: reviewers see no sessions; operations see them but issue no credits.
        let mut rev = live.login(OperatorRole::Reviewer).await;
        assert_eq!(
            rev.get("/console/sessions").await.status,
            StatusCode::FORBIDDEN
        );
        let mut ops = live.login(OperatorRole::Operations).await;
        let seen = ops.get(&format!("/console/cdrs/{sid}")).await;
        assert_eq!(seen.status, StatusCode::OK);
        assert!(!seen.body.contains("id=\"credit-form\""));
        let csrf_ops = seen.hidden("csrf");
        let refused = ops
            .post(
                &format!("/console/cdrs/{sid}/credit"),
                &[("csrf", &csrf_ops), ("nonce", "c0"), ("reason", "x")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);

        // A credit: field errors first, then once however often it is sent.
        let key = csrf(&mut fin, &format!("/console/cdrs/{sid}")).await;
        let path = format!("/console/cdrs/{sid}/credit?lang=en");
        let r = fin
            .post(
                &path,
                &[
                    ("csrf", &key),
                    ("nonce", "c1"),
                    ("amount", "1.234"),
                    ("reason", " "),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("id=\"err-amount\">Enter an amount"),
            "{}",
            r.body
        );
        assert!(r.body.contains("id=\"err-reason\">Give a reason."));
        let form = [
            ("csrf", key.as_str()),
            ("nonce", "c1"),
            ("amount", "0.01"),
            ("reason", "充电枪故障，补偿一分钱"),
        ];
        let first = fin.post(&path, &form).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        assert!(first.location().starts_with("/console/cdrs/CR-"));
        let again = fin.post(&path, &form).await;
        assert_eq!(again.location(), first.location());
        let credits = live
            .shared
            .stores
            .settlement
            .credits_of(&CdrId::parse(sid.as_str()).unwrap())
            .await
            .unwrap();
        assert_eq!(credits.len(), 1);
        assert_eq!(audit_count(&live, "cdr.credit").await, 1);
        let credit = fin.get(first.location()).await;
        assert!(credit.body.contains("充电枪故障"));
        assert!(credit.body.contains("-0.01"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disputed_statement_is_resolved_confirmed_settled_and_exported() {
        let live = Live::start().await;
        let p = live.partner(82).await;
        let _cp = live.charger("SH0101-01").await;
        let a = live.charge(&p, CONNECTOR_A, "ORD-ST-A").await;
        let b = live.charge(&p, CONNECTOR_A, "ORD-ST-B").await;
        let st = live.reported_statement(&p, &[a.clone(), b], 1).await;
        let mut fin = live.login(OperatorRole::Finance).await;
        let path = format!("/console/statements/{st}");

        let list = fin.get("/console/statements?state=disputed").await;
        assert!(list.body.contains(&format!("data-statement=\"{st}\"")));
        let page = fin.get(&format!("{path}?lang=en")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("data-category=\"amount_mismatch\">1<"),
            "{}",
            page.body
        );
        assert!(page.body.contains("data-category=\"matched\">1<"));
        assert!(page.body.contains("data-difference>-0.01<"));
        assert!(page.body.contains("id=\"resolve-"));
        let key = page.hidden("csrf");
        let seq = {
            let at = page.body.find("id=\"resolve-").unwrap() + "id=\"resolve-".len();
            page.body[at..page.body[at..].find('"').unwrap() + at].to_owned()
        };

        // Roles: operations may not see statements at all.
        let mut ops = live.login(OperatorRole::Operations).await;
        assert_eq!(ops.get(&path).await.status, StatusCode::FORBIDDEN);
        let ops_key = csrf(&mut ops, "/console").await;
        let r = ops
            .post(
                &format!("{path}/confirm"),
                &[("csrf", &ops_key), ("nonce", "o1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // Confirming with the discrepancy open is refused with the reason on the page.
        let r = fin
            .post(
                &format!("{path}/confirm"),
                &[("csrf", &key), ("nonce", "k0")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("unresolved"), "{}", r.body);

        // Resolve: messages per field, then accept ours with a reason.
        let resolve = format!("{path}/resolve?lang=en");
        let r = fin
            .post(
                &resolve,
                &[
                    ("csrf", &key),
                    ("nonce", "r1"),
                    ("seq", &seq),
                    ("resolution", "credit"),
                    ("reason", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains(&format!(
                "id=\"err-amount-{seq}\">A credit adjustment needs an amount."
            )),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains(&format!("id=\"err-reason-{seq}\">Give a reason."))
        );
        let r = fin
            .post(
                &resolve,
                &[
                    ("csrf", &key),
                    ("nonce", "r1"),
                    ("seq", &seq),
                    ("resolution", "accept_ours"),
                    ("reason", "我方电表数据为准"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), format!("{path}?done=resolved"));

        // Confirm, twice: once.
        let confirm = [("csrf", key.as_str()), ("nonce", "k1")];
        let r = fin.post(&format!("{path}/confirm"), &confirm).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let again = fin.post(&format!("{path}/confirm"), &confirm).await;
        assert_eq!(again.location(), r.location());
        assert_eq!(audit_count(&live, "statement.confirmed").await, 1);
        let page = fin.get(r.location()).await;
        assert!(page.body.contains("data-state=\"confirmed\""));
        assert!(page.body.contains("我方电表数据为准"));

        // Settle: the payment reference is required.
        let r = fin
            .post(
                &format!("{path}/settle?lang=en"),
                &[("csrf", &key), ("nonce", "s1"), ("payment_reference", " ")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("id=\"err-payment_reference\">Required."));
        let r = fin
            .post(
                &format!("{path}/settle"),
                &[
                    ("csrf", &key),
                    ("nonce", "s2"),
                    ("payment_reference", "BANK-2026-0001"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = fin.get(&path).await;
        assert!(page.body.contains("data-state=\"settled\""));
        assert!(page.body.contains("BANK-2026-0001"));

        // The CSV: a header and one row per line.
        let csv = fin.get(&format!("{path}/export.csv")).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(
            csv.headers.get("content-type").unwrap(),
            "text/csv; charset=utf-8"
        );
        let rows: Vec<&str> = csv.body.trim_end().split("\r\n").collect();
        assert_eq!(rows.len(), 3, "{}", csv.body);
        assert!(rows[0].ends_with("cdr_id,original_cdr_id,session_id,partner_order_id,booked_at,energy_kwh,electricity_fee,service_fee,idle_fee,total,commission,due_to_operator"));
        assert!(csv.body.contains(&a));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partners_are_suspended_and_resumed_with_reasons_and_show_deliveries_and_hits() {
        let live = Live::start().await;
        let p = live.partner(83).await;
        // A webhook (no worker runs here, so deliveries wait), and an event for it.
        let (status, body) = live
            .call(
                reqwest::Method::PUT,
                "/v1/webhook",
                &p.token,
                Some(serde_json::json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["session.completed"]})),
            )
            .await;
        assert!(matches!(status, 200 | 201), "{body:#}");
        let (status, body) = live
            .call(
                reqwest::Method::POST,
                "/v1/webhook/test",
                &p.token,
                Some(serde_json::json!({})),
            )
            .await;
        assert!((200..=202).contains(&status), "{body:#}");
        let pid = openpile_core::ids::PartnerId::parse(p.id.as_str()).unwrap();
        live.hits.record(
            &pid,
            openpile_core::partner::credential::Environment::Production,
            chrono::Utc::now(),
        );

        let mut ops = live.login(OperatorRole::Operations).await;
        let list = ops.get("/console/partners").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&format!("data-partner=\"{}\"", p.id)));
        let path = format!("/console/partners/{}", p.id);
        // New terms from a future date, as finance schedules them (admin API or core).
        let rate = |s: &str| {
            openpile_core::partner::contract::ShareRate::new("r", s.parse().unwrap()).unwrap()
        };
        let from = (chrono::Utc::now() + chrono::TimeDelta::days(400))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        live.settlement
            .put_terms(
                "op",
                &pid,
                openpile_core::settlement::terms::SettlementTerms {
                    effective_from: from,
                    partner_share_of_electricity: rate("0"),
                    partner_share_of_service: rate("0.12"),
                    partner_share_of_idle: rate("0"),
                },
            )
            .await
            .unwrap();
        let page = ops.get(&format!("{path}?lang=en")).await;
        assert!(page.body.contains("id=\"contract\""));
        // The contract's rate card, in force since approval, then the scheduled terms.
        assert!(
            page.body.contains(
                "Revenue share</dt><dd>Electricity fee 0.05 · Service fee 0.05 · Idle fee 0.05</dd>"
            ),
            "{}",
            page.body
        );
        let terms = &page.body[page.body.find("id=\"terms\"").unwrap()..];
        let in_force = terms
            .find("data-terms=\"in-force\"><td>Approval (contract)</td><td class=\"num\">0.05</td>")
            .unwrap();
        let scheduled = terms.find("data-terms=\"scheduled\"><td>").unwrap();
        assert!(in_force < scheduled);
        assert!(terms[scheduled..].contains("<td class=\"num\">0.12</td>"));
        assert!(page.body.contains("<code>prd_"), "{}", page.body);
        assert!(!page.body.contains("opsk_"), "a secret must never be shown");
        assert!(page.body.contains("data-endpoint=\"production\""));
        assert!(page.body.contains("<code>webhook.test</code>"));
        assert!(page.body.contains("data-hits=\"1\""));
        assert!(
            !page.body.contains("id=\"status-form\""),
            "operations do not suspend"
        );

        // A retry of the delivery, by operations, once.
        let key = page.hidden("csrf");
        let did = {
            let at = page.body.find("data-delivery=\"").unwrap() + "data-delivery=\"".len();
            page.body[at..page.body[at..].find('"').unwrap() + at].to_owned()
        };
        let retry = format!("{path}/deliveries/{did}/retry");
        let form = [
            ("csrf", key.as_str()),
            ("nonce", "d1"),
            ("environment", "production"),
        ];
        let r = ops.post(&retry, &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let again = ops.post(&retry, &form).await;
        assert_eq!(again.location(), r.location());
        assert_eq!(audit_count(&live, "webhook_delivery.retry").await, 1);

        // Suspending: not by operations, not without a reason, then by a reviewer.
        let r = ops
            .post(
                &format!("{path}/suspend"),
                &[("csrf", &key), ("nonce", "x1"), ("reason", "欠费")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let mut rev = live.login(OperatorRole::Reviewer).await;
        let key = csrf(&mut rev, &path).await;
        let r = rev
            .post(
                &format!("{path}/suspend?lang=en"),
                &[("csrf", &key), ("nonce", "x2"), ("reason", "")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("id=\"err-reason\">Give a reason."));
        let r = rev
            .post(
                &format!("{path}/suspend"),
                &[
                    ("csrf", &key),
                    ("nonce", "x2"),
                    ("reason", "连续两期未结算"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = rev.get(&path).await;
        assert!(page.body.contains("data-status=\"suspended\""));
        assert!(page.body.contains("连续两期未结算"));
        // The partner's token is dead at once.
        let (status, _) = live
            .call(reqwest::Method::GET, "/v1/stations", &p.token, None)
            .await;
        assert!(matches!(status, 401 | 403), "{status}");
        let r = rev
            .post(
                &format!("{path}/resume"),
                &[("csrf", &key), ("nonce", "x3"), ("reason", "已结清")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(rev.get(&path).await.body.contains("data-status=\"active\""));
        assert_eq!(audit_count(&live, "partner.suspend").await, 1);
        assert_eq!(audit_count(&live, "partner.resume").await, 1);
        assert_eq!(audit_count(&live, "partner.resume_reason").await, 1);

        // Finance does not see partners.
        let mut fin = live.login(OperatorRole::Finance).await;
        assert_eq!(fin.get(&path).await.status, StatusCode::FORBIDDEN);
    }
}

// ---------------------------------------------------------------------------------------
// Network forms and the import preview (session 2).

mod network_forms {
    use axum::http::StatusCode;
    use openpile_core::ids::{ChargerId, ConnectorId, StationId};
    use openpile_core::operator::OperatorRole;
    use openpile_core::ports::NetworkStore as _;

    use crate::support::{Env, STATION, TARIFF};

    fn station_form<'a>(csrf: &'a str, nonce: &'a str, id: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("csrf", csrf),
            ("nonce", nonce),
            ("id", id),
            ("name", "上海徐汇滨江充电站"),
            ("address", "上海市徐汇区龙腾大道2555号"),
            ("area_code", "310104"),
            ("province", "上海市"),
            ("city", "上海市"),
            ("district", "徐汇区"),
            ("lat", "31.1812"),
            ("lng", "121.4630"),
            ("datum", "wgs84"),
            ("opening_hours", "24/7"),
            ("parking", ""),
            ("service_phone", "400-820-1234"),
            ("photos", ""),
            ("status", "operational"),
            ("tariff_id", TARIFF),
        ]
    }

    fn with<'a>(
        mut form: Vec<(&'a str, &'a str)>,
        key: &'a str,
        value: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        for f in &mut form {
            if f.0 == key {
                f.1 = value;
            }
        }
        form
    }

    #[tokio::test]
    async fn stations_chargers_and_connectors_are_created_and_edited_with_core_rules() {
        let env = Env::new().await;
        let mut rev = env.login(OperatorRole::Reviewer).await;
        assert_eq!(
            rev.get("/console/stations/new").await.status,
            StatusCode::FORBIDDEN
        );
        let mut ops = env.login(OperatorRole::Operations).await;
        let page = ops.get("/console/stations/new?lang=en").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.hidden("csrf");

        // Every field that does not parse has its message; nothing is written.
        let bad = with(
            with(
                with(station_form(&csrf, "s1", "bad id!"), "area_code", "31"),
                "lat",
                "north",
            ),
            "opening_hours",
            "8 to 5",
        );
        let r = ops.post("/console/stations/new?lang=en", &bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        for field in ["id", "area_code", "lat", "opening_hours"] {
            assert!(
                r.body.contains(&format!("id=\"err-{field}\">Invalid: ")),
                "{field}: {}",
                r.body
            );
        }
        // Core's `validate` on the whole: the phone.
        let r = ops
            .post(
                "/console/stations/new",
                &with(
                    station_form(&csrf, "s1", "SH-0002"),
                    "service_phone",
                    "call us",
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body
                .contains("id=\"err-service_phone\">Invalid: must contain only digits"),
            "{}",
            r.body
        );
        // A taken id.
        let r = ops
            .post("/console/stations/new", &station_form(&csrf, "s1", STATION))
            .await;
        assert!(r.body.contains("id=\"err-id\">This ID is taken."));

        // Valid: saved once however often it is sent.
        let form = station_form(&csrf, "s2", "SH-0002");
        let r = ops.post("/console/stations/new", &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/console/stations/SH-0002?saved=1");
        assert_eq!(
            ops.post("/console/stations/new", &form).await.location(),
            r.location()
        );
        let s = env
            .store
            .get_station(&StationId::parse("SH-0002").unwrap())
            .await
            .unwrap();
        assert_eq!(s.district, "徐汇区");

        // Edit: the id stays; the name changes.
        let edit = ops.get("/console/stations/SH-0002/edit").await;
        assert!(edit.body.contains("value=\"上海徐汇滨江充电站\""));
        let r = ops
            .post(
                "/console/stations/SH-0002/edit",
                &with(station_form(&csrf, "s3", "ignored"), "name", "徐汇滨江站"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let s = env
            .store
            .get_station(&StationId::parse("SH-0002").unwrap())
            .await
            .unwrap();
        assert_eq!(s.name, "徐汇滨江站");

        // A charger at the new station, then connectors on it.
        let charger = [
            ("csrf", csrf.as_str()),
            ("nonce", "c1"),
            ("id", "XH0002-01"),
            ("vendor", "特来电"),
            ("model", "TGC-60"),
            ("serial", ""),
            ("current_type", "DC"),
            ("max_power_kw", "lots"),
            ("firmware", ""),
        ];
        let r = ops
            .post("/console/stations/SH-0002/chargers/new?lang=en", &charger)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("id=\"err-max_power_kw\">Invalid: "));
        let mut charger = charger;
        charger[7].1 = "60";
        let r = ops
            .post("/console/stations/SH-0002/chargers/new", &charger)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/console/chargers/XH0002-01?saved=1");
        let connector = |nonce: &'static str, power: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("nonce", nonce.to_owned()),
                ("number", "1".to_owned()),
                ("id", String::new()),
                ("standard", "gbt_dc".to_owned()),
                ("max_power_kw", power.to_owned()),
                ("voltage_v", "750".to_owned()),
                ("current_a", "150".to_owned()),
            ]
        };
        let post = |c: Vec<(&'static str, String)>| c;
        let above = post(connector("k1", "120"));
        let above: Vec<(&str, &str)> = above.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = ops
            .post("/console/chargers/XH0002-01/connectors/new", &above)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("id=\"err-max_power_kw\""), "{}", r.body);
        let ok = connector("k2", "60");
        let ok: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = ops
            .post("/console/chargers/XH0002-01/connectors/new", &ok)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let k = env
            .store
            .get_connector(&ConnectorId::parse("XH0002-01-1").unwrap())
            .await
            .unwrap();
        assert_eq!(k.connector.voltage_v, 750);
        // Edit the connector's current.
        let edit: Vec<(&str, &str)> = ok
            .iter()
            .map(|(k, v)| match *k {
                "nonce" => (*k, "k3"),
                "current_a" => (*k, "125"),
                _ => (*k, *v),
            })
            .collect();
        let r = ops
            .post("/console/connectors/XH0002-01-1/edit", &edit)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let k = env
            .store
            .get_connector(&ConnectorId::parse("XH0002-01-1").unwrap())
            .await
            .unwrap();
        assert_eq!(k.connector.current_a, 125);
        let c = env
            .store
            .get_charger(&ChargerId::parse("XH0002-01").unwrap())
            .await
            .unwrap();
        assert_eq!(c.charger.vendor, "特来电");

        let actions = env.audit_actions().await;
        for a in [
            "station.create",
            "station.update",
            "charger.create",
            "connector.create",
            "connector.update",
        ] {
            assert_eq!(
                actions.iter().filter(|x| *x == a).count(),
                1,
                "{a}: {actions:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_import_is_previewed_with_every_error_and_written_only_on_confirm() {
        let env = Env::new().await;
        let mut ops = env.login(OperatorRole::Operations).await;
        let page = ops.get("/console/network/import").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.hidden("csrf");
        let doc = |area: &str| {
            serde_json::json!({"stations": [{
                "id": "SH-0100", "name": "闵行莘庄充电站", "address": "上海市闵行区莘松路1号",
                "area_code": area, "province": "上海市", "city": "上海市", "district": "闵行区",
                "lat": 31.11, "lng": 121.38, "opening_hours": "24/7",
                "service_phone": "400-820-1234", "tariff_id": TARIFF,
                "chargers": [{"id": "MH0100-01", "vendor": "星星充电", "model": "DC60",
                    "current_type": "DC", "max_power_kw": "60",
                    "connectors": [{"number": 1, "standard": "gbt_dc", "max_power_kw": "60",
                        "voltage_v": 750, "current_a": 150}]}]
            }]})
            .to_string()
        };

        // Errors: each with its place and field; nothing written.
        let bad = doc("31");
        let r = ops
            .post(
                "/console/network/import",
                &[
                    ("csrf", &csrf),
                    ("nonce", "i1"),
                    ("format", "json"),
                    ("intent", "preview"),
                    ("content", &bad),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body
                .contains("<td><code>stations[0]</code></td><td><code>area_code</code></td>"),
            "{}",
            r.body
        );
        assert!(!r.body.contains("id=\"confirm-import\""));
        // A CSV with an unknown tariff reference: the row is named.
        let csv = "station_id,name,address,area_code,province,city,district,lat,lng,opening_hours,service_phone,tariff_id\r\nSH-0101,站,地址,310115,上海市,上海市,浦东新区,31.2,121.5,24/7,400-820-1234,T-NONE\r\n";
        let r = ops
            .post(
                "/console/network/import",
                &[
                    ("csrf", &csrf),
                    ("nonce", "i1"),
                    ("format", "csv"),
                    ("filename", "stations.csv"),
                    ("intent", "preview"),
                    ("content", csv),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("stations.csv row 2"), "{}", r.body);

        // A good file: the preview lists what would change, and writes nothing.
        let good = doc("310112");
        let preview = ops
            .post(
                "/console/network/import",
                &[
                    ("csrf", &csrf),
                    ("nonce", "i2"),
                    ("format", "json"),
                    ("intent", "preview"),
                    ("content", &good),
                ],
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        assert!(
            preview.body.contains("data-new=\"3\" data-updated=\"0\""),
            "{}",
            preview.body
        );
        assert!(preview.body.contains("id=\"confirm-import\""));
        let id = StationId::parse("SH-0100").unwrap();
        assert!(env.store.get_station(&id).await.is_err());

        // Confirmed (twice: once).
        let nonce = preview.hidden("nonce");
        let previewed = preview.hidden("previewed");
        // Text edited after the preview is previewed again, not written.
        let edited = good.replace("闵行莘庄充电站", "闵行莘庄充电站二期");
        let r = ops
            .post(
                "/console/network/import?lang=en",
                &[
                    ("csrf", csrf.as_str()),
                    ("nonce", nonce.as_str()),
                    ("format", "json"),
                    ("intent", "confirm"),
                    ("previewed", previewed.as_str()),
                    ("content", edited.as_str()),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("preview it again"));
        assert!(env.store.get_station(&id).await.is_err());
        let confirm = [
            ("csrf", csrf.as_str()),
            ("nonce", nonce.as_str()),
            ("format", "json"),
            ("intent", "confirm"),
            ("previewed", previewed.as_str()),
            ("content", good.as_str()),
        ];
        let r = ops.post("/console/network/import", &confirm).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location().starts_with("/console/network/import?done="));
        assert_eq!(
            ops.post("/console/network/import", &confirm)
                .await
                .location(),
            r.location()
        );
        assert_eq!(env.store.get_station(&id).await.unwrap().district, "闵行区");
        let actions = env.audit_actions().await;
        assert_eq!(actions.iter().filter(|a| *a == "network.import").count(), 1);

        // Previewing the same file again: everything would be replaced.
        let again = ops
            .post(
                "/console/network/import",
                &[
                    ("csrf", &csrf),
                    ("nonce", "i3"),
                    ("format", "json"),
                    ("intent", "preview"),
                    ("content", &good),
                ],
            )
            .await;
        assert!(
            again.body.contains("data-new=\"0\" data-updated=\"3\""),
            "{}",
            again.body
        );

        // Finance may not import.
        let mut fin = env.login(OperatorRole::Finance).await;
        assert_eq!(
            fin.get("/console/network/import").await.status,
            StatusCode::FORBIDDEN
        );
    }
}
