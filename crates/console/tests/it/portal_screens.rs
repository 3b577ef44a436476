//! The partner portal's screens in process: webhook settings, test deliveries and the delivery
//! log, the live event stream, sessions and CDRs, statements with the report upload and the
//! reconciliation, the guide; forms' validation in both languages, CSRF and double submits, an
//! expired session, and another partner's ids answering 404.
//!
//! Data comes through core's real services over the test's SQLite store: a partner session is
//! started with `SessionService::start` (the scripted gateway accepts RemoteStart), and the
//! charger's StartTransaction and StopTransaction are recorded through the `TransactionStore`
//! and handed to the service as the OCPP face does; statements are built with
//! `SettlementService::build` after the period ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt as _;
use openpile_console::{ConsoleConfig, ConsoleState, Services};
use openpile_core::charging::{
    StopReason, StopRecorded, TransactionStart, TransactionStop, TransactionStore,
};
use openpile_core::clock::Clock;
use openpile_core::energy::Wh;
use openpile_core::event::{
    AttemptOutcome, ClaimRequest, DeliveryAttempt, EventStore, FeedKey, NextStep,
};
use openpile_core::ids::{ChargerId, ConnectorNumber, PartnerId, UuidV7Ids};
use openpile_core::operator::OperatorRole;
use openpile_core::partner::catalog::{Catalog, Visibility};
use openpile_core::partner::credential::Environment;
use openpile_core::partner::service::{PartnerConfig, PartnerService};
use openpile_core::sessions::ports::{Runtime, Task};
use openpile_core::sessions::service::{
    Caller, SessionConfig, SessionDeps, SessionService, StartRequest,
};
use openpile_core::settlement::service::{SettlementConfig, SettlementService};
use openpile_core::status::ChargePointStatus;
use tower::ServiceExt as _;

use crate::partners::application;
use crate::support::{Client, Env, PASSWORD, SANDBOX_CHARGER, TestCrypto};

pub(crate) const EMAIL_A: &str = "a@partner-a.example.com";
pub(crate) const EMAIL_B: &str = "b@partner-b.example.com";
const USCC_A: &str = "91440300708461136T";
const USCC_B: &str = "91110108551385082Q";
pub(crate) const SANDBOX_CONNECTOR: &str = "SBX0001-01-1";

/// Background work of the sessions service, on the test's runtime.
struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Task {
        Box::pin(tokio::time::sleep(duration))
    }

    fn log_warning(&self, message: String) {
        eprintln!("sessions: {message}");
    }
}

/// The console's test environment with the charging, events and settlement services on.
pub(crate) struct Portal {
    pub(crate) env: Env,
    pub(crate) state: ConsoleState,
    pub(crate) partners: Arc<PartnerService>,
    pub(crate) sessions: Arc<SessionService>,
    pub(crate) settlement: Arc<SettlementService>,
}

impl Portal {
    pub(crate) async fn new() -> Self {
        Self::with_config(ConsoleConfig {
            poll_interval: Duration::from_millis(100),
            ..ConsoleConfig::default()
        })
        .await
    }

    pub(crate) async fn with_config(config: ConsoleConfig) -> Self {
        let env = Env::with_config(config).await;
        env.gateway
            .connected
            .lock()
            .unwrap()
            .insert(SANDBOX_CHARGER.to_owned());
        let store = env.store.clone();
        let clock: Arc<dyn Clock> = env.clock.clone();
        let partners = Arc::new(PartnerService::new(
            Arc::new(store.clone()),
            Arc::new(TestCrypto),
            clock.clone(),
            Arc::new(UuidV7Ids),
            None,
            PartnerConfig::default(),
        ));
        let catalog = Arc::new(Catalog::new(
            Arc::new(store.clone()),
            clock.clone(),
            Catalog::DEFAULT_MAX_STALENESS,
        ));
        catalog.refresh().await.unwrap();
        let sessions = SessionService::new(
            SessionDeps {
                store: Arc::new(store.clone()),
                gateway: env.gateway.clone(),
                network: Arc::new(store.clone()),
                transactions: Arc::new(store.clone()),
                partners: Arc::new(store.clone()),
                catalog,
                clock: clock.clone(),
                ids: Arc::new(UuidV7Ids),
                runtime: Arc::new(TokioRuntime),
            },
            SessionConfig::default(),
        );
        let settlement = Arc::new(SettlementService::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            clock,
            Arc::new(UuidV7Ids),
            SettlementConfig::default(),
        ));
        let state = env.state.clone().with_services(Services {
            sessions: sessions.clone(),
            settlement: settlement.clone(),
            events: Arc::new(store.clone()),
            transactions: Arc::new(store.clone()),
        });
        Self {
            env,
            state,
            partners,
            sessions,
            settlement,
        }
    }

    pub(crate) fn router(&self) -> axum::Router {
        openpile_console::router(self.state.clone())
    }

    pub(crate) fn client(&self) -> Client {
        Client {
            app: self.router(),
            cookies: HashMap::new(),
        }
    }

    /// Applies through the portal as a new partner; returns its signed-in client and id.
    pub(crate) async fn sign_up(&self, email: &str, uscc: &str) -> (Client, PartnerId) {
        let mut p = self.client();
        let form = p.get("/portal/apply").await;
        let (csrf, nonce) = (form.hidden("csrf"), form.hidden("nonce"));
        let r = p
            .post(
                "/portal/apply",
                &application(
                    &csrf,
                    &nonce,
                    &[("email", email), ("unified_social_credit_code", uscc)],
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let account = self.partners.sign_in(email, PASSWORD).await.unwrap();
        (p, account.partner_id)
    }

    /// Approves the partner's application in the console (so it has a contract and
    /// statements).
    pub(crate) async fn approve(&self, partner: &PartnerId) {
        let app = self.partners.partner(partner).await.unwrap().application_id;
        let mut r = self.env.login(OperatorRole::Reviewer).await;
        let path = format!("/console/applications/{app}");
        let detail = r.get(&path).await;
        let (csrf, nonce) = (detail.hidden("csrf"), detail.hidden("nonce"));
        let ok = r
            .post(
                &format!("{path}/approve"),
                &[
                    ("csrf", csrf.as_str()),
                    ("nonce", nonce.as_str()),
                    ("scope_kind", "list"),
                    ("station_ids", "SH-0001"),
                    ("share_electricity", "0.1"),
                    ("share_service", "0.1"),
                    ("share_idle", "0.1"),
                    ("rps", "20"),
                    ("burst", "40"),
                    ("settlement_cycle", "monthly"),
                    ("scope", "stations:read"),
                    ("scope", "charging:write"),
                    ("scope", "settlement:write"),
                    ("revision", "1"),
                ],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    }

    /// A completed session of `partner` on the sandbox connector: started through the
    /// sessions service, then the charger's start and stop (`meter` Wh apart). Returns its id.
    pub(crate) async fn charge(&self, partner: &PartnerId, order: &str, meter: i64) -> String {
        self.env
            .charger_reports(SANDBOX_CHARGER, 1, ChargePointStatus::Available)
            .await;
        let caller = Caller {
            partner_id: partner.clone(),
            visibility: Visibility::Sandbox,
        };
        let started = self
            .sessions
            .start(
                &caller,
                StartRequest {
                    connector_id: SANDBOX_CONNECTOR.into(),
                    partner_order_id: order.into(),
                    user_ref: None,
                    reservation_id: None,
                    limit: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let id = started.session.id.to_string();
        let s = self.sessions.session(&caller, &id).await.unwrap();
        let now = self.env.clock.now();
        let charger = ChargerId::parse(SANDBOX_CHARGER).unwrap();
        let start = TransactionStart {
            charger_id: charger.clone(),
            connector: Some(ConnectorNumber::new(1).unwrap()),
            id_tag: s.id_tag.clone(),
            meter_start: Wh(100_000),
            started_at: now,
            reservation_id: None,
            received_at: now,
        };
        let recorded = self.env.store.start_transaction(&start).await.unwrap();
        self.sessions
            .on_transaction_started(&start, &recorded)
            .await
            .unwrap();
        self.env.clock.advance(TimeDelta::minutes(30));
        let later = self.env.clock.now();
        let stop = TransactionStop {
            charger_id: charger,
            transaction_id: recorded.transaction_id.get(),
            id_tag: Some(s.id_tag.clone()),
            meter_stop: Wh(100_000 + meter),
            stopped_at: later,
            reason: StopReason::Local,
            samples: Vec::new(),
            received_at: later,
        };
        let stopped = self.env.store.stop_transaction(&stop).await.unwrap();
        assert!(matches!(stopped, StopRecorded::Stopped(_)));
        self.sessions
            .on_transaction_stopped(&stopped)
            .await
            .unwrap();
        let done = self.sessions.session(&caller, &id).await.unwrap();
        assert_eq!(done.state.as_str(), "completed", "{done:?}");
        id
    }

    /// Signs `email` in to the portal (after the clock moved past an earlier session).
    pub(crate) async fn sign_in(&self, email: &str) -> Client {
        let mut p = self.client();
        let form = p.get("/portal/login").await;
        let csrf = form.hidden("csrf");
        let r = p
            .sign_in("/portal/login", &csrf, "/portal", email, PASSWORD)
            .await;
        assert_eq!(r.location(), "/portal", "{}", r.body);
        p
    }

    /// The partner's closed statement of the month `at` falls in (local time), built after
    /// the month ended. Returns its id.
    pub(crate) async fn statement(&self, partner: &PartnerId, at: DateTime<Utc>) -> String {
        let tz = self.settlement.config().time_zone;
        let period = at.with_timezone(&tz).format("%Y-%m").to_string();
        self.env.clock.advance(TimeDelta::days(32));
        let st = self
            .settlement
            .build("op-admin", partner, &period, true)
            .await
            .unwrap_or_else(|e| panic!("build {period}: {e}"));
        st.id.to_string()
    }

    pub(crate) fn sandbox_feed(partner: &PartnerId) -> FeedKey {
        FeedKey {
            partner_id: partner.clone(),
            environment: Environment::Sandbox,
        }
    }
}

/// A webhook form.
fn webhook_form<'a>(
    csrf: &'a str,
    nonce: &'a str,
    url: &'a str,
    types: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf", csrf),
        ("nonce", nonce),
        ("env", "sandbox"),
        ("url", url),
        ("enabled", "on"),
    ];
    f.extend(types.iter().map(|t| ("event_types", *t)));
    f
}

#[tokio::test]
async fn webhook_settings_are_validated_saved_tested_and_retried() {
    let portal = Portal::new().await;
    let (mut p, partner) = portal.sign_up(EMAIL_A, USCC_A).await;

    let page = p.get("/portal/webhook").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("未配置"));
    assert!(page.body.contains("暂无推送记录"));
    let (csrf, nonce) = (page.hidden("csrf"), page.hidden("nonce"));

    // Field errors, in Chinese then English; what was typed stays.
    let bad = p
        .post(
            "/portal/webhook",
            &webhook_form(&csrf, &nonce, "ftp://x", &[]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body
            .contains("请填写以 http:// 或 https:// 开头的完整地址")
    );
    assert!(bad.body.contains("请至少选择一种可订阅的事件类型"));
    assert!(bad.body.contains("id=\"err-url\""));
    assert!(bad.body.contains("value=\"ftp://x\""));
    let bad = p
        .post(
            "/portal/webhook?lang=en",
            &webhook_form(&csrf, &nonce, "http://127.0.0.1:9/h", &["webhook.test"]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body
            .contains("This address is private, loopback or reserved")
    );
    assert!(bad.body.contains("Choose at least one event type"));

    // Without the CSRF field nothing happens.
    let forged = p
        .post(
            "/portal/webhook",
            &webhook_form(
                "nope",
                &nonce,
                "https://hooks.example.com/x",
                &["session.completed"],
            ),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Saved: the signing secret is shown once; the same form again does nothing twice.
    let form = webhook_form(
        &csrf,
        &nonce,
        "https://hooks.example.com/openpile",
        &["session.completed", "connector.status_changed"],
    );
    let created = p.post("/portal/webhook", &form).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.body.contains("value=\"whsec_"));
    let again = p.post("/portal/webhook", &form).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let events = portal.env.store.clone();
    let feed = Portal::sandbox_feed(&partner);
    let stored = events.webhook(&feed).await.unwrap().unwrap();
    assert_eq!(stored.config.url, "https://hooks.example.com/openpile");
    assert_eq!(stored.config.event_types.len(), 2);

    // Updated: no secret this time (and back to Chinese).
    let page = p.get("/portal/webhook?lang=zh-CN").await;
    assert!(page.body.contains("推送中"), "{}", page.body);
    assert!(
        page.body
            .contains("value=\"https://hooks.example.com/openpile\"")
    );
    let nonce = page.hidden("nonce");
    let mut form = webhook_form(
        &csrf,
        &nonce,
        "https://hooks.example.com/v2",
        &["session.completed"],
    );
    form.retain(|(k, _)| *k != "enabled");
    let saved = p.post("/portal/webhook", &form).await;
    assert_eq!(saved.location(), "/portal/webhook?env=sandbox&done=saved");
    let stored = events.webhook(&feed).await.unwrap().unwrap();
    assert!(!stored.config.enabled);
    assert_eq!(stored.config.url, "https://hooks.example.com/v2");

    // On again, then a test delivery appears in the log; a worker's failed attempt shows its
    // status, latency and error; a retry queues it again.
    let page = p.get(saved.location()).await;
    assert!(page.body.contains("Webhook 设置已保存"));
    assert!(page.body.contains("已停用"));
    let nonce = page.hidden("nonce");
    let form = webhook_form(
        &csrf,
        &nonce,
        "https://hooks.example.com/v2",
        &["session.completed"],
    );
    let saved = p.post("/portal/webhook", &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = p.get(saved.location()).await;
    let test_nonce = page
        .body
        .split("action=\"/portal/webhook/test\"")
        .nth(1)
        .map(|rest| crate::support::hidden_value(rest, "nonce"))
        .unwrap();
    let tested = p
        .post(
            "/portal/webhook/test",
            &[("csrf", &csrf), ("nonce", &test_nonce), ("env", "sandbox")],
        )
        .await;
    assert_eq!(tested.location(), "/portal/webhook?env=sandbox&done=tested");
    let log = p.get(tested.location()).await;
    assert!(log.body.contains("webhook.test"));
    assert!(log.body.contains("data-state=\"pending\""));
    assert!(log.body.contains("尚未尝试"));

    let now = portal.env.clock.now();
    let claimed = events
        .claim_deliveries(&ClaimRequest {
            now: now + TimeDelta::seconds(1),
            limit: 10,
            lease: TimeDelta::seconds(60),
            per_webhook: 10,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let delivery_id = claimed[0].id;
    events
        .record_attempts(&[AttemptOutcome {
            delivery_id,
            attempt: DeliveryAttempt {
                at: now,
                status: Some(503),
                latency_ms: 87,
                error: Some("HTTP 503 from the endpoint".into()),
            },
            next: NextStep::Dead,
        }])
        .await
        .unwrap();
    let log = p.get("/portal/webhook?lang=en").await;
    assert!(log.body.contains("data-state=\"dead\""), "{}", log.body);
    assert!(log.body.contains("<td>503</td>"));
    assert!(log.body.contains("87 ms"));
    assert!(log.body.contains("HTTP 503 from the endpoint"));
    assert!(log.body.contains("Gave up"));
    let retry_path = format!("/portal/webhook/deliveries/{delivery_id}/retry");
    let retry_nonce = log
        .body
        .split(&format!("action=\"{retry_path}\""))
        .nth(1)
        .map(|rest| crate::support::hidden_value(rest, "nonce"))
        .unwrap();
    let retried = p
        .post(
            &retry_path,
            &[("csrf", &csrf), ("nonce", &retry_nonce), ("env", "sandbox")],
        )
        .await;
    assert_eq!(
        retried.location(),
        "/portal/webhook?env=sandbox&done=retried"
    );
    let log = p.get(retried.location()).await;
    assert!(log.body.contains(&format!(
        "data-delivery=\"{delivery_id}\" data-state=\"pending\""
    )));

    // A new signing secret, shown once; the old one keeps signing for the grace period.
    let nonce = log.hidden("nonce");
    let rotate_nonce = log
        .body
        .split("action=\"/portal/webhook/secret\"")
        .nth(1)
        .map(|rest| crate::support::hidden_value(rest, "nonce"))
        .unwrap_or(nonce);
    let before = events.webhook(&feed).await.unwrap().unwrap().secret;
    let rotated = p
        .post(
            "/portal/webhook/secret",
            &[
                ("csrf", &csrf),
                ("nonce", &rotate_nonce),
                ("env", "sandbox"),
            ],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let after = events.webhook(&feed).await.unwrap().unwrap();
    assert_ne!(after.secret, before);
    assert!(rotated.body.contains(after.secret.expose()));
    assert_eq!(after.previous_secret.as_ref(), Some(&before));

    // Production has no webhook for an applicant: it has no production credentials.
    assert_eq!(
        p.get("/portal/webhook?env=production").await.status,
        StatusCode::NOT_FOUND
    );
    let actions = portal.env.audit_actions().await;
    for a in [
        "partner_webhook.put",
        "partner_webhook.test",
        "partner_webhook.retry",
        "partner_webhook.rotate_secret",
    ] {
        assert!(actions.iter().any(|x| x == a), "no audit entry {a}");
    }
}

#[tokio::test]
async fn private_webhook_targets_follow_the_operator_setting() {
    let portal = Portal::with_config(ConsoleConfig {
        webhook_private_sandbox_targets: true,
        ..ConsoleConfig::default()
    })
    .await;
    let (mut p, partner) = portal.sign_up(EMAIL_A, USCC_A).await;
    let page = p.get("/portal/webhook").await;
    let (csrf, nonce) = (page.hidden("csrf"), page.hidden("nonce"));
    let r = p
        .post(
            "/portal/webhook",
            &webhook_form(
                &csrf,
                &nonce,
                "http://127.0.0.1:9/h",
                &["session.completed"],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stored = portal
        .env
        .store
        .webhook(&Portal::sandbox_feed(&partner))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.config.url, "http://127.0.0.1:9/h");
}

/// Reads SSE `data:` lines from a streaming body until one contains `needle`.
async fn read_until(
    body: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    needle: &str,
) -> String {
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "no {needle} in stream:\n{seen}");
    seen
}

#[tokio::test]
async fn the_live_view_streams_the_partners_own_events() {
    let portal = Portal::new().await;
    let (mut p, _) = portal.sign_up(EMAIL_A, USCC_A).await;

    let page = p.get("/portal/live").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"type-filter\""));
    let url = page
        .body
        .split("data-feed=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        url.starts_with("/portal/live/stream?env=sandbox&after="),
        "{url}"
    );

    // Without a session a stream is refused, not redirected.
    let anonymous = portal.client().get(&url).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let cookie = p
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let res = portal
        .router()
        .oneshot(
            Request::get(&url)
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = res.into_body().into_data_stream();

    // A sandbox connector changes: the partner's feed has the event, and the stream sends it.
    portal
        .env
        .charger_reports(SANDBOX_CHARGER, 1, ChargePointStatus::Preparing)
        .await;
    let seen = read_until(&mut body, "connector.status_changed").await;
    assert!(seen.contains("event: feed"));
    assert!(seen.contains(SANDBOX_CONNECTOR));

    // A test delivery shows too (it is never in the feed).
    let webhook = p.get("/portal/webhook").await;
    let (csrf, nonce) = (webhook.hidden("csrf"), webhook.hidden("nonce"));
    p.post(
        "/portal/webhook",
        &webhook_form(
            &csrf,
            &nonce,
            "https://hooks.example.com/x",
            &["session.completed"],
        ),
    )
    .await;
    let page = p.get("/portal/webhook").await;
    let test_nonce = page
        .body
        .split("action=\"/portal/webhook/test\"")
        .nth(1)
        .map(|rest| crate::support::hidden_value(rest, "nonce"))
        .unwrap();
    let r = p
        .post(
            "/portal/webhook/test",
            &[("csrf", &csrf), ("nonce", &test_nonce), ("env", "sandbox")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    read_until(&mut body, "webhook.test").await;

    // The page, opened again, lists both.
    let page = p.get("/portal/live").await;
    assert!(page.body.contains("data-type=\"connector.status_changed\""));
    assert!(page.body.contains("data-type=\"webhook.test\""));

    // Another partner's stream carries none of this partner's test deliveries.
    let (mut other, _) = portal.sign_up(EMAIL_B, USCC_B).await;
    let page = other.get("/portal/live").await;
    assert!(!page.body.contains("data-type=\"webhook.test\""));
}

#[tokio::test]
async fn sessions_and_cdrs_show_energy_cost_and_state() {
    let portal = Portal::new().await;
    let (mut p, partner) = portal.sign_up(EMAIL_A, USCC_A).await;
    let id = portal.charge(&partner, "ORD-1001", 12_345).await;

    let list = p.get("/portal/sessions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&id));
    assert!(list.body.contains("ORD-1001"));
    assert!(list.body.contains("12.345"));
    assert!(list.body.contains("已完成"));
    let failed = p.get("/portal/sessions?state=failed").await;
    assert!(!failed.body.contains(&id));
    assert!(failed.body.contains("没有符合条件的会话"));
    let bad = p
        .get("/portal/sessions?from=yesterday&state=nope&lang=en")
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Enter a date as YYYY-MM-DD."));
    assert!(bad.body.contains("Choose a state from the list."));
    let day = portal
        .env
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let today = p
        .get(&format!("/portal/sessions?from={day}&to={day}&lang=zh-CN"))
        .await;
    assert!(today.body.contains(&id), "{}", today.body);
    let reversed = p
        .get("/portal/sessions?from=2026-03-02&to=2026-03-01")
        .await;
    assert!(
        reversed.body.contains("结束日期不能早于开始日期"),
        "{}",
        reversed.body
    );

    let detail = p.get(&format!("/portal/sessions/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(detail.body.contains("12.345 kWh"));
    assert!(detail.body.contains("id=\"session-totals\""));
    assert!(detail.body.contains("电费"));
    assert!(detail.body.contains("/portal/cdrs/"));

    let cdrs = p.get("/portal/cdrs").await;
    assert_eq!(cdrs.status, StatusCode::OK, "{}", cdrs.body);
    assert!(cdrs.body.contains(&id));
    let cdr_id = cdrs
        .body
        .split("href=\"/portal/cdrs/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cdr = p.get(&format!("/portal/cdrs/{cdr_id}")).await;
    assert_eq!(cdr.status, StatusCode::OK, "{}", cdr.body);
    assert!(cdr.body.contains("12.345 kWh"));
    assert!(cdr.body.contains("ORD-1001"));
}

#[tokio::test]
async fn a_statement_takes_a_csv_report_and_shows_the_reconciliation() {
    let portal = Portal::new().await;
    let (_, partner) = portal.sign_up(EMAIL_A, USCC_A).await;
    portal.approve(&partner).await;
    let at = portal.env.clock.now();
    let s1 = portal.charge(&partner, "ORD-1", 10_000).await;
    portal.charge(&partner, "ORD-2", 20_000).await;
    let st = portal.statement(&partner, at).await;
    let mut p = portal.sign_in(EMAIL_A).await;

    let list = p.get("/portal/statements").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&st));
    let path = format!("/portal/statements/{st}");
    let page = p.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("ORD-1") && page.body.contains("ORD-2"));
    assert!(page.body.contains("佣金"));
    assert!(page.body.contains("应付运营商"));
    assert!(page.body.contains("30.000 kWh"));
    let (csrf, nonce) = (page.hidden("csrf"), page.hidden("nonce"));
    let action = format!("{path}/report");

    // Errors name the line and the field; nothing is stored; the CSV stays in the form.
    let bad_csv =
        "order_id,session_id,energy_kwh,amount\nORD-1,,10.000,1.005\nORD-2,,-1,2.00\nTOTAL,,9,3\n";
    let bad = p
        .post(
            &action,
            &[("csrf", &csrf), ("nonce", &nonce), ("csv", bad_csv)],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("行 2 · <code>amount</code>"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("行 3 · <code>energy_kwh</code>"));
    assert!(bad.body.contains("报告有错误"));
    assert!(bad.body.contains("ORD-2,,-1,2.00"));
    let structural = p
        .post(
            &format!("{action}?lang=en"),
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                (
                    "csv",
                    "order_id,session_id,energy_kwh,amount\nORD-1,,10.000,1.00\n",
                ),
            ],
        )
        .await;
    assert_eq!(structural.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(structural.body.contains("Line 2 · <code>order_id</code>"));
    assert!(
        structural
            .body
            .contains("The report has errors, listed by line above.")
    );
    let empty = p
        .post(
            &format!("{action}?lang=zh-CN"),
            &[("csrf", &csrf), ("nonce", &nonce), ("csv", "  ")],
        )
        .await;
    assert!(empty.body.contains("请选择 CSV 文件或粘贴 CSV 内容"));
    assert_eq!(
        portal
            .settlement
            .statement(Some(&partner), &st)
            .await
            .unwrap()
            .state
            .as_str(),
        "draft"
    );

    // A report with one amount off: accepted, reconciled as disputed, differences per order.
    let lines = portal
        .settlement
        .statement_lines(
            Some(&partner),
            &st,
            &openpile_core::page::PageRequest::first(10),
        )
        .await
        .unwrap();
    let amount = |order: &str| {
        let l = lines
            .items
            .iter()
            .find(|l| l.cdr.partner_order_id == order)
            .unwrap();
        l.cdr.total.amount()
    };
    let a1 = amount("ORD-1");
    let a2 = amount("ORD-2") + rust_decimal::Decimal::new(100, 2);
    let csv = format!(
        "order_id,session_id,energy_kwh,amount\r\nORD-1,{s1},10.000,{a1:.2}\r\nORD-2,,20.000,{a2:.2}\r\nTOTAL,,30.000,{:.2}\r\n",
        a1 + a2
    );
    let ok = p
        .post(
            &action,
            &[("csrf", &csrf), ("nonce", &nonce), ("csv", &csv)],
        )
        .await;
    assert_eq!(
        ok.location(),
        format!("{path}?done=reported"),
        "{}",
        ok.body
    );
    // The same form again is not a second report.
    let again = p
        .post(
            &action,
            &[("csrf", &csrf), ("nonce", &nonce), ("csv", &csv)],
        )
        .await;
    assert_eq!(again.location(), format!("{path}?done=reported"));
    assert_eq!(
        portal
            .settlement
            .reports(Some(&partner), &st)
            .await
            .unwrap()
            .len(),
        1
    );
    let rec = p.get(ok.location()).await;
    assert!(rec.body.contains("发现差异"), "{}", rec.body);
    assert!(rec.body.contains("id=\"reconciliation\""));
    assert!(
        rec.body
            .contains("<tr data-category=\"matched\"><th scope=\"row\"><a href")
    );
    let count = |cat: &str| {
        rec.body
            .split(&format!("data-category=\"{cat}\""))
            .nth(1)
            .and_then(|s| s.split("data-count>").nth(1))
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_owned()
    };
    assert_eq!(count("matched"), "1");
    assert_eq!(count("amount_mismatch"), "1");
    assert!(rec.body.contains("id=\"rec-difference\">1.00 CNY"));
    assert!(rec.body.contains("data-item=\"amount_mismatch\""));
    let only = p.get(&format!("{path}?category=amount_mismatch")).await;
    assert!(only.body.contains("data-item=\"amount_mismatch\""));
    assert!(!only.body.contains("data-item=\"matched\""));
    assert!(
        portal
            .env
            .audit_actions()
            .await
            .iter()
            .any(|a| a == "statement.report_upload")
    );
}

#[tokio::test]
async fn another_partners_things_are_not_found() {
    let portal = Portal::new().await;
    let (_, pa) = portal.sign_up(EMAIL_A, USCC_A).await;
    portal.sign_up(EMAIL_B, USCC_B).await;
    portal.approve(&pa).await;
    let at = portal.env.clock.now();
    let session = portal.charge(&pa, "ORD-A", 5_000).await;
    let st = portal.statement(&pa, at).await;
    let mut a = portal.sign_in(EMAIL_A).await;
    let mut b = portal.sign_in(EMAIL_B).await;
    // Partner A's webhook and a test delivery.
    let page = a.get("/portal/webhook").await;
    let (csrf, nonce) = (page.hidden("csrf"), page.hidden("nonce"));
    a.post(
        "/portal/webhook",
        &webhook_form(
            &csrf,
            &nonce,
            "https://hooks.example.com/a",
            &["session.completed"],
        ),
    )
    .await;
    let delivery = portal
        .env
        .store
        .queue_test_delivery(
            &Portal::sandbox_feed(&pa),
            &openpile_core::event::Event::new(
                openpile_core::event::EventData::WebhookTest {
                    partner_id: pa.clone(),
                    data: openpile_core::event::WebhookTestData {
                        message: "t".into(),
                        requested_at: at,
                    },
                },
                at,
            ),
        )
        .await
        .unwrap();

    let cdr_id = a
        .get("/portal/cdrs")
        .await
        .body
        .split("href=\"/portal/cdrs/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    for path in [
        format!("/portal/sessions/{session}"),
        format!("/portal/cdrs/{cdr_id}"),
        format!("/portal/statements/{st}"),
    ] {
        assert_eq!(a.get(&path).await.status, StatusCode::OK, "{path}");
        assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    for list in ["/portal/sessions", "/portal/cdrs", "/portal/statements"] {
        let r = b.get(list).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            !r.body.contains(&session) && !r.body.contains(&st),
            "{list}"
        );
    }
    let bpage = b.get("/portal/webhook").await;
    assert!(!bpage.body.contains("webhook.test"));
    assert!(!bpage.body.contains("hooks.example.com/a"));
    let (csrf, nonce) = (bpage.hidden("csrf"), bpage.hidden("nonce"));
    let retry = b
        .post(
            &format!("/portal/webhook/deliveries/{}/retry", delivery.id),
            &[("csrf", &csrf), ("nonce", &nonce), ("env", "sandbox")],
        )
        .await;
    assert_eq!(retry.status, StatusCode::NOT_FOUND);
    let report = b
        .post(
            &format!("/portal/statements/{st}/report"),
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("csv", "order_id,session_id,energy_kwh,amount\nTOTAL,,0,0\n"),
            ],
        )
        .await;
    assert_eq!(report.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_session_returns_to_login_and_then_to_the_page() {
    let portal = Portal::new().await;
    let (mut p, _) = portal.sign_up(EMAIL_A, USCC_A).await;
    let page = p.get("/portal/webhook").await;
    let (csrf, nonce) = (page.hidden("csrf"), page.hidden("nonce"));
    portal.env.clock.advance(TimeDelta::hours(9));

    let r = p.get("/portal/statements?state=draft").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location(),
        "/portal/login?next=/portal/statements%3Fstate%3Ddraft"
    );
    // A form posted after expiry changes nothing and leads back to its page.
    let posted = p
        .post(
            "/portal/webhook",
            &webhook_form(
                &csrf,
                &nonce,
                "https://hooks.example.com/x",
                &["session.completed"],
            ),
        )
        .await;
    assert_eq!(posted.location(), "/portal/login?next=/portal/webhook");

    let login = p.get(posted.location()).await;
    assert_eq!(login.status, StatusCode::OK);
    let csrf = login.hidden("csrf");
    let back = p
        .sign_in("/portal/login", &csrf, "/portal/webhook", EMAIL_A, PASSWORD)
        .await;
    assert_eq!(back.location(), "/portal/webhook");
    assert_eq!(p.get("/portal/webhook").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_portal_page_links_the_api_docs_and_the_guide() {
    let portal = Portal::new().await;
    let mut anonymous = portal.client();
    for path in ["/portal", "/portal/login", "/portal/apply", "/portal/guide"] {
        let r = anonymous.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.contains("href=\"/docs\""), "{path}");
        assert!(r.body.contains("href=\"/portal/guide\""), "{path}");
    }
    let guide = anonymous.get("/portal/guide?lang=en").await;
    assert!(
        guide
            .body
            .contains("<h1>Getting started with the OpenPile Open API</h1>")
    );
    assert!(guide.body.contains("<pre class=\"code\"><code>"));

    let (mut p, _) = portal.sign_up(EMAIL_A, USCC_A).await;
    for path in [
        "/portal",
        "/portal/webhook",
        "/portal/live",
        "/portal/sessions",
        "/portal/cdrs",
        "/portal/statements",
        "/portal/guide",
    ] {
        let r = p.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert!(r.body.contains("href=\"/docs\""), "{path}");
        assert!(r.body.contains("href=\"/portal/guide\""), "{path}");
        assert!(
            r.body
                .contains(&format!("href=\"{path}\" aria-current=\"page\"")),
            "{path} is not marked current"
        );
    }
}
