//! E-mail through a real SMTP server (aiosmtpd, `tests/python/smtp_sink.py`) with the real
//! SMTP mailer: decisions reach the applicant in both languages with the reason and the links,
//! and an SMTP server that is down fails no decision: the notification is marked `failed`,
//! shown so in `GET /v1/notifications`, and sent once the server is back, also by a process
//! started after the failure (the retry schedule is in the database). An e-mail whose process
//! died before the first send is sent too, by the retries once its first-send lease is over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use openpile_api::crypto::{ApiCrypto, PasswordCost};
use openpile_core::ids::UuidV7Ids;
use openpile_core::partner::notification::{
    EmailStatus, FIRST_SEND_LEASE, MailError, MailRetryPolicy, Mailer, Notification,
};
use openpile_core::partner::ports::PartnerStore;
use openpile_core::partner::service::{MailRetryReport, PartnerConfig, PartnerService};
use openpile_mailer::testing::{SmtpSink, python_ready, unused_port};
use openpile_mailer::{Links, SmtpMailer, SmtpServer, SmtpSettings};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::{PASSWORD, TestApp, email, network};

fn mailer(port: u16) -> Arc<dyn Mailer> {
    Arc::new(
        SmtpMailer::new(&SmtpSettings {
            server: SmtpServer::Url(SecretString::from(format!("smtp://127.0.0.1:{port}"))),
            username: None,
            password: None,
            from: "OpenPile <noreply@openpile.example>".into(),
            timeout: Duration::from_secs(3),
            links: Links::under("https://open.example.com"),
        })
        .unwrap(),
    )
}

fn config(first_delay: Duration, max_attempts: u32) -> PartnerConfig {
    PartnerConfig {
        mail_retry: MailRetryPolicy {
            first_delay,
            max_delay: first_delay * 2,
            max_attempts,
        },
        ..PartnerConfig::default()
    }
}

/// The applicant's notifications, newest first: (kind, email_status).
async fn notifications(app: &TestApp, n: u32) -> Vec<(String, String)> {
    let page: Value = app
        .http
        .get(app.url("/v1/notifications"))
        .basic_auth(email(n), Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["email_status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn next(sink: &mut SmtpSink) -> Value {
    let line = sink
        .next_message(Duration::from_secs(15))
        .await
        .expect("an e-mail arrives");
    serde_json::from_str(&line).unwrap()
}

async fn reject(app: &TestApp, id: &str, reason: &str) {
    let r = app
        .admin_post(
            &format!("/admin/v1/partner-applications/{id}/reject"),
            json!({"revision": 1, "reason": reason}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn decisions_are_mailed_in_both_languages_with_the_reason_and_links() {
    if !python_ready() {
        return;
    }
    let mut sink = SmtpSink::start(0).await;
    let app = TestApp::start_with_mailer(
        &network(1, 1),
        PartnerConfig::default(),
        Some(mailer(sink.port())),
    )
    .await;
    let (id, sandbox_client, _) = app.apply(1).await;

    let received = next(&mut sink).await;
    assert_eq!(received["rcpt_tos"], json!([email(1)]));
    assert_eq!(received["mail_from"], "noreply@openpile.example");
    assert_eq!(
        received["headers"]["subject"],
        "申请已收到 / Application received"
    );
    let body = received["body"].as_str().unwrap();
    assert!(body.contains("出行平台1有限公司"), "{body}");
    assert!(body.contains(&sandbox_client), "{body}");

    reject(
        &app,
        &id,
        "营业执照照片不清晰 / the licence photo is blurred",
    )
    .await;
    let rejected = next(&mut sink).await;
    let h = &rejected["headers"];
    assert_eq!(h["to"], email(1));
    assert_eq!(h["from"], "OpenPile <noreply@openpile.example>");
    assert_eq!(h["subject"], "申请未通过 / Application rejected");
    assert_eq!(h["content-language"], "zh-CN, en");
    assert_eq!(rejected["charset"], "utf-8");
    let body = rejected["body"].as_str().unwrap();
    for expected in [
        "您的申请（第 1 版）未通过审核。",
        "原因：营业执照照片不清晰 / the licence photo is blurred",
        "Revision 1 of your application was not approved.",
        "Reason: 营业执照照片不清晰 / the licence photo is blurred",
        &format!("PUT /v1/partner-applications/{id}"),
        "Partner portal: https://open.example.com/portal",
        "API reference: https://open.example.com/docs",
        "Getting started: https://open.example.com/getting-started",
    ] {
        assert!(
            body.contains(expected),
            "{expected:?} missing from:\n{body}"
        );
    }
    // Chinese first: the applicant's language is not recorded, so both, mainland first.
    assert!(body.find("原因").unwrap() < body.find("Reason").unwrap());
    assert_eq!(
        notifications(&app, 1).await,
        [
            ("application_rejected".into(), "sent".into()),
            ("application_received".into(), "sent".into())
        ]
    );
}

#[tokio::test]
async fn an_smtp_server_that_is_down_fails_no_decision_and_is_retried() {
    if !python_ready() {
        return;
    }
    let port = unused_port();
    let app = TestApp::start_with_mailer(
        &network(1, 1),
        config(Duration::from_millis(500), 20),
        Some(mailer(port)),
    )
    .await;
    let (id, _, _) = app.apply(1).await;
    reject(&app, &id, "资料不全 / documents missing").await;

    // The decision stands; the e-mails are recorded as failed, visibly.
    let mine: Value = app
        .http
        .get(app.url(&format!("/v1/partner-applications/{id}")))
        .basic_auth(email(1), Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "rejected");
    assert_eq!(mine["rejection_reason"], "资料不全 / documents missing");
    assert_eq!(
        notifications(&app, 1).await,
        [
            ("application_rejected".into(), "failed".into()),
            ("application_received".into(), "failed".into())
        ]
    );

    // The retry task (as the server runs it) keeps trying; the server comes back on the port.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let retries = tokio::spawn(openpile_mailer::run_retries(
        app.partners.clone(),
        Duration::from_millis(100),
        async {
            let _ = stopped.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut sink = SmtpSink::start(port).await;
    let mut subjects = vec![
        next(&mut sink).await["headers"]["subject"]
            .as_str()
            .unwrap()
            .to_string(),
        next(&mut sink).await["headers"]["subject"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "申请已收到 / Application received",
            "申请未通过 / Application rejected"
        ]
    );
    // The status follows the send; wait for the write after the SMTP answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let statuses = notifications(&app, 1).await;
        if statuses.iter().all(|(_, s)| s == "sent") {
            break;
        }
        assert!(Instant::now() < deadline, "still {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    retries.await.unwrap();
    assert!(
        sink.next_message(Duration::from_millis(500))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn attempts_are_bounded_and_the_last_failure_stays_visible() {
    let app = TestApp::start_with_mailer(
        &network(1, 1),
        config(Duration::from_millis(200), 3),
        Some(mailer(unused_port())),
    )
    .await;
    app.apply(1).await;
    // Attempt 1 failed during the application; 2 and 3 come 200 and 400 ms later.
    let mut total = MailRetryReport::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while total.given_up == 0 {
        assert!(Instant::now() < deadline, "{total:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = app.partners.retry_failed_mail().await.unwrap();
        total.sent += r.sent;
        total.failed += r.failed;
        total.given_up += r.given_up;
        total.waiting = r.waiting;
    }
    assert_eq!(
        total,
        MailRetryReport {
            sent: 0,
            failed: 1,
            given_up: 1,
            waiting: 0
        }
    );
    assert_eq!(
        notifications(&app, 1).await,
        [("application_received".into(), "failed".into())]
    );
    // Nothing is left to try.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        app.partners.retry_failed_mail().await.unwrap(),
        MailRetryReport::default()
    );
}

#[tokio::test]
async fn a_failed_email_is_sent_by_the_next_process_after_a_restart() {
    if !python_ready() {
        return;
    }
    let port = unused_port();
    let policy = config(Duration::from_millis(200), 20);
    let app = TestApp::start_with_mailer(&network(1, 1), policy.clone(), Some(mailer(port))).await;
    app.apply(1).await;
    assert_eq!(
        notifications(&app, 1).await,
        [("application_received".into(), "failed".into())]
    );
    // The failure and its next attempt are in the database, not in the process.
    let later = Utc::now() + chrono::TimeDelta::hours(1);
    let queue = app.store.due_mail_retries(later, 10).await.unwrap();
    assert_eq!(queue.due.len(), 1);
    assert_eq!(queue.due[0].attempts, 1);
    assert_eq!(queue.due[0].notification.email_status, EmailStatus::Failed);

    // "Restart": a new partner service over the same database, with nothing in memory, and
    // its retry task, as the server starts them. The first process never retries.
    let restarted = Arc::new(PartnerService::new(
        Arc::new(app.store.clone()),
        Arc::new(ApiCrypto::new(PasswordCost::Light)),
        app.clock.clone(),
        Arc::new(UuidV7Ids),
        Some(mailer(port)),
        policy,
    ));
    let mut sink = SmtpSink::start(port).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let retries = tokio::spawn(openpile_mailer::run_retries(
        restarted,
        Duration::from_millis(100),
        async {
            let _ = stopped.await;
        },
    ));
    let received = next(&mut sink).await;
    assert_eq!(
        received["headers"]["subject"],
        "申请已收到 / Application received"
    );
    assert_eq!(received["rcpt_tos"], json!([email(1)]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications(&app, 1).await != [("application_received".into(), "sent".into())] {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            notifications(&app, 1).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Sent means done: nothing is scheduled any more, and nothing is sent twice.
    let queue = app.store.due_mail_retries(later, 10).await.unwrap();
    assert_eq!((queue.due.len(), queue.waiting), (0, 0));
    let _ = stop.send(());
    retries.await.unwrap();
    assert!(
        sink.next_message(Duration::from_millis(500))
            .await
            .is_none()
    );
}

/// A mailer stuck in its first send, like a process that dies before sending: it says when
/// the send began (the notification is recorded by then) and never returns.
struct Stuck(Arc<tokio::sync::Notify>);

#[async_trait]
impl Mailer for Stuck {
    async fn send(&self, _: &Notification) -> Result<(), MailError> {
        self.0.notify_one();
        std::future::pending().await
    }
}

#[tokio::test]
async fn an_email_whose_process_died_before_sending_is_sent_after_its_lease() {
    if !python_ready() {
        return;
    }
    let port = unused_port();
    let policy = config(Duration::from_millis(200), 5);
    let began = Arc::new(tokio::sync::Notify::new());
    let app = TestApp::start_with_mailer(
        &network(1, 1),
        policy.clone(),
        Some(Arc::new(Stuck(began.clone()))),
    )
    .await;
    let app = Arc::new(app);
    // The application is recorded and its e-mail send begins, then the "process dies": the
    // send never finishes and the request is abandoned.
    let applying = tokio::spawn({
        let app = app.clone();
        async move {
            app.apply(1).await;
        }
    });
    tokio::time::timeout(Duration::from_secs(15), began.notified())
        .await
        .expect("the inline send begins");
    applying.abort();
    let _ = applying.await;
    assert_eq!(
        notifications(&app, 1).await,
        [("application_received".into(), "pending".into())]
    );

    // "Restart": a new partner service over the same database with a working mailer, and its
    // retry task, as the server starts them.
    let restarted = Arc::new(PartnerService::new(
        Arc::new(app.store.clone()),
        Arc::new(ApiCrypto::new(PasswordCost::Light)),
        app.clock.clone(),
        Arc::new(UuidV7Ids),
        Some(mailer(port)),
        policy,
    ));
    let mut sink = SmtpSink::start(port).await;
    // Within the lease the e-mail still belongs to the inline send: a retry round leaves it.
    assert_eq!(
        restarted.retry_failed_mail().await.unwrap(),
        MailRetryReport {
            waiting: 1,
            ..MailRetryReport::default()
        }
    );
    assert!(
        sink.next_message(Duration::from_millis(300))
            .await
            .is_none()
    );
    assert_eq!(
        notifications(&app, 1).await,
        [("application_received".into(), "pending".into())]
    );

    // Once the lease is over, the next round sends it, once.
    app.clock
        .advance(FIRST_SEND_LEASE + chrono::TimeDelta::seconds(1));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let retries = tokio::spawn(openpile_mailer::run_retries(
        restarted,
        Duration::from_millis(100),
        async {
            let _ = stopped.await;
        },
    ));
    let received = next(&mut sink).await;
    assert_eq!(
        received["headers"]["subject"],
        "申请已收到 / Application received"
    );
    assert_eq!(received["rcpt_tos"], json!([email(1)]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications(&app, 1).await != [("application_received".into(), "sent".into())] {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            notifications(&app, 1).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let later = Utc::now() + chrono::TimeDelta::hours(1);
    let queue = app.store.due_mail_retries(later, 10).await.unwrap();
    assert_eq!((queue.due.len(), queue.waiting), (0, 0));
    let _ = stop.send(());
    retries.await.unwrap();
    assert!(
        sink.next_message(Duration::from_millis(500))
            .await
            .is_none()
    );
}
