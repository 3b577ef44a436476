//! Charging control end to end (issue 5): partners start, watch and stop sessions over the real
//! Open API, on simulated chargers (`openpile-sim`) speaking real OCPP 1.6J to the same server.
//! Every failure reason, limits, chargers that fault, drop off and come back (or never do),
//! a server restart in the middle, sessions started at the charger, and two partners racing
//! for one connector.
//!
//! Timeouts are shortened by configuration. Outcomes are awaited by polling the API (or the
//! simulator's state) with a deadline; nothing sleeps to wait.

use std::net::SocketAddr;
use std::time::Duration;

use openpile_core::charging::TransactionId;
use openpile_core::charging::{LocalIdTag, TagStatus};
use openpile_core::ids::ConnectorId;
use openpile_core::operator::{Email, OperatorRole};
use openpile_core::sessions::model::SessionOrigin;
use openpile_server::config::Config;
use openpile_server::startup::{Application, Shared};
use openpile_sim::{
    Behaviour, BootStatus, RemoteStartPolicy, SimCharger, SimHandle, chargers_from_network_json,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The longest any outcome is waited for.
pub const WAIT: Duration = Duration::from_secs(20);
const DEMO_NETWORK: &str = include_str!("../../../../demo/network.json");
const PASSWORD: &str = "correct horse battery staple";
/// A tag of the operator's own (RFID card).
const CARD: &str = "STAFF-CARD-1";

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// Asserts a problem with this status and code; returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.body["code"], code, "{:#}", self.body);
        assert_eq!(self.body["type"], format!("urn:openpile:problem:{code}"));
        assert!(self.body["request_id"].is_string(), "{:#}", self.body);
        &self.body
    }
}

/// A partner with a production token (scope: every station, generous rate limit).
#[derive(Debug, Clone)]
pub struct Partner {
    pub id: String,
    pub token: String,
}

/// A server on 127.0.0.1 with the demo network in a SQLite file that outlives restarts.
pub struct Env {
    pub base: String,
    pub ocpp: String,
    pub http: reqwest::Client,
    pub shared: Shared,
    addr: SocketAddr,
    config: Config,
    operator: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// Test timings: one-second charger answers, two-second start timeout, a fast sweep.
pub fn fast_config(c: &mut Config) {
    c.ocpp.call_timeout_s = 1;
    c.charging.start_timeout_s = 2;
    c.charging.connection_lost_timeout_s = 30;
    c.charging.max_reservation_s = 120;
    c.charging.stop_retry_s = 1;
    c.charging.update_event_interval_s = 0;
    c.charging.meter_write_interval_s = 0;
    c.charging.sweep_interval_ms = 50;
    c.events.delivery_worker = false;
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    /// A server with [`fast_config`] and then `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults();
        config.http.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.db.url = format!("sqlite://{}", dir.path().join("openpile.db").display()).into();
        fast_config(&mut config);
        tweak(&mut config);
        config.validate().unwrap();
        let app = Application::build(config.clone()).await.unwrap();
        let shared = app.shared().clone();
        openpile_server::demo::import_network(&shared.stores)
            .await
            .unwrap();
        shared
            .stores
            .transactions
            .put_local_id_tag(&LocalIdTag {
                id_tag: CARD.into(),
                status: TagStatus::Accepted,
                expires_at: None,
                parent_id_tag: None,
            })
            .await
            .unwrap();
        let addr = app.local_addr();
        config.http.addr = addr;
        let operator = operator_token(&shared).await;
        let mut env = Env {
            base: format!("http://{addr}"),
            ocpp: format!("ws://{addr}/ocpp"),
            http: reqwest::Client::new(),
            shared,
            addr,
            config,
            operator,
            stop: None,
            task: None,
            _dir: dir,
        };
        env.serve(app);
        env
    }

    fn serve(&mut self, app: Application) {
        let (stop, stopped) = oneshot::channel::<()>();
        self.task = Some(tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        }));
        self.stop = Some(stop);
    }

    /// Stops the server gracefully (chargers lose their connections) and starts a new one on
    /// the same address and database.
    pub async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let app = Application::build(self.config.clone()).await.unwrap();
        assert_eq!(app.local_addr(), self.addr);
        self.shared = app.shared().clone();
        self.serve(app);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Applies as partner `n`, is approved for every station and gets a production token.
    pub async fn partner(&self, n: u32) -> Partner {
        let r = self
            .http
            .post(self.url("/v1/partner-applications"))
            .json(&application(n))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let app_id = body["application"]["id"].as_str().unwrap().to_string();
        let partner_id = body["application"]["partner_id"]
            .as_str()
            .unwrap()
            .to_string();
        let approved = self
            .post(
                &format!("/admin/v1/partner-applications/{app_id}/approve"),
                &self.operator,
                json!({"contract": {
                    "station_scope": {"kind": "all"},
                    "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                    "rate_limit": {"requests_per_second": 100000, "burst": 100000},
                    "settlement_cycle": "monthly"
                }}),
            )
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
        let client_id = approved.body["production_client_id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .http
            .post(self.url("/v1/credentials/rotate"))
            .basic_auth(email(n), Some(PASSWORD))
            .json(&json!({"client_id": client_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let secret = r.json::<Value>().await.unwrap()["client_secret"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        Partner {
            id: partner_id,
            token,
        }
    }

    /// Suspends a partner through the admin API.
    pub async fn suspend(&self, partner: &Partner) {
        let r = self
            .post(
                &format!("/admin/v1/partners/{}/suspend", partner.id),
                &self.operator,
                json!({"reason": "unpaid statements"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    }

    /// Connects a simulated demo charger and waits until it booted and reported its
    /// connectors.
    pub async fn charger(&self, id: &str, behaviour: Behaviour) -> SimHandle {
        let c = chargers_from_network_json(DEMO_NETWORK)
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap();
        let n = c.connectors.len();
        let h = SimCharger::spawn(
            &self.ocpp,
            &c.id,
            c.password.as_deref(),
            c.connectors,
            behaviour,
        )
        .unwrap();
        settle(&h).await;
        for k in 1..=n {
            self.wait_connector(&format!("{id}-{k}"), |s| s != "offline")
                .await;
        }
        h
    }

    /// Waits until the stored status of a connector satisfies `pred`.
    pub async fn wait_connector(&self, id: &str, pred: impl Fn(&str) -> bool) -> String {
        let cid = ConnectorId::parse(id).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let view = self
                .shared
                .stores
                .network
                .get_connector(&cid)
                .await
                .unwrap();
            let status = view.state.status.as_str().to_string();
            if pred(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "connector {id} stayed {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls a session until `pred` holds; returns it.
    pub async fn wait_session(
        &self,
        token: &str,
        id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self.get(&format!("/v1/sessions/{id}"), token).await;
            assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
            if pred(&r.body) {
                return r.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session {id}: {what} never happened: {:#}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Starts a session and returns it (`202` or `201`).
    pub async fn start_session(&self, p: &Partner, connector: &str, order: &str) -> Value {
        let r = self
            .post(
                "/v1/sessions",
                &p.token,
                json!({"connector_id": connector, "partner_order_id": order}),
            )
            .await;
        assert!(
            matches!(r.status.as_u16(), 201 | 202),
            "start failed: {:#}",
            r.body
        );
        r.body
    }

    /// Types of the partner's events about `subject`, oldest first.
    pub async fn event_types(&self, p: &Partner, subject: &str) -> Vec<String> {
        let r = self.get("/v1/events?limit=1000", &p.token).await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        r.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["subject"] == subject)
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn operator_token(shared: &Shared) -> String {
    let now = chrono::Utc::now();
    let id = "op-reviewer";
    shared
        .stores
        .operators
        .create_operator(
            id,
            &Email::parse("reviewer@openpile.test").unwrap(),
            OperatorRole::Admin,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            now,
        )
        .await
        .unwrap();
    let (token, sha) = openpile_secrets::new_token();
    shared
        .stores
        .operators
        .create_operator_token(&sha, id, now, now + chrono::TimeDelta::days(1))
        .await
        .unwrap();
    token
}

/// A valid unified social credit code (GB 32100-2015) for applicant `n`.
fn uscc(n: u32) -> String {
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let body = format!("91310115MA{n:07}");
    let sum: usize = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = CHARSET.iter().position(|&c| c == b).unwrap();
            v * 3usize.pow(u32::try_from(i).unwrap()) % 31
        })
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", char::from(CHARSET[check]))
}

fn email(n: u32) -> String {
    format!("partner{n}@example.com")
}

fn application(n: u32) -> Value {
    json!({
        "company_name": format!("出行平台{n}有限公司"),
        "unified_social_credit_code": uscc(n),
        "legal_representative": "王五",
        "contact_name": "李四",
        "mobile": "+86 138 0013 8000",
        "email": email(n),
        "password": PASSWORD,
        "website": "https://example.com",
        "intended_use": "展示充电站并启动充电",
        "expected_monthly_volume": 1000,
        "callback_base_url": "https://partner.example.com/hooks"
    })
}

/// A charger that meters every 200 ms and reconnects at once.
pub fn fast() -> Behaviour {
    Behaviour {
        meter_interval: Duration::from_millis(200),
        reconnect_delay: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        reboot_delay: Duration::from_millis(50),
        transaction_message_retry: Duration::from_millis(200),
        ..Behaviour::default()
    }
}

/// Waits until the charger is connected again after a server restart and delivered what it
/// queued. (Not [`settle`]: a CALL in flight when the server stopped is never answered.)
pub async fn reconnected(h: &SimHandle) {
    h.wait_until("reconnected", WAIT, |s| {
        s.connected
            && s.connects >= 2
            && s.boot == BootStatus::Accepted
            && s.queued_transaction_messages == 0
    })
    .await
    .unwrap();
}

/// Waits until the charger is booted, online and every CALL it sent was answered.
pub async fn settle(h: &SimHandle) {
    h.wait_until("settled", WAIT, |s| {
        s.connected
            && s.boot == BootStatus::Accepted
            && s.calls_sent == s.results_received
            && s.queued_transaction_messages == 0
    })
    .await
    .unwrap();
}

/// An amount string with two decimals (`"12.34"`), in fen.
fn money(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    let (yuan, fen) = s.split_once('.').unwrap();
    assert_eq!(fen.len(), 2, "{s}");
    yuan.parse::<i64>().unwrap() * 100 + fen.parse::<i64>().unwrap()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

// ---- start, watch, stop ----------------------------------------------------------------------

#[tokio::test]
async fn a_session_starts_charges_is_metered_stops_and_completes_with_its_cost_per_segment() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-01", fast()).await;

    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-01-1", "partner_order_id": "ORD-1",
                   "user_ref": "u-1", "wait_s": 10}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["status"], "charging");
    let sid = id(&r.body);
    assert!(r.body["accepted_at"].is_string() && r.body["started_at"].is_string());
    assert_eq!(r.body["user_ref"], "u-1");

    // Meter values: energy, power and a running cost estimate (120 kW: 30 Wh within a second).
    let metered = env
        .wait_session(&p.token, &sid, "metered", |s| {
            s["energy_wh"].as_i64().unwrap() >= 30 && s["cost"].is_object()
        })
        .await;
    assert!(metered["power_w"].as_i64().unwrap() > 0, "{metered:#}");
    assert_eq!(metered["cost"]["final"], false);
    assert_eq!(metered["charger_offline"], false);

    let r = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    assert!(
        matches!(r.body["status"].as_str(), Some("stopping" | "completed")),
        "{:#}",
        r.body
    );
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "remote");
    assert_eq!(done["stop_requested_by"], "partner");

    // The energy is the charger's: its meter stop minus its meter start.
    let tx = env
        .shared
        .stores
        .transactions
        .transaction_of_session(&openpile_core::ids::SessionId::parse(&sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    let energy = tx.energy().unwrap().0;
    assert!(energy > 0);
    assert_eq!(done["energy_wh"], energy);
    let cost = &done["cost"];
    assert_eq!(cost["final"], true);
    assert_eq!(cost["currency"], "CNY");
    assert_eq!(cost["tariff_id"], "T-SH-TOU");
    let segments = cost["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    let sum_energy: i64 = segments
        .iter()
        .map(|l| l["energy_wh"].as_i64().unwrap())
        .sum();
    assert_eq!(sum_energy, energy);
    let fees: i64 = segments
        .iter()
        .map(|l| money(&l["electricity_fee"]) + money(&l["service_fee"]))
        .sum();
    assert_eq!(fees + money(&cost["idle_fee"]), money(&cost["total"]));
    assert!(money(&cost["total"]) > 0);

    // Exactly one CDR, written with the completion, with the same figures.
    let cdr = env
        .shared
        .stores
        .settlement
        .get_cdr(&openpile_core::settlement::cdr::CdrId::for_session(
            &openpile_core::ids::SessionId::parse(&sid).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(cdr.energy.0, energy);
    assert_eq!(
        format!("{:.2}", cdr.total.amount()),
        cost["total"].as_str().unwrap()
    );
    assert_eq!(cdr.partner_order_id.as_deref(), Some("ORD-1"));

    // The partner learnt every step as events, in order.
    let types = env.event_types(&p, &format!("session:{sid}")).await;
    assert_eq!(types.first().map(String::as_str), Some("session.starting"));
    assert_eq!(types.get(1).map(String::as_str), Some("session.started"));
    assert_eq!(types.last().map(String::as_str), Some("session.completed"));
    assert!(types.iter().any(|t| t == "session.updated"), "{types:?}");
    let r = env
        .get("/v1/events?types=session.completed", &p.token)
        .await;
    let completed = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == format!("session:{sid}"))
        .unwrap()
        .clone();
    assert_eq!(completed["data"]["energy_wh"], energy);
    assert_eq!(completed["data"]["stop_reason"], "remote");
    assert_eq!(completed["data"]["cost"]["total"], cost["total"]);
    assert_eq!(
        completed["data"]["cost"]["segments"]
            .as_array()
            .unwrap()
            .len(),
        segments.len()
    );
    cp.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_same_order_is_the_same_session_and_different_content_is_a_conflict() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    let body = json!({"connector_id": "SH0101-04-1", "partner_order_id": "ORD-7",
                      "limit": {"energy_wh": 50000}});
    let first = env.post("/v1/sessions", &p.token, body.clone()).await;
    assert!(
        matches!(first.status.as_u16(), 201 | 202),
        "{:#}",
        first.body
    );
    let again = env.post("/v1/sessions", &p.token, body).await;
    assert_eq!(again.status, StatusCode::OK, "{:#}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    let other = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "ORD-7",
                   "limit": {"energy_wh": 60000}}),
        )
        .await;
    let problem = other.problem(409, "order_conflict");
    assert_eq!(problem["session_id"], first.body["id"]);
    // Nothing else was started.
    let list = env.get("/v1/sessions", &p.token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_refusal_before_the_charger_is_asked_has_its_code() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-01", fast()).await;

    // Unknown connector, and a sandbox connector for production credentials.
    for c in ["NOPE-1", "SH0901-01-1"] {
        env.post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": c, "partner_order_id": format!("o-{c}")}),
        )
        .await
        .problem(404, "connector_not_found");
    }
    // A charger that never connected.
    env.post(
        "/v1/sessions",
        &p.token,
        json!({"connector_id": "SH0102-01-1", "partner_order_id": "o-offline"}),
    )
    .await
    .problem(409, "charger_offline");
    // A faulted connector.
    cp.fault(2, "GroundFailure").await.unwrap();
    env.wait_connector("SH0101-01-2", |s| s == "faulted").await;
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-01-2", "partner_order_id": "o-faulted"}),
        )
        .await;
    assert_eq!(
        r.problem(409, "connector_unavailable")["connector_status"],
        "faulted"
    );
    // Invalid limits name the field.
    for (limit, field) in [
        (json!({"energy_wh": 1000, "duration_s": 60}), "limit"),
        (json!({"amount": "1.234"}), "limit.amount"),
        (json!({"energy_wh": 0}), "limit.energy_wh"),
        (json!({"duration_s": "long"}), "limit.duration_s"),
    ] {
        let r = env
            .post(
                "/v1/sessions",
                &p.token,
                json!({"connector_id": "SH0101-01-1", "partner_order_id": "o-limit",
                       "limit": limit}),
            )
            .await;
        assert_eq!(r.problem(422, "limit_invalid")["field"], field);
    }
    // None of these recorded a session.
    let list = env.get("/v1/sessions", &p.token).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    // A suspended partner's token stops working at once.
    env.suspend(&p).await;
    env.post(
        "/v1/sessions",
        &p.token,
        json!({"connector_id": "SH0101-01-1", "partner_order_id": "o-suspended"}),
    )
    .await
    .problem(401, "partner_suspended");
}

#[tokio::test]
async fn a_connector_in_use_is_unavailable_with_its_status() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    let s = env.start_session(&p, "SH0101-04-1", "o-1").await;
    env.wait_session(&p.token, &id(&s), "charging", |s| s["status"] == "charging")
        .await;
    env.wait_connector("SH0101-04-1", |s| s == "charging").await;
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-2"}),
        )
        .await;
    assert_eq!(
        r.problem(409, "connector_unavailable")["connector_status"],
        "charging"
    );
}

#[tokio::test]
async fn a_charger_that_rejects_fails_the_session_with_charger_rejected() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env
        .charger(
            "SH0101-04",
            Behaviour {
                remote_start: RemoteStartPolicy::Reject,
                ..fast()
            },
        )
        .await;
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-rej"}),
        )
        .await;
    let sid = r.problem(409, "charger_rejected")["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = env.get(&format!("/v1/sessions/{sid}"), &p.token).await;
    assert_eq!(s.body["status"], "failed");
    assert_eq!(s.body["failure"]["code"], "charger_rejected");
    assert_eq!(
        env.event_types(&p, &format!("session:{sid}")).await,
        ["session.failed"]
    );
    // The same order gets the same answer; the connector is free for a new one.
    env.post(
        "/v1/sessions",
        &p.token,
        json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-rej"}),
    )
    .await
    .problem(409, "charger_rejected");
    cp.set_remote_start_policy(RemoteStartPolicy::Accept)
        .await
        .unwrap();
    env.start_session(&p, "SH0101-04-1", "o-ok").await;
}

#[tokio::test]
async fn a_charger_that_does_not_answer_fails_the_session_with_charger_timeout() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _cp = env
        .charger(
            "SH0101-04",
            Behaviour {
                remote_start: RemoteStartPolicy::Ignore,
                ..fast()
            },
        )
        .await;
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-silent"}),
        )
        .await;
    let sid = r.problem(504, "charger_timeout")["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = env.get(&format!("/v1/sessions/{sid}"), &p.token).await;
    assert_eq!(s.body["failure"]["code"], "charger_timeout");
}

#[tokio::test]
async fn no_cable_means_start_timeout_on_the_session_and_for_a_waiting_reply() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env
        .charger(
            "SH0101-01",
            Behaviour {
                plug_on_remote_start: false,
                connection_timeout: Duration::from_secs(30),
                ..fast()
            },
        )
        .await;
    // Without waiting: 202 starting, then failed by our timer.
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-01-1", "partner_order_id": "o-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    assert_eq!(r.body["status"], "starting");
    let sid = id(&r.body);
    let failed = env
        .wait_session(&p.token, &sid, "start timeout", |s| s["status"] == "failed")
        .await;
    assert_eq!(failed["failure"]["code"], "start_timeout");
    // Waiting for the outcome: the reply is the failure.
    let r = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-01-2", "partner_order_id": "o-2", "wait_s": 15}),
        )
        .await;
    r.problem(409, "start_timeout");
    // A cable plugged in after we gave up: the charger's late start is refused and stopped.
    cp.plug(1).await.unwrap();
    cp.wait_until("no session", WAIT, |s| {
        s.connector(1).is_some_and(|c| !c.in_session)
    })
    .await
    .unwrap();
    assert!(
        env.event_types(&p, &format!("session:{sid}"))
            .await
            .ends_with(&["session.failed".to_string()])
    );
}

#[tokio::test]
async fn limits_are_enforced_by_stopping_the_session() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _a = env.charger("SH0101-01", fast()).await;
    let _b = env.charger("SH0101-02", fast()).await;
    let cases = [
        ("SH0101-01-1", json!({"energy_wh": 30}), "energy_limit"),
        ("SH0101-01-2", json!({"amount": "0.01"}), "amount_limit"),
        ("SH0101-02-1", json!({"duration_s": 1}), "duration_limit"),
    ];
    let mut ids = Vec::new();
    for (i, (connector, limit, _)) in cases.iter().enumerate() {
        let r = env
            .post(
                "/v1/sessions",
                &p.token,
                json!({"connector_id": connector, "partner_order_id": format!("o-{i}"),
                       "limit": limit}),
            )
            .await;
        assert!(matches!(r.status.as_u16(), 201 | 202), "{:#}", r.body);
        ids.push(id(&r.body));
    }
    for (sid, (_, limit, reason)) in ids.iter().zip(&cases) {
        let done = env
            .wait_session(&p.token, sid, "stopped by its limit", |s| {
                s["status"] == "completed"
            })
            .await;
        assert_eq!(done["stop_reason"], *reason, "{done:#}");
        assert_eq!(done["stop_requested_by"], "limit");
        assert_eq!(done["limit"], *limit);
        match *reason {
            "energy_limit" => assert!(done["energy_wh"].as_i64().unwrap() >= 30),
            "amount_limit" => {
                assert!(money(&done["cost"]["total"]) >= 1);
            }
            _ => assert!(done["duration_s"].as_i64().unwrap() >= 1),
        }
    }
}

// ---- interruptions ---------------------------------------------------------------------------

/// Starts a session on connector 1 of `cp` and waits until it is metered.
async fn charging(env: &Env, p: &Partner, connector: &str, order: &str) -> String {
    let s = env.start_session(p, connector, order).await;
    let sid = id(&s);
    env.wait_session(&p.token, &sid, "metered", |s| {
        s["status"] == "charging" && s["energy_wh"].as_i64().unwrap() > 0
    })
    .await;
    sid
}

#[tokio::test]
async fn a_charger_gone_offline_marks_the_session_and_its_queued_stop_completes_it() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-04", fast()).await;
    let sid = charging(&env, &p, "SH0101-04-1", "o-1").await;

    cp.go_offline().await.unwrap();
    let offline = env
        .wait_session(&p.token, &sid, "marked offline", |s| {
            s["charger_offline"] == true
        })
        .await;
    assert_eq!(offline["status"], "charging");
    assert!(offline["charger_offline_since"].is_string());
    // The driver stops at the charger while it is offline: the stop is queued there.
    cp.stop_local(1).await.unwrap();
    let queued = cp
        .wait_until("stop queued", WAIT, |s| s.queued_transaction_messages > 0)
        .await
        .unwrap();
    assert!(queued.connector(1).is_some_and(|c| !c.in_session));
    cp.come_online().await.unwrap();
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "local");
    assert_eq!(done["charger_offline"], false);
    assert_eq!(done["review_required"], false);
    let tx = env
        .shared
        .stores
        .transactions
        .transaction_of_session(&openpile_core::ids::SessionId::parse(&sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done["energy_wh"], tx.energy().unwrap().0);
    assert_eq!(
        done["stopped_at"].as_str().unwrap(),
        tx.stopped_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
}

#[tokio::test]
async fn a_charger_that_never_comes_back_closes_the_session_as_connection_lost() {
    let env = Env::start_with(|c| c.charging.connection_lost_timeout_s = 1).await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-04", fast()).await;
    let sid = charging(&env, &p, "SH0101-04-1", "o-1").await;
    cp.go_offline().await.unwrap();
    let done = env
        .wait_session(&p.token, &sid, "closed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "connection_lost");
    assert_eq!(done["review_required"], true);
    // Priced on the last meter value we had.
    assert!(done["energy_wh"].as_i64().unwrap() > 0);
    assert_eq!(done["cost"]["final"], true);
    assert_eq!(done["cost"]["energy_wh"], done["energy_wh"], "{done:#}");
    assert!(
        env.event_types(&p, &format!("session:{sid}"))
            .await
            .ends_with(&["session.completed".to_string()])
    );
}

#[tokio::test]
async fn a_fault_during_charging_completes_the_session_with_the_chargers_reason() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-04", fast()).await;
    let sid = charging(&env, &p, "SH0101-04-1", "o-1").await;
    cp.fault(1, "HighTemperature").await.unwrap();
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "other");
    assert!(done["energy_wh"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn a_server_restart_loses_nothing() {
    let mut env = Env::start().await;
    let p = env.partner(1).await;
    let a = env.charger("SH0101-04", fast()).await;
    let b = env
        .charger(
            "SH0101-01",
            Behaviour {
                plug_on_remote_start: false,
                connection_timeout: Duration::from_secs(60),
                ..fast()
            },
        )
        .await;
    // One session charging, one accepted but waiting for its cable, one waiting for a cable
    // that will come too late.
    let charging_id = charging(&env, &p, "SH0101-04-1", "o-charging").await;
    let waiting = id(&env.start_session(&p, "SH0101-01-1", "o-waiting").await);
    let late = id(&env.start_session(&p, "SH0101-01-2", "o-late").await);

    env.restart().await;
    // Nothing was forgotten; the charging session waits for its charger.
    let s = env
        .wait_session(&p.token, &charging_id, "marked offline", |s| {
            s["status"] == "charging"
        })
        .await;
    assert_eq!(s["id"], charging_id.as_str());
    reconnected(&a).await;
    reconnected(&b).await;
    env.wait_session(&p.token, &charging_id, "back online", |s| {
        s["charger_offline"] == false
    })
    .await;
    // The cable arrives after the restart: the session started before it charges now.
    b.plug(1).await.unwrap();
    env.wait_session(&p.token, &waiting, "charging", |s| {
        s["status"] == "charging"
    })
    .await;
    // The other one timed out meanwhile, with its reason; the charger keeps no transaction.
    let failed = env
        .wait_session(&p.token, &late, "failed", |s| s["status"] == "failed")
        .await;
    assert_eq!(failed["failure"]["code"], "start_timeout");
    // Both charging sessions stop normally. The cable plugged in by hand stays in: the tariff
    // bills idle time, so that session is `finishing` until it is unplugged.
    for sid in [&charging_id, &waiting] {
        let r = env
            .post(&format!("/v1/sessions/{sid}/stop"), &p.token, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
        if sid == &waiting {
            env.wait_session(&p.token, sid, "finishing", |s| s["status"] == "finishing")
                .await;
            b.unplug(1).await.unwrap();
        }
        env.wait_session(&p.token, sid, "completed", |s| s["status"] == "completed")
            .await;
    }
    for h in [&a, &b] {
        h.wait_until("idle", WAIT, |s| s.connectors.iter().all(|c| !c.in_session))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_start_cut_short_by_a_restart_or_a_crash_ends_failed_with_a_reason() {
    // The charger never answers RemoteStart; the server stops while the start is pending.
    let mut env = Env::start_with(|c| c.ocpp.call_timeout_s = 30).await;
    let p = env.partner(1).await;
    let cp = env
        .charger(
            "SH0101-04",
            Behaviour {
                remote_start: RemoteStartPolicy::Ignore,
                ..fast()
            },
        )
        .await;
    let http = env.http.clone();
    let url = env.url("/v1/sessions");
    let token = p.token.clone();
    let request = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token)
            .json(&json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-1"}))
            .send()
            .await
    });
    // The session is recorded before the charger is asked.
    let sid = {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let list = env.get("/v1/sessions", &p.token).await;
            if let Some(s) = list.body["items"].as_array().and_then(|a| a.first()) {
                assert_eq!(s["status"], "pending");
                break id(s);
            }
            assert!(tokio::time::Instant::now() < deadline, "no pending session");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // A graceful stop closes the charger's connection under the pending command.
    env.restart().await;
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    let failed = env.get(&format!("/v1/sessions/{sid}"), &p.token).await;
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(failed.body["failure"]["code"], "charger_offline");

    // A crash right after a session was recorded (before the charger was asked): the record
    // is all that is left. The sweep fails it once a start can no longer come.
    settle(&cp).await;
    let orphan = pending_record(&env, &p, "SH0101-04", 1, "o-crash").await;
    env.restart().await;
    let failed = env
        .wait_session(&p.token, orphan.as_str(), "failed", |s| {
            s["status"] == "failed"
        })
        .await;
    assert_eq!(failed["failure"]["code"], "charger_timeout");
    // The connector is free again.
    cp.set_remote_start_policy(RemoteStartPolicy::Accept)
        .await
        .unwrap();
    settle(&cp).await;
    env.start_session(&p, "SH0101-04-1", "o-2").await;
}

/// Writes a pending session of `p` the way the service records one before asking the charger,
/// as if the process died right after, recorded long enough ago that its start is overdue.
async fn pending_record(
    env: &Env,
    p: &Partner,
    charger: &str,
    number: u32,
    order: &str,
) -> openpile_core::ids::SessionId {
    use openpile_core::charging::IdTagBinding;
    use openpile_core::energy::Wh;
    use openpile_core::ids::{
        ChargerId, ConnectorNumber, PartnerId, SessionId, StationId, TariffId,
    };
    use openpile_core::session::SessionState;
    use openpile_core::sessions::model::ChargingSession;
    use openpile_core::sessions::ports::NewSession;

    let created = chrono::Utc::now() - chrono::TimeDelta::seconds(60);
    let id = SessionId::parse("crashed-session-1").unwrap();
    let session = ChargingSession {
        id: id.clone(),
        origin: SessionOrigin::Partner,
        partner_id: Some(PartnerId::parse(&p.id).unwrap()),
        partner_order_id: Some(order.into()),
        user_ref: None,
        station_id: StationId::parse("SH-0101").unwrap(),
        charger_id: ChargerId::parse(charger).unwrap(),
        connector_id: ConnectorId::parse(format!("{charger}-{number}")).unwrap(),
        connector_number: ConnectorNumber::new(number).unwrap(),
        tariff_id: TariffId::parse("T-SH-TOU").unwrap(),
        reservation_id: None,
        limit: None,
        state: SessionState::Pending,
        failure: None,
        failure_detail: None,
        id_tag: "OPCRASHED0000000001".into(),
        transaction_id: None,
        created_at: created,
        updated_at: created,
        accepted_at: None,
        started_at: None,
        meter_start: None,
        meter_last: None,
        metered_at: None,
        energy: Wh(0),
        power: None,
        soc_percent: None,
        cost: None,
        stop_requested_at: None,
        stop_requested_by: None,
        stopped_at: None,
        stop_reason: None,
        charger_offline_since: None,
        review_required: false,
        review_reason: None,
        next_check_at: Some(created + chrono::TimeDelta::seconds(3)),
        updated_event_at: None,
        charging_finished_at: None,
        freed_at: None,
        stop_attempts: 0,
        version: 1,
    };
    env.shared
        .stores
        .sessions
        .create_session(&NewSession {
            binding: IdTagBinding {
                id_tag: session.id_tag.clone(),
                session_id: id.clone(),
                charger_id: session.charger_id.clone(),
                connector: Some(session.connector_number),
                expires_at: created + chrono::TimeDelta::seconds(10),
            },
            session,
        })
        .await
        .unwrap();
    id
}

// ---- who sees what ---------------------------------------------------------------------------

#[tokio::test]
async fn sessions_started_at_the_charger_are_recorded_but_never_shown_to_partners() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-04", fast()).await;
    cp.plug(1).await.unwrap();
    cp.start_local(1, CARD).await.unwrap();
    let snap = cp
        .wait_until("local session", WAIT, |s| {
            s.connector(1).is_some_and(|c| c.transaction_id.is_some())
        })
        .await
        .unwrap();
    let tx = TransactionId::new(snap.connector(1).unwrap().transaction_id.unwrap()).unwrap();
    let local = {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = env
                .shared
                .stores
                .sessions
                .session_of_transaction(tx)
                .await
                .unwrap()
            {
                break s;
            }
            assert!(tokio::time::Instant::now() < deadline, "no local session");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(local.origin, SessionOrigin::Local);
    assert!(local.partner_id.is_none());
    let list = env.get("/v1/sessions", &p.token).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    env.get(&format!("/v1/sessions/{}", local.id), &p.token)
        .await
        .problem(404, "not_found");
    cp.stop_local(1).await.unwrap();
    // The tariff bills idle time: the session completes once the cable is out.
    cp.unplug(1).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = env
            .shared
            .stores
            .sessions
            .get_session(&local.id)
            .await
            .unwrap();
        if s.state.is_final() {
            assert!(s.cost.is_some());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "local session not completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn partners_see_only_their_own_sessions_and_stopping_an_inactive_one_is_precise() {
    let env = Env::start().await;
    let p1 = env.partner(1).await;
    let p2 = env.partner(2).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    let sid = charging(&env, &p1, "SH0101-04-1", "o-1").await;
    env.get(&format!("/v1/sessions/{sid}"), &p2.token)
        .await
        .problem(404, "not_found");
    env.post(&format!("/v1/sessions/{sid}/stop"), &p2.token, json!({}))
        .await
        .problem(404, "not_found");
    assert!(
        env.get("/v1/sessions", &p2.token).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        env.event_types(&p2, &format!("session:{sid}"))
            .await
            .is_empty()
    );
    let r = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p1.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    env.wait_session(&p1.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    let r = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p1.token, json!({}))
        .await;
    assert_eq!(r.problem(409, "session_not_active")["state"], "completed");
    // Filters and pages.
    let list = env
        .get("/v1/sessions?status=completed&limit=1", &p1.token)
        .await;
    assert_eq!(list.body["items"][0]["id"], sid.as_str());
    env.get("/v1/sessions?status=finished", &p1.token)
        .await
        .problem(400, "invalid_query");
    env.get("/v1/sessions?cursor=zzz", &p1.token)
        .await
        .problem(400, "invalid_cursor");
}

// ---- concurrency -----------------------------------------------------------------------------

#[tokio::test]
async fn partners_racing_for_one_connector_yield_exactly_one_winner() {
    let env = Env::start().await;
    let p1 = env.partner(1).await;
    let p2 = env.partner(2).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    // Twenty requests at once, from two partners, ten each, all for the same connector.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let p = if i % 2 == 0 { p1.clone() } else { p2.clone() };
        let http = env.http.clone();
        let url = env.url("/v1/sessions");
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(&p.token)
                .json(&json!({"connector_id": "SH0101-04-1",
                              "partner_order_id": format!("race-{i}")}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut winners = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status.as_u16() {
            201 | 202 => winners += 1,
            409 => assert!(
                matches!(
                    body["code"].as_str(),
                    Some("connector_unavailable" | "charger_rejected")
                ),
                "{body:#}"
            ),
            other => panic!("unexpected {other}: {body:#}"),
        }
    }
    assert_eq!(winners, 1);
    let mut charging = 0;
    for p in [&p1, &p2] {
        let list = env.get("/v1/sessions?status=charging", &p.token).await;
        let starting = env.get("/v1/sessions?status=starting", &p.token).await;
        charging += list.body["items"].as_array().unwrap().len()
            + starting.body["items"].as_array().unwrap().len();
    }
    assert_eq!(charging, 1);
}
