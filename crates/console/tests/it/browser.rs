//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`) from Rust with fantoccini. The console runs on a real port-0 axum
//! server over a temporary SQLite file. The test logs in, watches the dashboard change when a
//! charger reports a status (without a reload), creates a tariff version after correcting an
//! error, and saves a screenshot of each main page under `target/screenshots/`.
//!
//! A second test runs the operator screens over the real server (Open API, OCPP and a
//! simulated charger): a session appears, a statement is resolved and confirmed.
//!
//! Without chromium or chromedriver the test is skipped with a loud message, unless `CI=true`,
//! where it fails.

use fantoccini::{Client, Locator};
use openpile_core::ids::TariffId;
use openpile_core::operator::OperatorRole;
use openpile_core::ports::NetworkStore;
use openpile_core::status::ChargePointStatus;

use crate::support::{
    CHARGER, CONNECTOR, Env, Live, PASSWORD, SANDBOX_CHARGER, STATION, TARIFF, browser_missing,
    email, fill, find, in_browser, set_value, shot, submit,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    if browser_missing() {
        return;
    }

    let env = Env::new().await;
    let app = env.router();
    in_browser(app, |b, base| async move { run(&env, &b, &base).await }).await;
}

async fn run(env: &Env, b: &Client, base: &str) {
    // Log in: the console sends us to the login page and back.
    b.goto(&format!("{base}/console")).await.unwrap();
    find(b, "#email").await;
    assert!(
        b.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/console/login?next=/console")
    );
    shot(b, "01-login").await;
    fill(b, "#email", &email(OperatorRole::Admin)).await;
    fill(b, "#password", PASSWORD).await;
    find(b, "button.primary").await.click().await.unwrap();

    // The dashboard, with every connector offline so far.
    let chip = format!("[data-connector='{CONNECTOR}']");
    find(b, &chip).await;
    assert_eq!(b.current_url().await.unwrap().path(), "/console");
    find(b, "[data-live-state].is-live").await;
    // A marker that a reload would wipe.
    b.execute("window.__noReload = 42;", vec![]).await.unwrap();

    // A charger reports; the dashboard follows without a reload.
    env.charger_reports(CHARGER, 1, ChargePointStatus::Charging)
        .await;
    let charging = find(b, &format!("{chip}[data-status='charging']")).await;
    assert_eq!(
        charging
            .find(Locator::Css("[data-label]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "充电中"
    );
    let marker = b
        .execute("return window.__noReload;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, serde_json::json!(42), "the page was reloaded");
    let counted = find(b, "[data-summary='status-charging']").await;
    assert_eq!(counted.text().await.unwrap(), "1");
    env.charger_reports(CHARGER, 2, ChargePointStatus::Available)
        .await;
    env.charger_reports("SH0001-02", 1, ChargePointStatus::Faulted)
        .await;
    find(b, "[data-connector='SH0001-02-1'][data-status='faulted']").await;
    find(b, "[data-connector='SH0001-01-2'][data-status='available']").await;
    shot(b, "02-dashboard").await;

    // Network pages.
    b.goto(&format!("{base}/console/stations")).await.unwrap();
    find(b, "table.grid").await;
    shot(b, "03-stations").await;
    b.goto(&format!("{base}/console/stations/{STATION}"))
        .await
        .unwrap();
    find(b, &format!("[data-charger='{CHARGER}']")).await;
    shot(b, "04-station").await;
    b.goto(&format!("{base}/console/chargers/{CHARGER}"))
        .await
        .unwrap();
    find(b, "#reset-kind").await;
    shot(b, "05-charger").await;
    find(b, "form[action$='/commands'] button")
        .await
        .click()
        .await
        .unwrap();
    find(b, ".alert.ok").await;
    shot(b, "06-command-result").await;

    // Tariffs: a version with a gap is refused with the field error, then fixed.
    b.goto(&format!("{base}/console/tariffs")).await.unwrap();
    find(b, "table.grid").await;
    shot(b, "07-tariffs").await;
    b.goto(&format!("{base}/console/tariffs/{TARIFF}/versions/new"))
        .await
        .unwrap();
    find(b, "#start-1").await;
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(2))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%dT00:00")
        .to_string();
    set_value(b, "effective_from", &tomorrow).await;
    // Rows come sorted by start: 08:00–22:00, then 22:00–08:00. Cut the first short.
    fill(b, "#end-1", "20:00").await;
    fill(b, "#electricity-1", "1.05").await;
    find(b, "button[value='save']").await.click().await.unwrap();
    let error = find(b, ".field-error").await;
    assert!(
        error.text().await.unwrap().contains("20:00–22:00"),
        "{}",
        error.text().await.unwrap()
    );
    shot(b, "08-tariff-form-error").await;
    fill(b, "#end-1", "22:00").await;
    find(b, "button[value='save']").await.click().await.unwrap();
    find(b, ".alert.ok").await;
    assert!(
        b.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("?saved=2")
    );
    shot(b, "09-tariff-versions").await;
    let versions = env
        .store
        .tariff_versions(&TariffId::parse(TARIFF).unwrap())
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1].segments[0].electricity_price.to_string(),
        "1.05"
    );

    // The audit log, and the dashboard in English.
    b.goto(&format!("{base}/console/audit")).await.unwrap();
    find(b, "table.grid").await;
    shot(b, "10-audit").await;
    b.goto(&format!("{base}/console?lang=en")).await.unwrap();
    find(b, "[data-live-state].is-live").await;
    let label = find(b, &format!("{chip} [data-label]")).await;
    assert_eq!(label.text().await.unwrap(), "Charging");
    shot(b, "11-dashboard-en").await;
    b.goto(&format!("{base}/console?lang=zh-CN")).await.unwrap();
    find(b, "[data-live-state].is-live").await;

    partner_journey(env, b, base).await;
}

/// The issue's partner journey: apply in the portal → reject in the console → resubmit →
/// approve → reveal credentials. The portal and the console live side by side in one browser
/// (their cookies have different paths).
async fn partner_journey(env: &Env, b: &Client, base: &str) {
    b.goto(&format!("{base}/portal")).await.unwrap();
    find(b, "a[href='/portal/apply']").await;
    shot(b, "20-portal-landing").await;
    find(b, "a[href='/portal/apply']")
        .await
        .click()
        .await
        .unwrap();
    for (id, value) in [
        ("company_name", "深圳市快充科技有限公司"),
        ("unified_social_credit_code", "91440300708461136T"),
        ("legal_representative", "李四"),
        ("website", "https://partner.example.com"),
        ("contact_name", "张三"),
        ("mobile", "12345"),
        ("email", "dev@partner.example.com"),
        (
            "intended_use",
            "在我们的出行 App 中展示充电站并为用户启动充电。",
        ),
        ("expected_monthly_volume", "50000"),
        ("callback_base_url", "https://partner.example.com/openpile"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ] {
        fill(b, &format!("#{id}"), value).await;
    }
    // The browser's own checks would stop a bad form before the server sees it; the server's
    // messages are what this test is about.
    b.execute(
        "document.querySelector('form.stack').noValidate = true;",
        vec![],
    )
    .await
    .unwrap();
    let error = submit(b, "button.primary", "#err-mobile").await;
    assert!(error.text().await.unwrap().contains("手机号"));
    shot(b, "21-portal-apply-error").await;
    fill(b, "#mobile", "13800138000").await;
    fill(b, "#password", PASSWORD).await;
    fill(b, "#password_confirm", PASSWORD).await;
    submit(b, "button.primary", "#client-secret").await;
    let secret = find(b, "#client-secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("opsk_"), "{secret}");
    shot(b, "22-portal-sandbox-secret").await;

    // The portal home: pending, sandbox stations with live status.
    b.goto(&format!("{base}/portal")).await.unwrap();
    find(b, "[data-live-state].is-live").await;
    env.charger_reports(SANDBOX_CHARGER, 1, ChargePointStatus::Available)
        .await;
    find(
        b,
        "[data-connector='SBX0001-01-1'][data-status='available']",
    )
    .await;
    shot(b, "23-portal-home-pending").await;

    // The reviewer rejects with a reason.
    b.goto(&format!("{base}/console/applications"))
        .await
        .unwrap();
    find(b, "table.grid a").await;
    shot(b, "24-console-applications").await;
    find(b, "table.grid a").await.click().await.unwrap();
    fill(
        b,
        "#reason",
        "营业执照上的公司名称与填写不一致，请更正后重新提交。",
    )
    .await;
    submit(b, "button.danger", ".alert.ok").await;
    shot(b, "25-console-application-rejected").await;

    // The partner reads the reason, corrects and resubmits.
    b.goto(&format!("{base}/portal")).await.unwrap();
    let reason = find(b, ".alert.warn .pre").await;
    assert!(reason.text().await.unwrap().contains("公司名称"));
    find(b, "a[href='/portal/application']")
        .await
        .click()
        .await
        .unwrap();
    fill(b, "#company_name", "深圳市快充新能源科技有限公司").await;
    shot(b, "26-portal-resubmit").await;
    submit(b, "button.primary", ".alert.ok").await;

    // The reviewer approves revision 2 for station SH-0001.
    b.goto(&format!("{base}/console/applications"))
        .await
        .unwrap();
    find(b, "table.grid a").await.click().await.unwrap();
    find(b, ".changed-tag").await;
    find(b, "input[name='scope_kind'][value='list']")
        .await
        .click()
        .await
        .unwrap();
    fill(b, "#station_ids", STATION).await;
    shot(b, "27-console-application-review").await;
    submit(b, "form[action$='/approve'] button.primary", ".alert.ok").await;
    shot(b, "28-console-application-approved").await;

    // The partner issues its first production secret and sees it once.
    b.goto(&format!("{base}/portal")).await.unwrap();
    let issue = find(b, "form[action^='/portal/credentials/prd_'] button").await;
    shot(b, "29-portal-home-approved").await;
    issue.click().await.unwrap();
    let client = find(b, "#client-id")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(client.starts_with("prd_"), "{client}");
    let secret = find(b, "#client-secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("opsk_"));
    shot(b, "30-portal-production-secret").await;
}

/// The operator screens over the real server: a simulated charger's session appears (the
/// dashboard follows it live, the sessions list and the session's page with its meter curve
/// show it), the CDRs and partners screens, and a disputed statement is resolved and confirmed
/// in the console. Screenshots of every page (`console-4x-…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_screens_work_in_a_real_browser() {
    if browser_missing() {
        return;
    }
    let live = Live::start().await;
    let app = live.router();
    in_browser(app, |b, base| async move {
        operator_screens(&live, &b, &base).await;
    })
    .await;
}

async fn operator_screens(live: &Live, b: &Client, base: &str) {
    let p = live.partner(91).await;
    let _cp = live.charger("SH0101-01").await;

    b.goto(&format!("{base}/console/login")).await.unwrap();
    fill(b, "#email", &email(OperatorRole::Admin)).await;
    fill(b, "#password", PASSWORD).await;
    find(b, "button.primary").await.click().await.unwrap();
    find(b, "[data-live-state].is-live").await;
    assert_eq!(
        find(b, "[data-summary='active-sessions']")
            .await
            .text()
            .await
            .unwrap(),
        "0"
    );

    // A partner starts a session on the simulated charger: the dashboard's connector follows
    // without a reload, and after a reload the session is counted at its station.
    let sid = live.start_charging(&p, "SH0101-01-1", "ORD-WEB-1").await;
    find(b, "[data-connector='SH0101-01-1'][data-status='charging']").await;
    b.refresh().await.unwrap();
    let active = find(b, "[data-summary='active-sessions']").await;
    assert_eq!(active.text().await.unwrap(), "1");
    find(b, "#active-sessions [data-station='SH-0101']").await;
    shot(b, "40-ops-dashboard").await;

    // It appears in the sessions list; its page has the timeline and the meter curve.
    b.goto(&format!("{base}/console/sessions")).await.unwrap();
    find(b, &format!("tr[data-session='{sid}'] a"))
        .await
        .click()
        .await
        .unwrap();
    find(b, "figure[data-chart='energy'] svg path.series").await;
    find(b, "#timeline li.step-charger").await;
    shot(b, "42-ops-session").await;
    b.goto(&format!("{base}/console/sessions?state=charging"))
        .await
        .unwrap();
    find(b, &format!("tr[data-session='{sid}']")).await;
    shot(b, "41-ops-sessions").await;
    // A bad date is a message on that field.
    set_value(b, "f-from", "2026-11-20").await;
    set_value(b, "f-to", "2026-11-01").await;
    find(b, "form.filters button.primary")
        .await
        .click()
        .await
        .unwrap();
    find(b, "#err-to").await;

    // Two completed sessions, a closed statement and the partner's report one fen short.
    live.stop_charging(&p, &sid).await;
    let second = live.charge(&p, "SH0101-01-1", "ORD-WEB-2").await;
    let st = live.reported_statement(&p, &[sid.clone(), second], 1).await;

    b.goto(&format!("{base}/console/cdrs")).await.unwrap();
    find(b, &format!("tr[data-cdr='{sid}']")).await;
    shot(b, "43-ops-cdrs").await;
    b.goto(&format!("{base}/console/cdrs/{sid}")).await.unwrap();
    find(b, "#lines").await;
    find(b, "#credit-form").await;
    shot(b, "44-ops-cdr").await;

    b.goto(&format!("{base}/console/partners")).await.unwrap();
    find(b, &format!("tr[data-partner='{}']", p.id)).await;
    shot(b, "45-ops-partners").await;
    b.goto(&format!("{base}/console/partners/{}", p.id))
        .await
        .unwrap();
    find(b, "#contract").await;
    shot(b, "46-ops-partner").await;

    // The statement: disputed; resolve the one discrepancy, then confirm.
    b.goto(&format!("{base}/console/statements")).await.unwrap();
    find(b, &format!("tr[data-statement='{st}']")).await;
    shot(b, "47-ops-statements").await;
    b.goto(&format!("{base}/console/statements/{st}"))
        .await
        .unwrap();
    find(b, "[data-state='disputed']").await;
    find(b, "form.resolve input[value='accept_ours']")
        .await
        .click()
        .await
        .unwrap();
    fill(b, "form.resolve textarea", "以我方电表数据为准").await;
    shot(b, "48-ops-statement-disputed").await;
    find(b, "form.resolve button").await.click().await.unwrap();
    find(b, ".alert.ok").await;
    find(b, "#confirm").await.click().await.unwrap();
    find(b, "[data-state='confirmed']").await;
    find(b, "#settle-form").await;
    shot(b, "49-ops-statement-confirmed").await;
    let confirmed = live.settlement.statement(None, &st).await.unwrap();
    assert_eq!(
        confirmed.state,
        openpile_core::settlement::statement::StatementState::Confirmed
    );

    // Network forms: a new station with mistakes shows them on their fields.
    b.goto(&format!("{base}/console/stations")).await.unwrap();
    find(b, "#new-station").await.click().await.unwrap();
    fill(b, "#id", "SH-0999").await;
    fill(b, "#area_code", "31").await;
    fill(b, "#lat", "north").await;
    find(b, "form.network-form button.primary")
        .await
        .click()
        .await
        .unwrap();
    find(b, "#err-area_code").await;
    find(b, "#err-lat").await;
    shot(b, "51-ops-station-form-error").await;

    // The import: a preview of what would change, nothing written before confirming.
    b.goto(&format!("{base}/console/network/import"))
        .await
        .unwrap();
    let doc = serde_json::json!({"stations": [{
        "id": "SH-0998", "name": "浦东世博充电站", "address": "上海市浦东新区世博大道1号",
        "area_code": "310115", "province": "上海市", "city": "上海市", "district": "浦东新区",
        "lat": 31.18, "lng": 121.49, "opening_hours": "24/7",
        "service_phone": "400-820-1234", "tariff_id": "T-SH-TOU", "chargers": []
    }]})
    .to_string();
    set_value(b, "content", &doc).await;
    find(b, "#preview").await.click().await.unwrap();
    find(b, "#import-changes").await;
    shot(b, "52-ops-import-preview").await;
    find(b, "#confirm-import").await.click().await.unwrap();
    find(b, ".alert.ok").await;

    // The dashboard, with today's figures.
    b.goto(&format!("{base}/console?lang=en")).await.unwrap();
    find(b, "[data-summary='today-cdrs']").await;
    shot(b, "50-ops-dashboard-en").await;
    b.goto(&format!("{base}/console?lang=zh-CN")).await.unwrap();
    find(b, "[data-live-state]").await;
}
