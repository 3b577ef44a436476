//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`) from Rust with fantoccini. The console runs on a real port-0 axum
//! server over a temporary SQLite file. The test logs in, watches the dashboard change when a
//! charger reports a status (without a reload), creates a tariff version after correcting an
//! error, and saves a screenshot of each main page under `target/screenshots/`.
//!
//! Without chromium or chromedriver the test is skipped with a loud message, unless `CI=true`,
//! where it fails.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use openpile_core::ids::TariffId;
use openpile_core::operator::OperatorRole;
use openpile_core::ports::NetworkStore;
use openpile_core::status::ChargePointStatus;

use crate::support::{CHARGER, CONNECTOR, Env, PASSWORD, SANDBOX_CHARGER, STATION, TARIFF, email};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
/// How long any one wait in the browser may take.
const WAIT: Duration = Duration::from_secs(20);

/// Kills chromedriver (and with it the browser) when the test ends, however it ends.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn found(program: &str) -> bool {
    if Path::new(program).is_absolute() {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Starts chromedriver on a free port and waits for its "started successfully" line.
fn start_driver() -> Driver {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("started successfully") => break,
            Some(Ok(_)) => {}
            other => panic!("chromedriver did not start: {other:?}"),
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=zh-CN",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    let path = screenshot_dir().join(format!("console-{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn find(b: &Client, css: &str) -> fantoccini::elements::Element {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

async fn fill(b: &Client, css: &str, value: &str) {
    let input = find(b, css).await;
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Sets an input's value directly: `datetime-local` inputs take keys in a locale-dependent
/// order, so typing into them is not reliable.
async fn set_value(b: &Client, id: &str, value: &str) {
    b.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![id.into(), value.into()],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    if !found(CHROMIUM) || !found(CHROMEDRIVER) {
        let msg = "\n\n!!!!!!!! SKIPPED the browser test: install Debian packages `chromium` and \
                   `chromium-driver` to run it !!!!!!!!\n";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}(CI=true: the browser test must run)");
        }
        eprintln!("{msg}");
        return;
    }

    let env = Env::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = env.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let driver = start_driver();
    let b = browser(&driver).await;
    // Run the steps in a task so that a failing step still closes the browser session.
    let steps = {
        let b = b.clone();
        tokio::spawn(async move { run(&env, &b, &base).await })
    }
    .await;
    let _ = b.close().await;
    server.abort();
    drop(driver);
    if let Err(e) = steps {
        std::panic::resume_unwind(e.into_panic());
    }
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

/// Clicks the submit button `css` and waits for the next page to have `expect`.
async fn submit(b: &Client, css: &str, expect: &str) -> fantoccini::elements::Element {
    find(b, css).await.click().await.unwrap();
    find(b, expect).await
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
