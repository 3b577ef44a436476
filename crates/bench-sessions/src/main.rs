//! `bench-sessions`: the charging-control benchmark of issue 5. One process runs the OpenPile
//! server (a fresh SQLite file, the real HTTP and OCPP listeners on 127.0.0.1), a fleet of
//! simulated chargers (`openpile-sim`, real OCPP 1.6J over WebSockets, answering at once:
//! a car plugs in at every remote start) and a partner's HTTP client. Phases:
//!
//! 1. **Latency.** `--samples` starts, `--concurrency` at a time, each on its own connector:
//!    the time of `POST /v1/sessions` until its `202`, and until the session is `charging`
//!    (the same order replayed with `wait_s`, which answers once the charger's StartTransaction
//!    arrived). p50/p99 from an HdrHistogram. The sessions are stopped afterwards.
//! 2. **Many at once.** `--sessions` starts fired together; all must be charging; they are
//!    metered for `--meter-s` (MeterValues every `--meter-interval-ms`), then stopped
//!    together. Then nothing may be lost: every session completed with the charger's energy
//!    and a final cost, every charger transaction stopped, every partner event written
//!    (starting, started, completed per session), no session or transaction left open.
//!
//! `--smoke` runs small sizes in seconds and exits 1 when anything failed, for CI. How to run it
//! and what the figures mean: crates/bench-sessions/README.md.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use openpile_core::event::{EventType, FeedKey, FeedQuery};
use openpile_core::ids::{ChargerId, PartnerId, SessionId};
use openpile_core::operator::{Email, OperatorRole};
use openpile_core::partner::credential::Environment;
use openpile_core::session::SessionState;
use openpile_secrets::HashCost;
use openpile_server::config::{Config, LogConfig, LogFormat};
use openpile_server::startup::{Application, Shared};
use openpile_sim::{Behaviour, Fleet, chargers_from_network_json};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

/// Charging-control benchmark: POST /v1/sessions latency and 1,000 concurrent sessions.
#[derive(Debug, Parser)]
#[command(name = "bench-sessions")]
struct Args {
    /// Starts measured in the latency phase (one connector each).
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Starts in flight at once in the latency phase.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Sessions started, metered and stopped together.
    #[arg(long, default_value_t = 1_000)]
    sessions: usize,
    /// How long the concurrent sessions charge before they are stopped, seconds.
    #[arg(long, default_value_t = 10)]
    meter_s: u64,
    /// MeterValues interval of the simulated chargers, milliseconds.
    #[arg(long, default_value_t = 2_000)]
    meter_interval_ms: u64,
    /// Small sizes, a few seconds; exit 1 on any failure (CI).
    #[arg(long)]
    smoke: bool,
    /// Log filter of the server inside the benchmark.
    #[arg(long, default_value = "warn")]
    log: String,
}

const PASSWORD: &str = "bench-partner-password";
/// Longest wait for any phase step.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.samples = 40;
        args.sessions = 60;
        args.meter_s = 2;
        args.meter_interval_ms = 500;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-sessions: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-sessions FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The network: one tariff, stations of 10 chargers with 2 connectors of 60 kW each.
fn network(chargers: usize) -> Value {
    let segments = json!([
        {"start": "00:00", "end": "08:00", "label": "谷", "electricity_price": "0.3125", "service_price": "0.4000"},
        {"start": "08:00", "end": "12:00", "label": "峰", "electricity_price": "1.0825", "service_price": "0.8000"},
        {"start": "12:00", "end": "18:00", "label": "平", "electricity_price": "0.7012", "service_price": "0.6000"},
        {"start": "18:00", "end": "22:00", "label": "峰", "electricity_price": "1.0825", "service_price": "0.8000"},
        {"start": "22:00", "end": "24:00", "label": "谷", "electricity_price": "0.3125", "service_price": "0.4000"}
    ]);
    let stations: Vec<Value> = (0..chargers.div_ceil(10))
        .map(|s| {
            let cs: Vec<Value> = (0..10)
                .map(|c| s * 10 + c)
                .filter(|i| *i < chargers)
                .map(|i| {
                    json!({
                        "id": charger_id(i), "vendor": "BenchCo", "model": "B60-2",
                        "current_type": "DC", "max_power_kw": 60,
                        "ocpp_password": format!("pw-{}", charger_id(i)),
                        "connectors": [
                            {"number": 1, "standard": "gbt_dc", "max_power_kw": 60, "voltage_v": 750, "current_a": 80},
                            {"number": 2, "standard": "gbt_dc", "max_power_kw": 60, "voltage_v": 750, "current_a": 80}
                        ]
                    })
                })
                .collect();
            json!({
                "id": format!("BS-{s:04}"), "name": format!("基准站{s}"),
                "address": "上海市浦东新区科苑路1288号", "area_code": "310115",
                "province": "上海市", "city": "上海市", "district": "浦东新区",
                "lat": 31.2046, "lng": 121.5829, "opening_hours": "24/7",
                "service_phone": "400-161-8899", "tariff_id": "T-BENCH", "chargers": cs
            })
        })
        .collect();
    json!({
        "tariffs": [{"id": "T-BENCH", "name": "基准分时电价", "version": 1,
                     "effective_from": "2024-01-01T00:00:00+08:00", "segments": segments}],
        "stations": stations
    })
}

fn charger_id(i: usize) -> String {
    format!("BC{i:05}")
}

fn connector_id(k: usize) -> String {
    format!("{}-{}", charger_id(k / 2), k % 2 + 1)
}

struct Bench {
    base: String,
    http: reqwest::Client,
    shared: Shared,
    token: String,
    partner: PartnerId,
}

async fn run(args: &Args) -> anyhow::Result<()> {
    openpile_server::telemetry::init(&LogConfig {
        format: LogFormat::Pretty,
        filter: args.log.clone(),
    });
    let connectors = args.samples + args.sessions;
    let chargers = connectors.div_ceil(2);
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.http.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db.url = format!("sqlite://{}", dir.path().join("bench.db").display()).into();
    config.ocpp.call_timeout_s = 30;
    config.charging.sweep_interval_ms = 500;
    config.validate()?;
    let app = Application::build(config).await?;
    let shared = app.shared().clone();
    let addr = app.local_addr();
    let doc_json = network(chargers);
    let doc = openpile_import::parse_json(&doc_json.to_string())
        .map_err(|e| anyhow::anyhow!("the benchmark network does not import: {e:?}"))?;
    openpile_server::import::import(&shared.stores, doc, HashCost::Light)
        .await
        .map_err(|e| anyhow::anyhow!("import failed: {e}"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2_000)
        .timeout(Duration::from_secs(120))
        .build()?;
    let base = format!("http://{addr}");
    let (partner, token) = partner(&http, &base, &shared).await?;
    let bench = Arc::new(Bench {
        base,
        http,
        shared,
        token,
        partner,
    });

    println!(
        "bench-sessions: {chargers} simulated chargers ({connectors} connectors) on {addr}, 2 cores shared by server, chargers and client"
    );
    // The latency phase's chargers report meter values once a minute, so that what is
    // measured is the start path; the concurrent phase's report at the configured interval.
    let all = chargers_from_network_json(&doc_json.to_string())?;
    let split = args.samples.div_ceil(2).min(all.len());
    let quiet = Behaviour {
        meter_interval: Duration::from_secs(60),
        reconnect_delay: Duration::from_millis(200),
        ..Behaviour::default()
    };
    let busy = Behaviour {
        meter_interval: Duration::from_millis(args.meter_interval_ms),
        ..quiet.clone()
    };
    let endpoint = format!("ws://{addr}/ocpp");
    let latency_fleet = Fleet::spawn(&endpoint, all[..split].to_vec(), &quiet, Some(500))?;
    let fleet = Fleet::spawn(&endpoint, all[split..].to_vec(), &busy, Some(500))?;
    let t = Instant::now();
    latency_fleet.wait_all_booted(STEP_TIMEOUT).await?;
    fleet.wait_all_booted(STEP_TIMEOUT).await?;
    wait_connectors_available(&bench, chargers).await?;
    println!(
        "  chargers connected, booted and available in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let latency = latency_phase(&bench, args).await?;
    println!();
    println!(
        "Latency ({} starts, {} in flight, each on its own connector; chargers answer at once):",
        args.samples, args.concurrency
    );
    println!(
        "  POST /v1/sessions → 202:      p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   (target p99 < 20 ms: {})",
        ms(latency.to_202.value_at_quantile(0.5)),
        ms(latency.to_202.value_at_quantile(0.99)),
        ms(latency.to_202.max()),
        if latency.to_202.value_at_quantile(0.99) < 20_000 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "  POST /v1/sessions → charging: p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        ms(latency.to_charging.value_at_quantile(0.5)),
        ms(latency.to_charging.value_at_quantile(0.99)),
        ms(latency.to_charging.max())
    );
    if args.sessions > 0 {
        let many = concurrent_phase(&bench, &[&latency_fleet, &fleet], args).await?;
        println!("{} concurrent sessions:", args.sessions);
        println!(
            "  all {} started (202) in {:.2} s, all charging after {:.2} s; POST → 202 under that load p50 {:.1} ms p99 {:.1} ms",
            args.sessions,
            many.started.as_secs_f64(),
            many.charging.as_secs_f64(),
            ms(many.start_latency.value_at_quantile(0.5)),
            ms(many.start_latency.value_at_quantile(0.99)),
        );
        println!(
            "  metered {} s: {} meter samples stored, {} session updates from them, {:.0} Wh delivered in all",
            args.meter_s, many.meter_samples, many.meter_updates, many.energy_wh
        );
        println!(
            "  all stopped (202) in {:.2} s, all completed after {:.2} s",
            many.stop_sent.as_secs_f64(),
            many.completed.as_secs_f64()
        );
        println!(
            "  nothing lost: {} completed with the charger's energy, a final cost and one CDR each, {} transactions stopped, {} session events (starting, started, completed each, in order), 0 open",
            many.verified, many.transactions_stopped, many.events
        );
    }
    latency_fleet.shutdown().await;
    fleet.shutdown().await;
    // Let the server record the chargers leaving before it closes its database.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while still_online(&bench).await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

/// Connectors not yet marked offline.
async fn still_online(bench: &Bench) -> anyhow::Result<usize> {
    let mut page = openpile_core::page::PageRequest::first(500);
    let mut online = 0;
    loop {
        let got = bench
            .shared
            .stores
            .network
            .list_connectors(&Default::default(), &page)
            .await?;
        online += got
            .items
            .iter()
            .filter(|c| c.state.status != openpile_core::status::ConnectorStatus::Offline)
            .count();
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(online),
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// An operator (directly in the store) approves a partner applying over HTTP; the partner's
/// production token follows.
async fn partner(
    http: &reqwest::Client,
    base: &str,
    shared: &Shared,
) -> anyhow::Result<(PartnerId, String)> {
    let now = chrono::Utc::now();
    shared
        .stores
        .operators
        .create_operator(
            "bench-op",
            &Email::parse("ops@bench.openpile")?,
            OperatorRole::Admin,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            now,
        )
        .await?;
    let (op, sha) = openpile_secrets::new_token();
    shared
        .stores
        .operators
        .create_operator_token(&sha, "bench-op", now, now + chrono::TimeDelta::days(1))
        .await?;
    let body: Value = http
        .post(format!("{base}/v1/partner-applications"))
        .json(&json!({
            "company_name": "基准出行平台有限公司",
            "unified_social_credit_code": uscc(1),
            "legal_representative": "王五", "contact_name": "李四",
            "mobile": "+86 138 0013 8000", "email": "bench@partner.example",
            "password": PASSWORD, "website": "https://example.com",
            "intended_use": "基准测试", "expected_monthly_volume": 100000,
            "callback_base_url": "https://partner.example.com/hooks"
        }))
        .send()
        .await?
        .json()
        .await?;
    let app = body["application"]["id"]
        .as_str()
        .context("no application")?;
    let partner_id = PartnerId::parse(
        body["application"]["partner_id"]
            .as_str()
            .context("no partner id")?,
    )?;
    let approved: Value = http
        .post(format!(
            "{base}/admin/v1/partner-applications/{app}/approve"
        ))
        .bearer_auth(&op)
        .json(&json!({"contract": {
            "station_scope": {"kind": "all"}, "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
            "rate_limit": {"requests_per_second": 1000000, "burst": 1000000},
            "settlement_cycle": "monthly"
        }}))
        .send()
        .await?
        .json()
        .await?;
    let client = approved["production_client_id"]
        .as_str()
        .context("not approved")?
        .to_string();
    let secret: Value = http
        .post(format!("{base}/v1/credentials/rotate"))
        .basic_auth("bench@partner.example", Some(PASSWORD))
        .json(&json!({"client_id": client}))
        .send()
        .await?
        .json()
        .await?;
    let secret = secret["client_secret"].as_str().context("no secret")?;
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no token")?
        .to_string();
    Ok((partner_id, token))
}

/// A valid unified social credit code (GB 32100-2015).
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
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", char::from(CHARSET[check]))
}

async fn wait_connectors_available(bench: &Bench, chargers: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    for i in 0..chargers {
        let id = ChargerId::parse(charger_id(i))?;
        loop {
            let filter = openpile_core::ports::ConnectorFilter {
                charger_id: Some(id.clone()),
                ..Default::default()
            };
            let page = bench
                .shared
                .stores
                .network
                .list_connectors(&filter, &openpile_core::page::PageRequest::first(10))
                .await?;
            if page.items.len() == 2
                && page
                    .items
                    .iter()
                    .all(|c| c.state.status == openpile_core::status::ConnectorStatus::Available)
            {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "charger {id} never became available"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

impl Bench {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        ensure!(r.status().is_success(), "GET {path}: {}", r.status());
        Ok(r.json().await?)
    }

    /// Starts a session; the time until its `202` and its id.
    async fn start(&self, connector: &str, order: &str) -> anyhow::Result<(Duration, String)> {
        let t = Instant::now();
        let (status, body) = self
            .post(
                "/v1/sessions",
                &json!({"connector_id": connector, "partner_order_id": order}),
            )
            .await?;
        let took = t.elapsed();
        ensure!(
            status == 202 || status == 201,
            "start on {connector}: {status} {body}"
        );
        Ok((took, body["id"].as_str().context("no id")?.to_string()))
    }

    /// Stops every session in `ids` (at most `parallel` requests at once).
    async fn stop_all(self: &Arc<Self>, ids: &[String], parallel: usize) -> anyhow::Result<()> {
        let gate = Arc::new(Semaphore::new(parallel));
        let mut tasks = Vec::new();
        for id in ids {
            let me = Arc::clone(self);
            let id = id.clone();
            let permit = Arc::clone(&gate).acquire_owned().await?;
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let (status, body) = me
                    .post(&format!("/v1/sessions/{id}/stop"), &json!({}))
                    .await?;
                ensure!(status == 202, "stop {id}: {status} {body}");
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    }

    /// Waits until every session in `ids` is in `state` (read from the store, which is what
    /// the API answers from).
    async fn wait_state(&self, ids: &[String], state: SessionState) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut left: Vec<SessionId> = ids
            .iter()
            .map(|i| SessionId::parse(i.as_str()))
            .collect::<Result<_, _>>()?;
        while !left.is_empty() {
            let mut still = Vec::new();
            for id in left {
                let s = self.shared.stores.sessions.get_session(&id).await?;
                if s.state == SessionState::Failed {
                    bail!(
                        "session {id} failed: {:?} {:?}",
                        s.failure,
                        s.failure_detail
                    );
                }
                if s.state != state {
                    still.push(id);
                }
            }
            left = still;
            if !left.is_empty() {
                ensure!(
                    Instant::now() < deadline,
                    "{} sessions never reached {}",
                    left.len(),
                    state.as_str()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

struct Latency {
    to_202: Histogram<u64>,
    to_charging: Histogram<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?)
}

async fn latency_phase(bench: &Arc<Bench>, args: &Args) -> anyhow::Result<Latency> {
    let to_202 = Arc::new(std::sync::Mutex::new(histogram()?));
    let to_charging = Arc::new(std::sync::Mutex::new(histogram()?));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    // A few unmeasured starts warm the connections and caches.
    for _ in 0..args.concurrency {
        let (bench, next, to_202, to_charging, ids) = (
            Arc::clone(bench),
            Arc::clone(&next),
            Arc::clone(&to_202),
            Arc::clone(&to_charging),
            Arc::clone(&ids),
        );
        let samples = args.samples;
        workers.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= samples {
                    return anyhow::Ok(());
                }
                let connector = connector_id(k);
                let order = format!("lat-{k}");
                let t = Instant::now();
                let (took, id) = bench.start(&connector, &order).await?;
                // The same order again, waiting for the outcome: answers once charging.
                let (status, body) = bench
                    .post(
                        "/v1/sessions",
                        &json!({"connector_id": connector, "partner_order_id": order, "wait_s": 30}),
                    )
                    .await?;
                let charging = t.elapsed();
                ensure!(
                    status == 200 && body["status"] == "charging",
                    "{connector}: {status} {body}"
                );
                let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
                if k >= samples.min(10) || samples <= 10 {
                    to_202.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.record(us(took))?;
                    to_charging
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .record(us(charging))?;
                }
                ids.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(id);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let ids: Vec<String> = ids.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    bench.stop_all(&ids, 50).await?;
    bench.wait_state(&ids, SessionState::Completed).await?;
    println!(
        "  latency phase: {} sessions started, charged and completed",
        ids.len()
    );
    let take = |h: &Arc<std::sync::Mutex<Histogram<u64>>>| -> anyhow::Result<Histogram<u64>> {
        Ok(h.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone())
    };
    Ok(Latency {
        to_202: take(&to_202)?,
        to_charging: take(&to_charging)?,
    })
}

struct Many {
    started: Duration,
    charging: Duration,
    start_latency: Histogram<u64>,
    meter_updates: i64,
    meter_samples: usize,
    energy_wh: f64,
    stop_sent: Duration,
    completed: Duration,
    verified: usize,
    transactions_stopped: u64,
    events: usize,
}

async fn concurrent_phase(
    bench: &Arc<Bench>,
    fleets: &[&Fleet],
    args: &Args,
) -> anyhow::Result<Many> {
    let offset = args.samples;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..args.sessions {
        let bench = Arc::clone(bench);
        tasks.push(tokio::spawn(async move {
            bench
                .start(&connector_id(offset + k), &format!("many-{k}"))
                .await
        }));
    }
    let mut ids = Vec::with_capacity(args.sessions);
    let mut start_latency = histogram()?;
    for t in tasks {
        let (took, id) = t.await??;
        start_latency.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
        ids.push(id);
    }
    let started = t0.elapsed();
    bench.wait_state(&ids, SessionState::Charging).await?;
    let charging = t0.elapsed();

    // Meter for a while; every session's energy must come from its meter values.
    let before: Vec<i64> = versions(bench, &ids).await?;
    tokio::time::sleep(Duration::from_secs(args.meter_s)).await;
    let after: Vec<i64> = versions(bench, &ids).await?;
    let meter_updates: i64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
    for (id, (a, b)) in ids.iter().zip(after.iter().zip(&before)) {
        ensure!(a > b, "session {id} received no meter values");
    }

    let t1 = Instant::now();
    bench.stop_all(&ids, args.sessions.max(1)).await?;
    let stop_sent = t1.elapsed();
    bench.wait_state(&ids, SessionState::Completed).await?;
    let completed = t1.elapsed();

    // Nothing lost.
    let mut energy_wh = 0.0;
    let mut meter_samples = 0;
    for id in &ids {
        let s = bench
            .shared
            .stores
            .sessions
            .get_session(&SessionId::parse(id.as_str())?)
            .await?;
        let tx_id = s.transaction_id.context("completed without transaction")?;
        let tx = bench
            .shared
            .stores
            .transactions
            .get_transaction(tx_id)
            .await?;
        meter_samples += bench
            .shared
            .stores
            .transactions
            .transaction_samples(tx_id)
            .await?
            .len();
        let energy = tx.energy().context("no energy")?;
        ensure!(energy.0 > 0, "session {id} charged nothing");
        ensure!(
            s.energy == energy,
            "session {id}: energy {:?} ≠ charger's {:?}",
            s.energy,
            energy
        );
        let cost = s.cost.context("no cost")?;
        ensure!(cost.energy == energy, "session {id}: cost energy differs");
        ensure!(!s.review_required, "session {id} flagged for review");
        let cdr = bench
            .shared
            .stores
            .settlement
            .get_cdr(&openpile_core::settlement::cdr::CdrId::for_session(&s.id))
            .await
            .with_context(|| format!("session {id} has no CDR"))?;
        ensure!(
            cdr.energy == energy && cdr.total == cost.total,
            "session {id}: CDR differs from the session"
        );
        energy_wh += energy.0 as f64;
    }
    let api_view = bench.get(&format!("/v1/sessions/{}", ids[0])).await?;
    ensure!(api_view["status"] == "completed" && api_view["cost"]["final"] == true);
    let handles: Vec<_> = fleets.iter().flat_map(|f| f.handles()).collect();
    let snapshot_stopped: u64 = handles
        .iter()
        .map(|h| h.snapshot().transactions_stopped)
        .sum();
    let expected_stops = u64::try_from(args.samples + args.sessions)?;
    ensure!(
        snapshot_stopped == expected_stops,
        "chargers stopped {snapshot_stopped} transactions, expected {expected_stops}"
    );
    let queued: usize = handles
        .iter()
        .map(|h| h.snapshot().queued_transaction_messages)
        .sum();
    ensure!(queued == 0, "{queued} transaction messages still queued");
    ensure!(
        bench
            .shared
            .stores
            .sessions
            .active_sessions()
            .await?
            .is_empty(),
        "sessions left open"
    );
    let mut open = 0;
    for h in &handles {
        open += bench
            .shared
            .stores
            .transactions
            .open_transactions(&ChargerId::parse(h.id())?)
            .await?
            .len();
    }
    ensure!(open == 0, "{open} transactions left open");
    let events = check_events(bench, &ids).await?;
    Ok(Many {
        started,
        charging,
        start_latency,
        meter_updates,
        meter_samples,
        energy_wh,
        stop_sent,
        completed,
        verified: ids.len(),
        transactions_stopped: snapshot_stopped,
        events,
    })
}

async fn versions(bench: &Bench, ids: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(
            bench
                .shared
                .stores
                .sessions
                .get_session(&SessionId::parse(id.as_str())?)
                .await?
                .version,
        );
    }
    Ok(out)
}

/// Every session of the phase has its starting, started and completed event in the
/// partner's feed, in that order. Returns how many session events the feed holds.
async fn check_events(bench: &Bench, ids: &[String]) -> anyhow::Result<usize> {
    let feed = FeedKey {
        partner_id: bench.partner.clone(),
        environment: Environment::Production,
    };
    let mut after = 0;
    let mut seen: std::collections::HashMap<String, Vec<EventType>> = Default::default();
    let mut total = 0;
    loop {
        let page = bench
            .shared
            .stores
            .events
            .read_feed(
                &feed,
                &FeedQuery {
                    after,
                    limit: FeedQuery::MAX_LIMIT,
                    types: Vec::new(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading the feed: {e}"))?;
        for e in &page.events {
            if let Some(id) = e.subject.strip_prefix("session:") {
                total += 1;
                seen.entry(id.to_string()).or_default().push(e.event_type);
            }
        }
        if page.events.is_empty() || page.next_after >= page.last_seq {
            break;
        }
        after = page.next_after;
    }
    for id in ids {
        let types: Vec<EventType> = seen
            .get(id)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|t| *t != EventType::SessionUpdated)
                    .collect()
            })
            .unwrap_or_default();
        ensure!(
            types
                == [
                    EventType::SessionStarting,
                    EventType::SessionStarted,
                    EventType::SessionCompleted
                ],
            "session {id}: events {types:?}"
        );
    }
    Ok(total)
}
