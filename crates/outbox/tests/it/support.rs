//! The test bench: a seeded store, a worker to run against it, and scripted receivers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use openpile_core::clock::SystemClock;
use openpile_core::event::{EventStore, EventType, FeedKey, WebhookConfig, WebhookSecret};
use openpile_core::ids::{ChargerId, ConnectorNumber, PartnerId};
use openpile_core::partner::credential::Environment;
use openpile_core::ports::{ChargerStore, ReportedStatus};
use openpile_core::status::ChargePointStatus;
use openpile_outbox::config::{DeliveryConfig, RetryPolicy};
use openpile_outbox::worker::Worker;
use openpile_store_sqlite::SqliteStore;
use tokio::sync::{Notify, oneshot};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A store in a temporary file with station S1 (production) and SB (sandbox), `chargers`
/// chargers CP<i> at S1 with one connector each, and active partners with scope "all".
pub struct Bench {
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Bench {
    pub async fn new(partners: &[&str], chargers: usize) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut sql = vec![
            "INSERT INTO tariffs (id, version, name, effective_from, segments) \
             VALUES ('T', 1, 't', '2026-01-01', '[]')"
                .to_string(),
        ];
        for (id, sandbox) in [("S1", 0), ("SB", 1)] {
            sql.push(format!(
                "INSERT INTO stations (id, name, address, area_code, province, city, district, \
                 lat, lng, opening_hours, service_phone, status, tariff_id, sandbox) VALUES \
                 ('{id}', 'n', 'a', '310115', 'p', 'c', 'd', 31.2, 121.5, \
                 '{{\"kind\":\"always_open\"}}', '400', 'operational', 'T', {sandbox})"
            ));
        }
        for i in 0..chargers {
            sql.push(format!(
                "INSERT INTO chargers (id, station_id, vendor, model, current_type, \
                 max_power_kw, registration) VALUES ('CP{i}', 'S1', 'v', 'm', 'DC', '60', \
                 'registered')"
            ));
            sql.push(format!(
                "INSERT INTO connectors (id, charger_id, number, standard, max_power_kw, \
                 voltage_v, current_a) VALUES ('CP{i}-1', 'CP{i}', 1, 'gbt_dc', '60', 750, 200)"
            ));
        }
        for p in partners {
            sql.push(format!(
                "INSERT INTO partners (id, name, application_id, email, status, contract) \
                 VALUES ('{p}', '{p}', 'app-{p}', '{p}@x.cn', 'active', \
                 '{{\"station_scope\":{{\"kind\":\"all\"}}}}')"
            ));
        }
        for s in sql {
            sqlx::query(sqlx::AssertSqlSafe(s))
                .execute(&raw)
                .await
                .unwrap();
        }
        raw.close().await;
        Bench { store, _dir: dir }
    }

    pub fn events(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    /// Points `partner`'s production webhook at `url`, for status changes.
    pub async fn webhook(&self, partner: &str, url: &str) {
        self.store
            .put_webhook(
                &feed(partner),
                &WebhookConfig {
                    url: url.into(),
                    event_types: vec![EventType::ConnectorStatusChanged],
                    enabled: true,
                },
                &WebhookSecret::new(SECRET).unwrap(),
                Utc::now(),
            )
            .await
            .unwrap();
    }

    /// Charger `i` reports a new status (alternating, so each report is a change).
    pub async fn status(&self, charger: usize, n: usize) {
        let status = if n.is_multiple_of(2) {
            ChargePointStatus::Available
        } else {
            ChargePointStatus::Charging
        };
        let changes = self
            .store
            .record_status(
                &ChargerId::parse(format!("CP{charger}")).unwrap(),
                &ReportedStatus {
                    connector: Some(ConnectorNumber::new(1).unwrap()),
                    status,
                    error: None,
                    at: Utc::now(),
                },
            )
            .await
            .unwrap();
        assert_eq!(changes.len(), 1, "a report that changes nothing");
    }

    /// Starts a worker; it stops when the returned sender is dropped or used.
    pub fn worker(&self, config: DeliveryConfig) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel::<()>();
        let worker = Worker::new(self.events(), Arc::new(SystemClock), config).unwrap();
        tokio::spawn(worker.run(async {
            let _ = rx.await;
        }));
        tx
    }
}

pub fn feed(partner: &str) -> FeedKey {
    FeedKey {
        partner_id: PartnerId::parse(partner).unwrap(),
        environment: Environment::Production,
    }
}

/// Fast retries and loopback allowed: what these tests run with unless they say otherwise.
pub fn fast() -> DeliveryConfig {
    DeliveryConfig {
        concurrency: 16,
        per_endpoint: 4,
        lease: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            initial: Duration::from_millis(20),
            max_interval: Duration::from_millis(100),
            window: Duration::from_secs(60),
        },
        allow_private_targets: true,
        allow_private_sandbox_targets: true,
        poll_interval: Duration::from_millis(200),
        ..DeliveryConfig::default()
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub json: serde_json::Value,
    pub status: u16,
}

/// What a receiver answers to its n-th request (0-based) on a path.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub location: Option<String>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            location: None,
        }
    }
}

type Script = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Shared {
    script: Script,
    seen: Arc<Mutex<Vec<Captured>>>,
    counts: Arc<Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>>,
    notify: Arc<Notify>,
}

/// An HTTP server on 127.0.0.1:0 that records every request and answers per its script.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let shared = Shared {
            script: Arc::new(script),
            seen: Arc::default(),
            counts: Arc::default(),
            notify: Arc::new(Notify::new()),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Waits (at most `timeout`) until `done` holds for the requests received so far.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[Captured]) -> bool,
    ) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let seen = self.requests();
            if done(&seen) {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out; {} requests so far: {:#?}",
                    seen.len(),
                    seen.iter().map(|c| (&c.path, c.status)).collect::<Vec<_>>()
                );
            }
        }
    }
}

async fn receive(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let counter = shared
        .counts
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .clone();
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let reply = (shared.script)(&path, n);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    shared.seen.lock().unwrap().push(Captured {
        path,
        headers,
        json: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        body,
        status: reply.status,
    });
    shared.notify.notify_waiters();
    let mut response = StatusCode::from_u16(reply.status).unwrap().into_response();
    if let Some(location) = reply.location {
        response
            .headers_mut()
            .insert("location", location.parse().unwrap());
    }
    response
}

/// Polls `probe` until it yields a value, for at most `timeout`: for states the worker
/// records in the database shortly after a receiver saw the request.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first attempt recorded for `partner`'s newest delivery.
pub async fn first_attempt(
    store: &Arc<dyn EventStore>,
    partner: &str,
) -> openpile_core::event::DeliveryAttempt {
    eventually(Duration::from_secs(10), || async {
        let page = store
            .list_deliveries(&feed(partner), None, 1)
            .await
            .unwrap();
        page.items.first()?.attempts.first().cloned()
    })
    .await
}
