//! Load benchmark of the Open API: starts the server in-process on a temporary SQLite file with
//! 2,000 stations (2 chargers × 2 connectors each), then drives it over loopback HTTP with
//! concurrent clients and reports requests/s and latency percentiles for token issue,
//! `GET /v1/stations?limit=100` (walking every page) and `GET /v1/connector-statuses` (one
//! station's connectors; and the same while 200 statuses a second change underneath).
//!
//! `cargo bench -p openpile-api --bench bench_api` (about a minute); add `-- --smoke` for a
//! run of a few seconds (CI). Server and load driver share the machine's cores, so the figures
//! are a floor for the server alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use openpile_api::crypto::{ApiCrypto, PasswordCost};
use openpile_api::ratelimit::PublicLimits;
use openpile_api::{ApiState, router};
use openpile_core::clock::SystemClock;
use openpile_core::ids::{ConnectorNumber, UuidV7Ids};
use openpile_core::network::OpeningHours;
use openpile_core::partner::application::ApplicationInput;
use openpile_core::partner::catalog::Catalog;
use openpile_core::partner::contract::{
    Contract, RateLimit, RevenueShare, SettlementCycle, StationScope,
};
use openpile_core::partner::credential::ScopeSet;
use openpile_core::partner::service::{PartnerConfig, PartnerService};
use openpile_core::ports::{ChargerStore, ReportedStatus};
use openpile_core::status::ChargePointStatus;
use openpile_store_contract::fixtures;
use openpile_store_sqlite::SqliteStore;

const STATIONS: usize = 2_000;
const CONCURRENCY: usize = 32;

struct Scenario {
    name: &'static str,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

impl Scenario {
    fn report(&self) {
        let h = &self.histogram;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<44} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   p99.9 {:>6.2} ms   max {:>7.2} ms   ({} requests, {} errors)",
            self.name,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            ms(0.50),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0,
            self.requests,
            self.errors,
        );
    }
}

/// Runs `make_request` from `CONCURRENCY` tasks for `duration` (after a short warm-up).
async fn drive<F, Fut>(name: &'static str, duration: Duration, make_request: F) -> Scenario
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make_request = Arc::new(make_request);
    let warmup = duration / 5;
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let make_request = make_request.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut n, mut errors, mut i) = (0u64, 0u64, 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = make_request(worker, i).await;
                i += 1;
                if t0 >= measure_from {
                    h.record(t0.elapsed().as_micros() as u64).unwrap();
                    n += 1;
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (h, n, errors)
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut requests, mut errors) = (0, 0);
    for t in tasks {
        let (h, n, e) = t.await.unwrap();
        histogram.add(h).unwrap();
        requests += n;
        errors += e;
    }
    Scenario {
        name,
        requests,
        errors,
        elapsed: duration,
        histogram,
    }
}

/// The `next_cursor` of a list page (cursors are base64url: no escapes to undo).
fn next_cursor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"next_cursor\":\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = body[at..].iter().position(|&b| b == b'"')?;
    String::from_utf8(body[at..at + len].to_vec()).ok()
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(smoke));
}

async fn run(smoke: bool) {
    let duration = if smoke {
        Duration::from_millis(600)
    } else {
        Duration::from_secs(10)
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let t = Instant::now();
    let mut batch = fixtures::network(STATIONS, 2, 2);
    for s in &mut batch.stations {
        s.opening_hours = OpeningHours::AlwaysOpen;
    }
    fixtures::seed(&store, &batch).await;
    println!(
        "seeded {STATIONS} stations, {} chargers, {} connectors in {:.2} s",
        batch.chargers.len(),
        batch.connectors.len(),
        t.elapsed().as_secs_f64()
    );

    let clock = Arc::new(SystemClock);
    let partners = Arc::new(PartnerService::new(
        Arc::new(store.clone()),
        Arc::new(ApiCrypto::new(PasswordCost::Light)),
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
    let t = Instant::now();
    catalog.refresh().await.unwrap();
    println!(
        "catalog loaded in {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    // A partner with every station in scope and a limit the benchmark does not reach.
    let submitted = partners
        .apply(
            &ApplicationInput {
                company_name: "压测平台有限公司".into(),
                unified_social_credit_code: "91440300708461136T".into(),
                legal_representative: "王五".into(),
                contact_name: "李四".into(),
                mobile: "13800138000".into(),
                email: "bench@example.com".into(),
                website: None,
                intended_use: "benchmark".into(),
                expected_monthly_volume: 1,
                callback_base_url: "https://bench.example.com".into(),
            },
            "correct horse battery staple",
        )
        .await
        .unwrap();
    let approved = partners
        .approve(
            &submitted.application.id,
            None,
            Contract {
                station_scope: StationScope::All,
                revenue_share: RevenueShare::new(rust_decimal::Decimal::ZERO).unwrap(),
                rate_limit: RateLimit::new(RateLimit::MAX_RPS, RateLimit::MAX_RPS).unwrap(),
                settlement_cycle: SettlementCycle::Monthly,
                scopes: ScopeSet::all(),
            },
            "bench",
        )
        .await
        .unwrap();
    let partner_id = approved.partner.id.clone();
    let client_id = approved.production_client_id.to_string();
    let secret = partners
        .rotate_secret(&partner_id, &client_id, None)
        .await
        .unwrap()
        .client_secret;
    let token = partners
        .issue_token(&client_id, &secret, None)
        .await
        .unwrap()
        .access_token;

    tokio::spawn(openpile_api::keep_catalog_fresh(
        catalog.clone(),
        Duration::from_millis(50),
    ));
    let state = ApiState::new(partners, catalog, clock, PublicLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    println!(
        "{} concurrent clients, {} s per scenario{}\n",
        CONCURRENCY,
        duration.as_secs_f64(),
        if smoke { " (smoke)" } else { "" }
    );

    let mut results = Vec::new();

    // Token issue: SHA-256 of the secret, one credential read, one token insert.
    {
        let (http, base) = (http.clone(), base.clone());
        let form =
            format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
        results.push(
            drive("POST /oauth/token", duration, move |_, _| {
                let (http, base, form) = (http.clone(), base.clone(), form.clone());
                async move {
                    http.post(format!("{base}/oauth/token"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
            .await,
        );
    }

    // Station pages of 100, each client walking the whole list with cursors.
    {
        let cursors: Arc<Vec<std::sync::Mutex<Option<String>>>> = Arc::new(
            (0..CONCURRENCY)
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
        );
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        results.push(
            drive(
                "GET /v1/stations?limit=100 (all pages)",
                duration,
                move |w, _| {
                    let (http, base, token, cursors) =
                        (http.clone(), base.clone(), token.clone(), cursors.clone());
                    async move {
                        let cursor = cursors[w].lock().unwrap().clone();
                        let url = match cursor {
                            Some(c) => format!("{base}/v1/stations?limit=100&cursor={c}"),
                            None => format!("{base}/v1/stations?limit=100"),
                        };
                        let Ok(r) = http.get(url).bearer_auth(&token).send().await else {
                            return false;
                        };
                        if !r.status().is_success() {
                            return false;
                        }
                        let Ok(body) = r.bytes().await else {
                            return false;
                        };
                        // Parsing 300 KB pages into a JSON tree would cost the (shared) CPU more
                        // than serving them: find the cursor by its key instead.
                        *cursors[w].lock().unwrap() = next_cursor(&body);
                        body.len() > 1000
                    }
                },
            )
            .await,
        );
    }

    let statuses = |name: &'static str| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        drive(name, duration, move |w, i| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let station =
                fixtures::network_station(1 + (w * 7919 + i as usize * 104_729) % STATIONS);
            async move {
                let Ok(r) = http
                    .get(format!("{base}/v1/connector-statuses?station_id={station}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                else {
                    return false;
                };
                r.status().is_success() && r.bytes().await.is_ok()
            }
        })
    };
    results.push(statuses("GET /v1/connector-statuses?station_id=…").await);

    // The same while chargers report 200 status changes a second (each one a store write and,
    // within 50 ms, a background catalog refresh of that station).
    let churning = Arc::new(AtomicBool::new(true));
    let churn = {
        let (store, churning) = (store.clone(), churning.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut n = 0usize;
            while churning.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let charger = fixtures::network_charger(1 + n % STATIONS, 1 + n % 2);
                let status = if n.is_multiple_of(3) {
                    ChargePointStatus::Charging
                } else {
                    ChargePointStatus::Available
                };
                let _ = store
                    .record_status(
                        &fixtures::charger_id(&charger),
                        &ReportedStatus {
                            connector: Some(ConnectorNumber::new(1).unwrap()),
                            status,
                            error: None,
                            at: Utc::now(),
                        },
                    )
                    .await;
            }
            n
        })
    };
    results.push(statuses("  … with 200 status changes/s").await);
    churning.store(false, Ordering::Relaxed);
    let changes = churn.await.unwrap();

    println!();
    for r in &results {
        r.report();
    }
    println!("\n(status changes written during the churn run: {changes})");
    if results.iter().any(|r| r.errors > 0 || r.requests == 0) {
        eprintln!("some requests failed");
        std::process::exit(1);
    }
}
