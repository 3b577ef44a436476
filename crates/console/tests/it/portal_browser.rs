//! The partner portal in a real browser (headless Chromium over WebDriver, as in `browser.rs`):
//! a partner signs in, configures its webhook (the signing secret shown once), sends a test
//! event and finds it in the delivery log and in the live view, watches a connector event
//! arrive in the live view without a reload and filters it by type, opens its session and CDR,
//! uploads a settlement report as a CSV file and reads the reconciliation. Each portal page is
//! saved as `target/screenshots/portal-<name>.png`.
//!
//! The data comes through core's services over the test's store (see `portal_screens`): an
//! approved partner, a completed session on the sandbox charger, and the month's statement,
//! built once the month is over.

use fantoccini::{Client, Locator};
use openpile_core::clock::Clock as _;
use openpile_core::status::ChargePointStatus;

use crate::portal_screens::{EMAIL_A, Portal, SANDBOX_CONNECTOR};
use crate::support::{
    PASSWORD, SANDBOX_CHARGER, browser_missing, fill, find, in_browser, screenshot,
};

/// Saves the page as `portal-<name>.png`.
async fn shot(b: &Client, name: &str) {
    screenshot(b, &format!("portal-{name}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_portal_works_in_a_real_browser() {
    if browser_missing() {
        return;
    }
    let portal = Portal::new().await;
    let (_, partner) = portal.sign_up(EMAIL_A, "91440300708461136T").await;
    portal.approve(&partner).await;
    let at = portal.env.clock.now();
    let session = portal.charge(&partner, "ORD-7001", 18_250).await;
    let statement = portal.statement(&partner, at).await;
    let app = portal.router();
    in_browser(app, |b, base| async move {
        run(&portal, &b, &base, &session, &statement).await;
    })
    .await;
}

async fn text(b: &Client, css: &str) -> String {
    find(b, css).await.text().await.unwrap()
}

async fn run(portal: &Portal, b: &Client, base: &str, session: &str, statement: &str) {
    // Sign in; the portal sends us back to the page we asked for.
    b.goto(&format!("{base}/portal/webhook")).await.unwrap();
    find(b, "#email").await;
    shot(b, "login").await;
    fill(b, "#email", EMAIL_A).await;
    fill(b, "#password", PASSWORD).await;
    find(b, "button.primary").await.click().await.unwrap();
    find(b, "#url").await;
    assert_eq!(b.current_url().await.unwrap().path(), "/portal/webhook");

    // A URL that cannot be delivered to is refused on its field.
    fill(b, "#url", "http://127.0.0.1:8080/hook").await;
    find(b, "input[value='session.completed']")
        .await
        .click()
        .await
        .unwrap();
    find(b, "form[action='/portal/webhook'] button.primary")
        .await
        .click()
        .await
        .unwrap();
    let error = text(b, "#err-url").await;
    assert!(error.contains("内网"), "{error}");
    // The checked type stayed checked; fix the URL and save.
    fill(b, "#url", "https://hooks.partner-a.example.com/openpile").await;
    find(b, "input[value='connector.status_changed']")
        .await
        .click()
        .await
        .unwrap();
    find(b, "form[action='/portal/webhook'] button.primary")
        .await
        .click()
        .await
        .unwrap();
    let secret = find(b, "#webhook-secret").await;
    assert!(
        secret
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .starts_with("whsec_")
    );
    shot(b, "webhook-secret").await;
    find(b, "a.button.primary").await.click().await.unwrap();

    // A test event: queued, and in the delivery log.
    find(b, "#send-test").await.click().await.unwrap();
    find(b, ".alert.ok").await;
    let row = find(b, "#delivery-log tr[data-state='pending']").await;
    assert!(row.text().await.unwrap().contains("webhook.test"));
    shot(b, "webhook").await;

    // The live view lists the test event, and adds a connector event without a reload.
    find(b, "a[href^='/portal/live']")
        .await
        .click()
        .await
        .unwrap();
    find(b, "#feed tr[data-type='webhook.test']").await;
    find(b, "[data-live-state].is-live").await;
    b.execute("window.__noReload = 7;", vec![]).await.unwrap();
    portal
        .env
        .charger_reports(SANDBOX_CHARGER, 1, ChargePointStatus::Charging)
        .await;
    let arrived = find(b, "#feed tr.changed[data-type='connector.status_changed']").await;
    assert!(arrived.text().await.unwrap().contains(SANDBOX_CONNECTOR));
    let marker = b
        .execute("return window.__noReload;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, serde_json::json!(7), "the page was reloaded");
    shot(b, "live").await;
    // Filtered to test events, the connector event is hidden.
    find(b, "#type-filter option[value='webhook.test']")
        .await
        .click()
        .await
        .unwrap();
    let hidden = b
        .execute(
            "return document.querySelector(\"#feed tr.changed[data-type='connector.status_changed']\").hidden;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(hidden, serde_json::json!(true));

    // The session, its energy and cost; its CDR.
    b.goto(&format!("{base}/portal/sessions")).await.unwrap();
    find(b, &format!("tr[data-session='{session}']")).await;
    shot(b, "sessions").await;
    find(b, &format!("a[href='/portal/sessions/{session}']"))
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(text(b, "#session-energy").await, "18.250 kWh");
    find(b, "#session-totals").await;
    shot(b, "session").await;
    find(b, "a[href^='/portal/cdrs/']")
        .await
        .click()
        .await
        .unwrap();
    find(b, "dl.facts").await;
    shot(b, "cdr").await;
    b.goto(&format!("{base}/portal/cdrs")).await.unwrap();
    find(b, "#cdrs").await;
    shot(b, "cdrs").await;

    // The statement: upload the report as a file; the reconciliation shows the difference.
    b.goto(&format!("{base}/portal/statements")).await.unwrap();
    find(b, &format!("tr[data-statement='{statement}']")).await;
    shot(b, "statements").await;
    find(b, &format!("a[href='/portal/statements/{statement}']"))
        .await
        .click()
        .await
        .unwrap();
    find(b, "#statement-totals").await;
    let total = portal
        .settlement
        .statement(None, statement)
        .await
        .unwrap()
        .totals
        .total
        .amount();
    let reported = total - rust_decimal::Decimal::new(50, 2);
    let csv = format!(
        "order_id,session_id,energy_kwh,amount\nORD-7001,{session},18.250,{reported:.2}\nTOTAL,,18.250,{reported:.2}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    std::fs::write(&file, csv).unwrap();
    find(b, "#csv-file")
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    // The script puts the file's text into the form.
    b.wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//textarea[@id='csv' and contains(., 'ORD-7001')]",
        ))
        .await
        .ok();
    let value = b
        .execute("return document.getElementById('csv').value;", vec![])
        .await
        .unwrap();
    assert!(
        value.as_str().unwrap_or_default().contains("ORD-7001"),
        "{value}"
    );
    shot(b, "statement-upload").await;
    find(b, "#upload-report").await.click().await.unwrap();
    find(b, "#reconciliation").await;
    assert_eq!(
        text(b, "tr[data-category='amount_mismatch'] [data-count]").await,
        "1"
    );
    assert_eq!(text(b, "#rec-difference").await, "-0.50 CNY");
    assert!(
        text(b, "#statement-state").await.contains("存在差异"),
        "the statement is disputed"
    );
    shot(b, "statement").await;

    // The guide, in English.
    b.goto(&format!("{base}/portal/guide?lang=en"))
        .await
        .unwrap();
    find(b, "article.guide h1").await;
    shot(b, "guide").await;
    b.goto(&format!("{base}/portal")).await.unwrap();
    find(b, "#h-creds").await;
    shot(b, "home").await;
}
