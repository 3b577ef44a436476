//! `bench-events`: the events benchmark of issue 6, on this machine, everything on loopback.
//!
//! One process runs the real server (`Application`, SQLite file in a temporary directory,
//! the demo network), the simulated chargers of the demo network (`openpile_sim`, real OCPP
//! 1.6J over WebSocket), `partners` approved partners whose webhooks point at one local axum
//! receiver, and the webhook delivery worker (`openpile_outbox`) with the server's default
//! settings. Two phases:
//!
//! 1. **latency**: the chargers report `rate` status changes per second (plug / unplug, each
//!    one a `StatusNotification` that changes a connector's status), fanned out to every
//!    partner; for each delivery, the time from the moment the change was handed to the
//!    simulated charger until the receiver had the webhook request (p50/p99/max). The target is
//!    p99 under 50 ms at 500 changes/s to 10 partners (5,000 deliveries/s).
//! 2. **throughput**: with the worker stopped, `backlog` status changes are recorded; then a
//!    fresh worker drains the `backlog × partners` deliveries: deliveries per second (target
//!    5,000/s).
//!
//! Every event must reach every partner (at least once, in order per connector): otherwise
//! the run fails (exit 1). `--smoke` runs small sizes in a few seconds, for CI.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use clap::Parser;
use hdrhistogram::Histogram;
use openpile_core::clock::{Clock, SystemClock};
use openpile_core::event::{EventStore, FeedKey};
use openpile_core::ids::{ChargerId, ConnectorNumber, PartnerId};
use openpile_core::page::PageRequest;
use openpile_core::partner::credential::Environment;
use openpile_core::ports::{ConnectorFilter, ReportedStatus};
use openpile_core::status::ChargePointStatus;
use openpile_outbox::worker::Worker;
use openpile_server::config::Config;
use openpile_server::startup::{Application, Stores, delivery_settings};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// Events benchmark: StatusNotification → webhook latency under fan-out, and delivery
/// throughput.
#[derive(Debug, Parser)]
#[command(name = "bench-events")]
struct Args {
    /// Status changes per second during the latency phase.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of the latency phase, seconds.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Partners, each with a webhook for every status change.
    #[arg(long, default_value_t = 10)]
    partners: u32,
    /// Status changes recorded for the throughput phase (each delivered to every partner).
    #[arg(long, default_value_t = 10_000)]
    backlog: u32,
    /// Webhook requests in flight at once (the server's `events.delivery_concurrency`).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Webhook requests in flight at once to one endpoint (`events.delivery_per_endpoint`).
    #[arg(long)]
    per_endpoint: Option<u32>,
    /// Small sizes, a few seconds, for CI.
    #[arg(long)]
    smoke: bool,
}

const PASSWORD: &str = "bench-password-1234";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.rate = args.rate.min(100);
        args.duration_s = args.duration_s.min(3);
        args.partners = args.partners.min(3);
        args.backlog = args.backlog.min(1000);
    }
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-events failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the receiver got: per partner, the arrival time of each (connector, status_seq).
#[derive(Default)]
struct Received {
    arrivals: Mutex<HashMap<(u32, String, i64), Instant>>,
    /// Deliveries that came again (at-least-once), or out of order per connector.
    duplicates: AtomicU64,
    out_of_order: AtomicU64,
    last_seq: Mutex<HashMap<(u32, String), i64>>,
    count: AtomicU64,
    notify: Notify,
}

async fn receive(
    State(received): State<Arc<Received>>,
    Path(partner): Path<u32>,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (Some(connector), Some(seq)) = (
        event["data"]["connector_id"].as_str(),
        event["data"]["status_seq"].as_i64(),
    ) else {
        return StatusCode::NO_CONTENT;
    };
    {
        let mut last = received.last_seq.lock().unwrap_or_else(|p| p.into_inner());
        let previous = last.entry((partner, connector.to_string())).or_insert(0);
        if seq < *previous {
            received.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        *previous = (*previous).max(seq);
    }
    let fresh = received
        .arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((partner, connector.to_string(), seq), at)
        .is_none();
    if fresh {
        received.count.fetch_add(1, Ordering::Relaxed);
    } else {
        received.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    received.notify.notify_waiters();
    StatusCode::NO_CONTENT
}

impl Received {
    /// Waits until `count` distinct deliveries arrived, at most `timeout`.
    async fn wait_for(&self, count: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Relaxed) >= count {
                return true;
            }
            // A periodic look as well: the last notification may have come just before.
            let step = deadline.min(tokio::time::Instant::now() + Duration::from_millis(200));
            let _ = tokio::time::timeout_at(step, notified).await;
            if tokio::time::Instant::now() >= deadline {
                return self.count.load(Ordering::Relaxed) >= count;
            }
        }
    }
}

/// A unified social credit code with a valid check character (GB 32100-2015).
fn uscc(n: u32) -> String {
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let body = format!("91310115MA{n:07}");
    let sum: usize = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = CHARSET.iter().position(|&c| c == b).unwrap_or(0);
            v * 3usize.pow(u32::try_from(i).unwrap_or(0)) % 31
        })
        .sum();
    format!("{body}{}", char::from(CHARSET[(31 - sum % 31) % 31]))
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn json(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let r = req.send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Applies, is approved for every station, gets a production token, sets its webhook.
    /// Returns the partner id.
    async fn partner(&self, admin: &str, n: u32, webhook: &str) -> anyhow::Result<String> {
        let email = format!("bench{n}@partner.example");
        let applied = self
            .json(
                self.client
                    .post(self.url("/v1/partner-applications"))
                    .json(&json!({
                        "company_name": format!("压测平台{n}有限公司"),
                        "unified_social_credit_code": uscc(n),
                        "legal_representative": "王五",
                        "contact_name": "李四",
                        "mobile": "+86 138 0013 8000",
                        "email": email,
                        "password": PASSWORD,
                        "website": "https://example.com",
                        "intended_use": "benchmark",
                        "expected_monthly_volume": 1000,
                        "callback_base_url": "https://partner.example.com/hooks"
                    })),
            )
            .await?;
        let app_id = applied["application"]["id"]
            .as_str()
            .context("application id")?;
        let partner = applied["application"]["partner_id"]
            .as_str()
            .context("partner id")?
            .to_string();
        let approved = self
            .json(
                self.client
                    .post(self.url(&format!("/admin/v1/partner-applications/{app_id}/approve")))
                    .bearer_auth(admin)
                    .json(&json!({"contract": {
                        "station_scope": {"kind": "all"},
                        "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                        "rate_limit": {"requests_per_second": 1000, "burst": 1000},
                        "settlement_cycle": "monthly"
                    }})),
            )
            .await?;
        let client_id = approved["production_client_id"]
            .as_str()
            .context("production client id")?;
        let secret = self
            .json(
                self.client
                    .post(self.url("/v1/credentials/rotate"))
                    .basic_auth(&email, Some(PASSWORD))
                    .json(&json!({"client_id": client_id})),
            )
            .await?;
        let token = self
            .json(
                self.client
                    .post(self.url("/oauth/token"))
                    .basic_auth(client_id, secret["client_secret"].as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials"),
            )
            .await?;
        let token = token["access_token"].as_str().context("access token")?;
        self.json(
            self.client
                .put(self.url("/v1/webhook"))
                .bearer_auth(token)
                .json(&json!({"url": webhook, "event_types": ["connector.status_changed"]})),
        )
        .await?;
        Ok(partner)
    }
}

/// Production (non-sandbox) connectors of the demo network: (charger, number).
fn production_connectors() -> anyhow::Result<Vec<(String, u32)>> {
    let doc: Value = serde_json::from_str(openpile_server::demo::DEMO_NETWORK)?;
    let mut out = Vec::new();
    for station in doc["stations"].as_array().context("stations")? {
        if station["sandbox"].as_bool() == Some(true) {
            continue;
        }
        for charger in station["chargers"].as_array().into_iter().flatten() {
            let id = charger["id"].as_str().context("charger id")?;
            for c in charger["connectors"].as_array().into_iter().flatten() {
                let n = c["number"].as_u64().context("connector number")?;
                out.push((id.to_string(), u32::try_from(n)?));
            }
        }
    }
    Ok(out)
}

/// Each connector's current status_seq.
async fn status_seqs(stores: &Stores) -> anyhow::Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = stores
            .network
            .list_connectors(&ConnectorFilter::default(), &page)
            .await?;
        for v in &got.items {
            out.insert(v.connector.id.to_string(), v.state.status_seq);
        }
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Deliveries expected so far: every partner's feed head (each event once).
async fn expected(events: &dyn EventStore, partners: &[String]) -> anyhow::Result<u64> {
    let mut total = 0;
    for p in partners {
        let feed = FeedKey {
            partner_id: PartnerId::parse(p.as_str())?,
            environment: Environment::Production,
        };
        total += u64::try_from(events.feed_head(&feed).await?)?;
    }
    Ok(total)
}

fn start_worker(
    events: Arc<dyn EventStore>,
    config: &Config,
) -> anyhow::Result<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    let (tx, rx) = oneshot::channel::<()>();
    let worker = Worker::new(events, Arc::new(SystemClock), delivery_settings(config))?;
    let task = tokio::spawn(worker.run(async {
        let _ = rx.await;
    }));
    Ok((tx, task))
}

/// What the simulated chargers answered for the status changes handed to them.
#[derive(Default)]
struct Failures {
    total: u64,
    /// Per connector: (seq, error) of each change the simulated charger reported as failed.
    by_connector: HashMap<String, Vec<(i64, String)>>,
}

impl Failures {
    fn record(&mut self, done: Result<(String, i64, Result<(), String>), tokio::task::JoinError>) {
        match done {
            Ok((_, _, Ok(()))) => {}
            Ok((connector, seq, Err(e))) => {
                self.total += 1;
                self.by_connector
                    .entry(connector)
                    .or_default()
                    .push((seq, e));
            }
            Err(e) => {
                self.total += 1;
                self.by_connector
                    .entry("(task)".to_string())
                    .or_default()
                    .push((0, e.to_string()));
            }
        }
    }
}

/// A pending queue's head: delivery id, webhook id, the event's status_seq, attempts,
/// next_attempt_at, lease_until, and how many deliveries are pending in that queue.
type QueueHead = (
    i64,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

/// A run of consecutive seqs, printed as `a..=b` (or `a`), at most `max` runs then `…`.
fn runs(seqs: &mut Vec<i64>, max: usize) -> String {
    seqs.sort_unstable();
    seqs.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let start = seqs[i];
        while i + 1 < seqs.len() && seqs[i + 1] == seqs[i] + 1 {
            i += 1;
        }
        if out.len() == max {
            out.push("…".to_string());
            break;
        }
        out.push(if start == seqs[i] {
            start.to_string()
        } else {
            format!("{start}..={}", seqs[i])
        });
        i += 1;
    }
    out.join(", ")
}

/// Prints, for each connector with missing deliveries, what the simulated charger was asked
/// to send and answered, the connector's status_seq, and the events, feed rows and webhook
/// deliveries in the database: enough to tell a miscount from a stuck or lost delivery.
async fn diagnose(
    db: &str,
    stores: &Stores,
    sent: &HashMap<(String, i64), Instant>,
    missing: &HashMap<String, Vec<(u32, i64)>>,
    failures: &Failures,
    received: &Received,
    // The simulated chargers, and their WebSocket connections before the phase.
    (handles, connects_before): (
        &HashMap<String, openpile_sim::SimHandle>,
        &HashMap<String, u64>,
    ),
) -> anyhow::Result<()> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            db.parse::<sqlx::sqlite::SqliteConnectOptions>()?
                .read_only(true),
        )
        .await?;
    let seqs = status_seqs(stores).await?;
    let now = Utc::now();
    eprintln!(
        "  diagnosis at {} ({} connectors with missing deliveries):",
        now.format("%H:%M:%S%.3f"),
        missing.len()
    );
    let mut connectors: Vec<_> = missing.iter().collect();
    connectors.sort_by_key(|(_, m)| std::cmp::Reverse(m.len()));
    for (connector, lost) in connectors.into_iter().take(5) {
        let mut sent_seqs: Vec<i64> = sent
            .keys()
            .filter(|(c, _)| c == connector)
            .map(|(_, s)| *s)
            .collect();
        let partners: std::collections::BTreeSet<u32> = lost.iter().map(|(p, _)| *p).collect();
        let mut lost_seqs: Vec<i64> = lost.iter().map(|(_, s)| *s).collect();
        eprintln!(
            "  {connector}: {} missing over {} partners; sent {} changes, seqs {}",
            lost.len(),
            partners.len(),
            sent_seqs.len(),
            runs(&mut sent_seqs, 3)
        );
        eprintln!("    missing seqs: {}", runs(&mut lost_seqs, 6));
        // The charger id is the connector id without its `-<number>` suffix.
        let charger = connector
            .rsplit_once('-')
            .map_or(connector.as_str(), |(c, _)| c);
        if let Some(h) = handles.get(charger) {
            let snap = h.snapshot();
            eprintln!(
                "    simulated charger {charger}: connected {}, connects {} (before the phase {}), \
                 calls sent {}, answered {}",
                snap.connected,
                snap.connects,
                connects_before.get(charger).copied().unwrap_or(0),
                snap.calls_sent,
                snap.results_received
            );
        }
        let failed = failures.by_connector.get(connector.as_str());
        match failed {
            None => eprintln!("    simulated charger: every change accepted"),
            Some(f) => {
                let mut s: Vec<i64> = f.iter().map(|(s, _)| *s).collect();
                eprintln!(
                    "    simulated charger: {} failed (seqs {}), first error: {}",
                    f.len(),
                    runs(&mut s, 6),
                    f[0].1
                );
            }
        }
        {
            let last = received.last_seq.lock().unwrap_or_else(|p| p.into_inner());
            let got: Vec<String> = partners
                .iter()
                .take(3)
                .map(|p| {
                    let l = last.get(&(*p, connector.clone())).copied().unwrap_or(0);
                    format!("partner {p}: {l}")
                })
                .collect();
            eprintln!("    receiver's newest seq: {}", got.join(", "));
        }
        eprintln!(
            "    connector status_seq in the DB: {:?}",
            seqs.get(connector.as_str())
        );
        let subject = format!("connector:{connector}");
        let (events, min_seq, max_seq): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(json_extract(data, '$.status_seq')), \
                    max(json_extract(data, '$.status_seq')) \
             FROM events WHERE subject = ?1",
        )
        .bind(&subject)
        .fetch_one(&pool)
        .await?;
        eprintln!(
            "    events: {events} (status_seq {min_seq:?}..={max_seq:?}); sent seqs not in events: {}",
            {
                let stored: Vec<i64> = sqlx::query_scalar(
                    "SELECT json_extract(data, '$.status_seq') FROM events WHERE subject = ?1",
                )
                .bind(&subject)
                .fetch_all(&pool)
                .await?;
                let stored: std::collections::HashSet<i64> = stored.into_iter().collect();
                let mut absent: Vec<i64> = sent
                    .keys()
                    .filter(|(c, s)| c == connector && !stored.contains(s))
                    .map(|(_, s)| *s)
                    .collect();
                format!("{} ({})", absent.len(), runs(&mut absent, 6))
            }
        );
        let feed: Vec<(String, i64)> = sqlx::query_as(
            "SELECT f.partner_id, count(*) FROM event_feed f JOIN events e ON e.id = f.event_id \
             WHERE e.subject = ?1 GROUP BY f.partner_id ORDER BY f.partner_id",
        )
        .bind(&subject)
        .fetch_all(&pool)
        .await?;
        eprintln!(
            "    event_feed rows per partner: {}",
            feed.iter()
                .map(|(_, n)| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let states: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT state, count(*), min(attempts), max(attempts), \
                    count(lease_until) FROM webhook_deliveries WHERE subject = ?1 GROUP BY state",
        )
        .bind(&subject)
        .fetch_all(&pool)
        .await?;
        for (state, n, min_a, max_a, leased) in &states {
            eprintln!(
                "    webhook_deliveries {state}: {n} (attempts {min_a}..={max_a}, {leased} leased)"
            );
        }
        // The head of each partner's pending queue for this connector, with its last attempt.
        let heads: Vec<QueueHead> = sqlx::query_as(
            "SELECT d.id, d.webhook_id, json_extract(e.data, '$.status_seq'), d.attempts, \
                        d.next_attempt_at, d.lease_until, \
                        (SELECT count(*) FROM webhook_deliveries p \
                         WHERE p.webhook_id = d.webhook_id AND p.subject = d.subject \
                           AND p.state = 'pending') \
                 FROM webhook_deliveries d JOIN events e ON e.id = d.event_id \
                 WHERE d.subject = ?1 AND d.state = 'pending' AND d.id = \
                   (SELECT min(id) FROM webhook_deliveries q WHERE q.webhook_id = d.webhook_id \
                      AND q.subject = d.subject AND q.state = 'pending') \
                 ORDER BY d.webhook_id LIMIT 10",
        )
        .bind(&subject)
        .fetch_all(&pool)
        .await?;
        for (id, webhook, seq, attempts, next, lease, pending) in heads {
            let last: Option<(Option<i64>, Option<String>, String)> = sqlx::query_as(
                "SELECT status, error, at FROM webhook_attempts WHERE delivery_id = ?1 \
                 ORDER BY number DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await?;
            eprintln!(
                "    queue head webhook {webhook}: delivery {id} seq {seq:?}, {pending} pending, \
                 attempts {attempts}, next_attempt_at {next:?}, lease_until {lease:?}, last attempt {last:?}"
            );
        }
    }
    pool.close().await;
    Ok(())
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

async fn run(args: &Args) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.http.addr = ([127, 0, 0, 1], 0).into();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    config.db.url = db.clone().into();
    config.events.allow_private_webhook_targets = true;
    // The benchmark runs its own worker, so it can stop it for the throughput phase.
    config.events.delivery_worker = false;
    if let Some(c) = args.concurrency {
        config.events.delivery_concurrency = c;
    }
    if let Some(n) = args.per_endpoint {
        config.events.delivery_per_endpoint = n;
    }
    config.validate()?;

    let stores = Stores::open(&db).await?;
    openpile_server::demo::import_network(&stores).await?;
    let hash = openpile_secrets::hash_password_with(PASSWORD, openpile_secrets::HashCost::Light)?;
    stores
        .operators
        .create_operator(
            "bench-admin",
            &openpile_core::operator::Email::parse("admin@bench.example")?,
            openpile_core::operator::OperatorRole::Admin,
            &hash,
            Utc::now(),
        )
        .await?;
    let app = Application::build_with(config.clone(), stores.clone()).await?;
    let addr = app.local_addr();
    let (stop_server, server_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = server_stopped.await;
    }));

    let received = Arc::new(Received::default());
    let receiver = axum::Router::new()
        .route("/p/{partner}", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    let http = Http {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    };
    let login = http
        .json(
            http.client
                .post(http.url("/admin/v1/login"))
                .json(&json!({"email": "admin@bench.example", "password": PASSWORD})),
        )
        .await?;
    let admin = login["token"].as_str().context("admin token")?.to_string();
    let mut partners = Vec::new();
    for n in 0..args.partners {
        partners.push(
            http.partner(&admin, n + 1, &format!("http://{receiver_addr}/p/{n}"))
                .await?,
        );
    }
    let events = stores.events.clone();
    // Onboarding put account events (the decision, the first secret) in every feed; the
    // webhooks are for status changes only, so those are never delivered and not counted.
    let account_events = expected(events.as_ref(), &partners).await?;
    let (stop_worker, worker) = start_worker(events.clone(), &config)?;

    // The demo network's chargers, connected over OCPP; their boot statuses are the warm-up.
    let fleet_chargers =
        openpile_sim::chargers_from_network_json(openpile_server::demo::DEMO_NETWORK)?;
    let fleet = openpile_sim::Fleet::spawn(
        &format!("ws://{addr}/ocpp"),
        fleet_chargers,
        &openpile_sim::Behaviour::default(),
        Some(200),
    )?;
    fleet.wait_all_booted(Duration::from_secs(120)).await?;
    let connectors = production_connectors()?;
    // Chargers report their connectors right after booting: wait until the statuses stay put
    // and every partner has them, so that each change below has a known status_seq.
    let mut base = status_seqs(&stores).await?;
    let warm = loop {
        let warm = expected(events.as_ref(), &partners).await? - account_events;
        if !received.wait_for(warm, Duration::from_secs(60)).await {
            bail!("warm-up deliveries did not arrive");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = status_seqs(&stores).await?;
        if now == base && expected(events.as_ref(), &partners).await? - account_events == warm {
            break warm;
        }
        base = now;
    };
    let handles: HashMap<String, openpile_sim::SimHandle> = fleet
        .handles()
        .iter()
        .map(|h| (h.id().to_string(), h.clone()))
        .collect();
    // WebSocket connections per charger before the phase: a reconnect during it collapses the
    // changes made while offline into one current status (OCPP drops queued StatusNotifications).
    let connects_before: HashMap<String, u64> = handles
        .iter()
        .map(|(id, h)| (id.clone(), h.snapshot().connects))
        .collect();

    // Phase 1: open-loop status changes at `rate`, round-robin over the connectors.
    println!(
        "latency phase: {} status changes/s for {} s over {} connectors, {} partners",
        args.rate,
        args.duration_s,
        connectors.len(),
        args.partners
    );
    let sent: Arc<Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let mut next_seq: HashMap<String, i64> = HashMap::new();
    let mut plugged: HashMap<String, bool> = HashMap::new();
    let total = u64::from(args.rate) * args.duration_s;
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let start = tokio::time::Instant::now();
    let phase_start = Instant::now();
    let mut lagging = 0u64;
    let mut failures = Failures::default();
    let mut inflight = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        if tokio::time::Instant::now() > due + Duration::from_millis(10) {
            lagging += 1;
        }
        tokio::time::sleep_until(due).await;
        let (charger, number) = &connectors[usize::try_from(i)? % connectors.len()];
        let connector_id = format!("{charger}-{number}");
        let seq = next_seq
            .entry(connector_id.clone())
            .or_insert_with(|| base.get(&connector_id).copied().unwrap_or(0));
        *seq += 1;
        let plug = plugged.entry(connector_id.clone()).or_insert(false);
        *plug = !*plug;
        let handle = handles
            .get(charger)
            .with_context(|| format!("no simulated charger {charger}"))?
            .clone();
        let (plug_now, number, seq) = (*plug, *number, *seq);
        sent.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((connector_id.clone(), seq), Instant::now());
        inflight.spawn(async move {
            let result = if plug_now {
                handle.plug(number).await
            } else {
                handle.unplug(number).await
            };
            (connector_id, seq, result.map_err(|e| e.to_string()))
        });
        while let Some(done) = inflight.try_join_next() {
            failures.record(done);
        }
    }
    while let Some(done) = inflight.join_next().await {
        failures.record(done);
    }
    let failures_total = failures.total;
    let send_elapsed = phase_start.elapsed();
    // The last changes may still be on their way to the server: count, do not ask the feed.
    let want = warm + total * u64::from(args.partners);
    let all_arrived = received.wait_for(want, Duration::from_secs(60)).await;
    let phase_elapsed = phase_start.elapsed();

    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut missing = 0u64;
    // Per connector: the partners × seqs that never arrived (for the diagnosis below).
    let mut missing_by_connector: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    {
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
        let arrivals = received.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        for ((connector, seq), at) in sent.iter() {
            for p in 0..args.partners {
                match arrivals.get(&(p, connector.clone(), *seq)) {
                    Some(got) => {
                        let micros = got.saturating_duration_since(*at).as_micros();
                        hist.record(u64::try_from(micros)?.max(1))?;
                    }
                    None => {
                        if missing < 5 {
                            eprintln!("  missing: partner {p}, {connector} seq {seq}");
                        }
                        missing += 1;
                        missing_by_connector
                            .entry(connector.clone())
                            .or_default()
                            .push((p, *seq));
                    }
                }
            }
        }
    }
    let deliveries = hist.len();
    println!(
        "  sent {total} changes in {:.1} s ({:.0}/s; {lagging} more than 10 ms late, {failures_total} failed)",
        send_elapsed.as_secs_f64(),
        total as f64 / send_elapsed.as_secs_f64(),
    );
    println!(
        "  {deliveries} deliveries measured ({:.0}/s over the phase), {missing} missing",
        deliveries as f64 / phase_elapsed.as_secs_f64()
    );
    println!(
        "  StatusNotification → webhook: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.90)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.value_at_quantile(0.999)),
        ms(hist.max()),
    );
    let p99_ms = ms(hist.value_at_quantile(0.99));
    if missing > 0 {
        // Before phase 2 touches the queues: what each side saw for the connectors concerned.
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Err(e) = diagnose(
            &db,
            &stores,
            &sent,
            &missing_by_connector,
            &failures,
            &received,
            (&handles, &connects_before),
        )
        .await
        {
            eprintln!("  diagnosis failed: {e:#}");
        }
    }

    // Phase 2: a backlog drained by a fresh worker.
    let _ = stop_worker.send(());
    let _ = worker.await;
    println!(
        "throughput phase: {} status changes × {} partners queued with the worker stopped",
        args.backlog, args.partners
    );
    let before = received.count.load(Ordering::Relaxed);
    let expected_before = expected(events.as_ref(), &partners).await?;
    let queue_start = Instant::now();
    let clock = SystemClock;
    for i in 0..args.backlog {
        let (charger, number) = &connectors[usize::try_from(i)? % connectors.len()];
        let status = if (i / u32::try_from(connectors.len())?).is_multiple_of(2) {
            ChargePointStatus::Faulted
        } else {
            ChargePointStatus::Available
        };
        stores
            .chargers
            .record_status(
                &ChargerId::parse(charger.as_str())?,
                &ReportedStatus {
                    connector: Some(ConnectorNumber::new(*number)?),
                    status,
                    error: None,
                    at: clock.now(),
                },
            )
            .await?;
    }
    let queued = expected(events.as_ref(), &partners).await? - expected_before;
    println!(
        "  queued {queued} deliveries in {:.1} s",
        queue_start.elapsed().as_secs_f64()
    );
    let drain_start = Instant::now();
    let (stop_worker, worker) = start_worker(events.clone(), &config)?;
    let drained = received
        .wait_for(before + queued, Duration::from_secs(600))
        .await;
    let drain = drain_start.elapsed();
    let delivered = received.count.load(Ordering::Relaxed) - before;
    let throughput = delivered as f64 / drain.as_secs_f64();
    println!(
        "  delivered {delivered} in {:.2} s: {throughput:.0} deliveries/s",
        drain.as_secs_f64()
    );
    let _ = stop_worker.send(());
    let _ = worker.await;
    fleet.shutdown().await;
    let _ = stop_server.send(());
    let _ = server.await;

    let duplicates = received.duplicates.load(Ordering::Relaxed);
    let out_of_order = received.out_of_order.load(Ordering::Relaxed);
    println!("  duplicates {duplicates}, out of order {out_of_order}");
    let complete =
        all_arrived && drained && missing == 0 && out_of_order == 0 && failures_total == 0;
    println!(
        "targets: p99 {p99_ms:.1} ms (< 50 ms: {}), throughput {throughput:.0}/s (≥ 5000/s: {}), complete: {complete}",
        if p99_ms < 50.0 { "met" } else { "missed" },
        if throughput >= 5000.0 {
            "met"
        } else {
            "missed"
        },
    );
    Ok(complete)
}
