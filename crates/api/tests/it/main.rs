//! Integration tests of the Open API on a real server (127.0.0.1:0) over a real SQLite file:
//! the onboarding story, OAuth2 and bearer errors, credentials, scope and sandbox isolation,
//! pagination under change, rate limits. The admin routes of the same process approve, reject
//! and suspend, with an operator token made directly in the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod credentials;
mod docs;
mod errors;
mod mail;
mod oauth;
mod onboarding;
mod stations;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use openpile_admin::partners::PartnersAdminState;
use openpile_admin::{AdminSettings, AdminState};
use openpile_api::crypto::{ApiCrypto, PasswordCost};
use openpile_api::ratelimit::PublicLimits;
use openpile_api::{ApiState, router};
use openpile_core::clock::Clock;
use openpile_core::ids::{ChargerId, UuidV7Ids};
use openpile_core::network::OpeningHours;
use openpile_core::operator::{Email, OperatorRole};
use openpile_core::partner::catalog::Catalog;
use openpile_core::partner::notification::Mailer;
use openpile_core::partner::service::{PartnerConfig, PartnerService};
use openpile_core::ports::{
    ChargerCommand, ChargerGateway, CommandReply, GatewayError, NetworkBatch, OperatorStore,
};
use openpile_store_contract::fixtures;
use openpile_store_sqlite::SqliteStore;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Wall-clock time plus an offset the test can move forward (token expiry, grace periods).
pub struct TestClock {
    offset: Mutex<TimeDelta>,
}

impl TestClock {
    pub fn advance(&self, by: TimeDelta) {
        *self.offset.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        (Utc::now() + *self.offset.lock().unwrap()).trunc_subsecs(3)
    }
}

/// No charger is ever connected in these tests.
struct NoChargers;

#[async_trait]
impl ChargerGateway for NoChargers {
    async fn send(&self, _: &ChargerId, _: ChargerCommand) -> Result<CommandReply, GatewayError> {
        Err(GatewayError::Offline)
    }
    fn is_connected(&self, _: &ChargerId) -> bool {
        false
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: SqliteStore,
    pub clock: Arc<TestClock>,
    pub operator_token: String,
    /// The service behind the routes (the mail tests drive its retries).
    pub partners: Arc<PartnerService>,
    _dir: TempDir,
}

/// A network of `n` production stations (S001…, 1 charger with 2 connectors each, always
/// open) and `sandbox` sandbox stations after them.
pub fn network(n: usize, sandbox: usize) -> NetworkBatch {
    let mut batch = fixtures::network(n + sandbox, 1, 2);
    for (i, s) in batch.stations.iter_mut().enumerate() {
        s.opening_hours = OpeningHours::AlwaysOpen;
        s.sandbox = i >= n;
    }
    batch
}

impl TestApp {
    pub async fn start(batch: &NetworkBatch) -> TestApp {
        Self::start_with(batch, PartnerConfig::default()).await
    }

    pub async fn start_with(batch: &NetworkBatch, config: PartnerConfig) -> TestApp {
        Self::start_with_mailer(batch, config, None).await
    }

    /// With e-mail through `mailer`.
    pub async fn start_with_mailer(
        batch: &NetworkBatch,
        config: PartnerConfig,
        mailer: Option<Arc<dyn Mailer>>,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("api.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        fixtures::seed(&store, batch).await;
        let clock = Arc::new(TestClock {
            offset: Mutex::new(TimeDelta::zero()),
        });
        let ids = Arc::new(UuidV7Ids);
        let partners = Arc::new(PartnerService::new(
            Arc::new(store.clone()),
            Arc::new(ApiCrypto::new(PasswordCost::Light)),
            clock.clone(),
            ids.clone(),
            mailer,
            config,
        ));
        // Zero staleness: every read sees the writes before it.
        let catalog = Arc::new(Catalog::new(
            Arc::new(store.clone()),
            clock.clone(),
            Duration::ZERO,
        ));
        catalog.refresh().await.unwrap();
        let api = ApiState::new(
            partners.clone(),
            catalog,
            clock.clone(),
            PublicLimits::default(),
        );
        let admin = AdminState {
            network: Arc::new(store.clone()),
            operators: Arc::new(store.clone()),
            gateway: Arc::new(NoChargers),
            clock: clock.clone(),
            ids,
            settings: AdminSettings::default(),
        };
        let app: Router = router(api).merge(openpile_admin::partners::router(PartnersAdminState {
            admin,
            partners: partners.clone(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let operator_token = operator(&store, clock.now()).await;
        TestApp {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            clock,
            operator_token,
            partners,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// POST /oauth/token with form client authentication.
    pub async fn token_request(&self, form: &str) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap()
    }

    /// A token for a client, all its scopes.
    pub async fn token(&self, client_id: &str, secret: &str) -> String {
        let r = self
            .token_request(&format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "token request failed");
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Applies as applicant `n`: (application id, sandbox client id, sandbox secret).
    pub async fn apply(&self, n: u32) -> (String, String, String) {
        let r = self
            .http
            .post(self.url("/v1/partner-applications"))
            .json(&application(n))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        (
            body["application"]["id"].as_str().unwrap().to_string(),
            body["sandbox_credentials"]["client_id"]
                .as_str()
                .unwrap()
                .to_string(),
            body["sandbox_credentials"]["client_secret"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.operator_token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Approves application `id` with a station list scope; returns the production client id.
    pub async fn approve(&self, id: &str, stations: &[&str], rps: u32, burst: u32) -> String {
        let scope = if stations.is_empty() {
            json!({"kind": "all"})
        } else {
            json!({"kind": "list", "station_ids": stations})
        };
        let r = self
            .admin_post(
                &format!("/admin/v1/partner-applications/{id}/approve"),
                json!({"contract": {
                    "station_scope": scope,
                    "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                    "rate_limit": {"requests_per_second": rps, "burst": burst},
                    "settlement_cycle": "monthly"
                }}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["production_client_id"].as_str().unwrap().to_string()
    }

    /// The first production secret, issued to the applicant account by a rotation.
    pub async fn production_secret(&self, n: u32, client_id: &str) -> String {
        let r = self
            .http
            .post(self.url("/v1/credentials/rotate"))
            .basic_auth(email(n), Some(PASSWORD))
            .json(&json!({"client_id": client_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["client_secret"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Applies, gets approved for `stations` and returns a production token.
    pub async fn partner(&self, n: u32, stations: &[&str]) -> String {
        let (app, _, _) = self.apply(n).await;
        let client = self.approve(&app, stations, 1000, 1000).await;
        let secret = self.production_secret(n, &client).await;
        self.token(&client, &secret).await
    }
}

async fn operator(store: &SqliteStore, now: DateTime<Utc>) -> String {
    store
        .create_operator(
            "op-1",
            &Email::parse("reviewer@openpile.example").unwrap(),
            OperatorRole::Reviewer,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            now,
        )
        .await
        .unwrap();
    let (token, sha) = openpile_secrets::new_token();
    store
        .create_operator_token(&sha, "op-1", now, now + TimeDelta::days(365))
        .await
        .unwrap();
    token
}

pub const PASSWORD: &str = "correct horse battery staple";

pub fn email(n: u32) -> String {
    format!("partner{n}@example.com")
}

/// A valid application of applicant `n` (company code made valid per GB 32100-2015).
pub fn application(n: u32) -> Value {
    json!({
        "company_name": format!("出行平台{n}有限公司"),
        "unified_social_credit_code": openpile_store_contract::partners::uscc(n),
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

/// Asserts a problem response: status, content type, code, and (when given) field.
pub async fn problem(r: Response, status: StatusCode, code: &str, field: Option<&str>) -> Value {
    assert_eq!(r.status(), status, "status for {code}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(ct, "application/problem+json", "{body}");
    if let Some(f) = field {
        assert_eq!(body["field"], f, "{body}");
    }
    assert_eq!(body["type"], format!("urn:openpile:problem:{code}"));
    assert!(body["request_id"].is_string(), "{body}");
    body
}
