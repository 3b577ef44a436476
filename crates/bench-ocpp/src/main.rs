//! `bench-ocpp`: the OCPP 1.6J benchmark of issue 3. One load driver (Rust, one task per
//! charger, open-loop rate, HdrHistogram latencies) is run against OpenPile and against the
//! ocpp-rpc peer in turn, each server in its own process so that its CPU time and memory can
//! be read from /proc. Phases per server:
//!
//! 1. connect N chargers (boot + StatusNotification for connectors 0..M), hold them idle and
//!    read the server's memory per idle charger above its baseline;
//! 2. open-loop load: `active` chargers start a transaction, then send a Heartbeat /
//!    StatusNotification / MeterValues mix at `rate` messages per second for `duration`;
//!    server CPU per message and latency percentiles;
//! 3. reconnect storm: `storm` chargers lose their connection at once, then all reconnect,
//!    boot and report a status; time until all are back and (OpenPile) until the database
//!    shows every reported status.
//!
//! `--smoke` runs small sizes in seconds and fails (exit 1) if anything did not work, for CI.
//! See bench/README.md for prerequisites and figures.

mod driver;
mod proc_stats;
mod report;
mod targets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use openpile_core::status::ConnectorStatus;
use openpile_secrets::HashCost;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::driver::{Charger, Cmd, Counters, Schedule, Series, Shared};
use crate::report::{Outcome, Percentiles, Targets};
use crate::targets::{OpenPileOptions, Server};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    Openpile,
    OcppRpc,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Cost {
    /// argon2id 1 MiB / 1 pass for the benchmark chargers' passwords.
    Light,
    /// What `openpile import` uses for real chargers (19 MiB / 2 passes).
    Standard,
}

/// OCPP 1.6J benchmark: OpenPile and the ocpp-rpc peer under the same load driver.
#[derive(Debug, Parser)]
#[command(name = "bench-ocpp")]
struct Args {
    /// Which servers to measure.
    #[arg(long, value_enum, default_value = "both")]
    target: Target,
    /// Chargers to connect and hold.
    #[arg(long, default_value_t = 19_000)]
    chargers: usize,
    /// Connectors per charger.
    #[arg(long, default_value_t = 1)]
    connectors: u32,
    /// Chargers that run the open-loop message mix.
    #[arg(long, default_value_t = 1_000)]
    active: usize,
    /// Open-loop rate, messages per second over all active chargers.
    #[arg(long, default_value_t = 5_000)]
    rate: u32,
    /// Length of the load phase, seconds.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Chargers in the reconnect storm.
    #[arg(long, default_value_t = 10_000)]
    storm: usize,
    /// How long the storm may take before it counts as failed, seconds.
    #[arg(long, default_value_t = 120)]
    storm_limit_s: u64,
    /// Connection attempts in flight while connecting the fleet.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Spread connections over 127.0.0.1..=127.0.0.N.
    #[arg(long, default_value_t = 4)]
    source_addrs: u8,
    /// Idle time before memory is read, seconds.
    #[arg(long, default_value_t = 10)]
    settle_s: u64,
    /// Small sizes, seconds long, failing on any error (for CI).
    #[arg(long)]
    smoke: bool,
    /// The `openpile` binary (default: next to this one).
    #[arg(long)]
    openpile_bin: Option<PathBuf>,
    /// Directory with ocpp-rpc-central-system.js and node_modules (see bench/README.md).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/peer"))]
    peer_dir: PathBuf,
    /// Hash cost of the benchmark chargers' OCPP passwords.
    #[arg(long, value_enum, default_value = "light")]
    hash_cost: Cost,
    /// OpenPile's log filter during the run.
    #[arg(long, default_value = "warn,openpile_server::startup=info")]
    log_filter: String,
    /// Extra environment variable for the OpenPile server, KEY=VALUE (repeatable), e.g.
    /// `--openpile-env OPENPILE__OCPP__HEARTBEAT_INTERVAL_S=600`.
    #[arg(long, value_parser = parse_env_pair)]
    openpile_env: Vec<(String, String)>,
    /// Do not send Heartbeats from idle chargers.
    #[arg(long)]
    no_idle_heartbeats: bool,
    /// Where server logs are kept.
    #[arg(long, default_value = "target/bench-ocpp")]
    log_dir: PathBuf,
    /// Seconds a charger waits for an answer.
    #[arg(long, default_value_t = 30)]
    call_timeout_s: u64,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    Ok((k.to_owned(), v.to_owned()))
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.smoke {
            self.chargers = self.chargers.min(200);
            self.active = self.active.min(50);
            self.rate = self.rate.min(500);
            self.duration_s = self.duration_s.min(3);
            self.storm = self.storm.min(100);
            self.settle_s = self.settle_s.min(1);
            self.storm_limit_s = self.storm_limit_s.min(30);
        }
        self.active = self.active.min(self.chargers);
        self.storm = self.storm.min(self.chargers);
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    args.apply_smoke();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark; `Ok(false)` when something did not work (not when a figure misses its
/// target: that is reported in the table).
async fn run(args: Args) -> anyhow::Result<bool> {
    if let Some((soft, hard)) = proc_stats::open_files_limit() {
        let need = u64::try_from(args.chargers).unwrap_or(u64::MAX) + 100;
        if soft < need {
            eprintln!(
                "warning: open-files limit {soft} (hard {hard}) < {need} needed for {} chargers; run `ulimit -n {hard}` first",
                args.chargers
            );
        }
    }
    println!(
        "bench-ocpp: {} chargers × {} connector(s), load {} msg/s from {} chargers for {} s, storm {}{}",
        args.chargers,
        args.connectors,
        args.rate,
        args.active,
        args.duration_s,
        args.storm,
        if args.smoke { " (smoke)" } else { "" }
    );
    let ids: Vec<String> = (0..args.chargers)
        .map(|i| format!("BENCH-{i:06}"))
        .collect();
    let mut outcomes = Vec::new();
    if matches!(args.target, Target::Openpile | Target::Both) {
        let binary = match &args.openpile_bin {
            Some(b) => b.clone(),
            None => sibling_openpile()?,
        };
        anyhow::ensure!(
            binary.is_file(),
            "{} not found: build it (cargo build --release -p openpile-server) or pass --openpile-bin",
            binary.display()
        );
        let opts = OpenPileOptions {
            binary,
            log_filter: args.log_filter.clone(),
            env: args.openpile_env.clone(),
            hash_cost: match args.hash_cost {
                Cost::Light => HashCost::Light,
                Cost::Standard => HashCost::Standard,
            },
        };
        println!(
            "provisioning {} chargers into a fresh SQLite database…",
            ids.len()
        );
        let t = Instant::now();
        let server = Server::openpile(
            &opts,
            &ids,
            args.connectors,
            "bench-ocpp-password",
            args.source_addrs,
            &args.log_dir,
        )
        .await?;
        println!(
            "provisioned in {:.1} s; OpenPile pid {} on {}",
            t.elapsed().as_secs_f64(),
            server.pid(),
            server.endpoint.addr
        );
        outcomes.push(measure(&args, server, &ids).await?);
    }
    if matches!(args.target, Target::OcppRpc | Target::Both) {
        if ensure_peer(&args.peer_dir)? {
            let server = Server::ocpp_rpc(&args.peer_dir, args.source_addrs, &args.log_dir)?;
            println!("ocpp-rpc pid {} on {}", server.pid(), server.endpoint.addr);
            outcomes.push(measure(&args, server, &ids).await?);
        } else {
            eprintln!(
                "\n!!! SKIPPING the ocpp-rpc peer: node/npm or the ocpp-rpc package is missing (see bench/README.md) !!!\n"
            );
        }
    }
    let targets = Targets {
        chargers: 19_000,
        kib_per_charger: 12.0,
        p99_ms: 20.0,
        storm_s: 60,
    };
    println!();
    print!(
        "{}",
        report::table(&outcomes, &targets, args.rate, !args.smoke)
    );
    let worked = outcomes.iter().all(|o| {
        o.connected == o.chargers
            && o.held_after_settle == o.chargers
            && o.load_failures == 0
            && o.storm_reconnected == o.storm_chargers
            && o.storm_wrong_statuses.unwrap_or(0) == 0
            && o.call_errors == 0
            && o.timeouts == 0
    });
    if !worked {
        println!("\nFAILED: not every charger connected, answered and came back (see above).");
    }
    Ok(worked)
}

/// The `openpile` binary next to this one. Under `cargo run` (CARGO is set) it is built
/// first, in the same profile, so that it is never older than the benchmark (which applies
/// the same migrations to the database it provisions).
fn sibling_openpile() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name("openpile");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = exe
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| d == "release");
        let mut cmd = std::process::Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "openpile-server",
            "--bin",
            "openpile",
        ]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status()?;
        anyhow::ensure!(status.success(), "building the openpile binary failed");
    }
    Ok(binary)
}

/// Whether the ocpp-rpc peer can run; installs its package with `npm ci` when it is missing.
/// An absent node/npm is a skip, except under CI=true, where it is an error.
fn ensure_peer(dir: &std::path::Path) -> anyhow::Result<bool> {
    if dir.join("node_modules/ocpp-rpc").is_dir() {
        return Ok(true);
    }
    let installed = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(true);
    }
    anyhow::ensure!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and the ocpp-rpc peer cannot be installed in {} (node and npm are needed)",
        dir.display()
    );
    Ok(false)
}

/// Latency histograms filled by a collector task from the chargers' samples.
#[derive(Clone)]
struct Histograms(Arc<Mutex<HashMap<&'static str, Histogram<u64>>>>);

impl Histograms {
    fn key(s: Series) -> &'static str {
        match s {
            Series::Connect => "connect",
            Series::Load => "load",
        }
    }

    fn start(mut rx: mpsc::UnboundedReceiver<(Series, u64)>) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        for s in [Series::Connect, Series::Load] {
            // 1 µs .. 10 min, 3 significant digits.
            map.insert(Self::key(s), Histogram::new_with_bounds(1, 600_000_000, 3)?);
        }
        let h = Self(Arc::new(Mutex::new(map)));
        let inner = h.clone();
        tokio::spawn(async move {
            while let Some((series, us)) = rx.recv().await {
                if let Ok(mut m) = inner.0.lock()
                    && let Some(h) = m.get_mut(Self::key(series))
                {
                    h.saturating_record(us.max(1));
                }
            }
        });
        Ok(h)
    }

    fn percentiles(&self, s: Series) -> Percentiles {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(Self::key(s)).map(Percentiles::of))
            .unwrap_or_default()
    }
}

/// Sends a command built by `make` to each charger, at most `concurrency` outstanding, and
/// returns the failures (charger id, reason).
async fn fan_out<T, F>(
    chargers: &[&Charger],
    concurrency: usize,
    make: F,
) -> Vec<(String, anyhow::Error)>
where
    T: Send + 'static,
    F: Fn(oneshot::Sender<anyhow::Result<T>>, usize) -> Cmd,
{
    let jobs = chargers.iter().enumerate().map(|(i, c)| {
        let (tx, rx) = oneshot::channel();
        let cmd = make(tx, i);
        async move {
            if c.tx.send(cmd).await.is_err() {
                return Some((c.id.clone(), anyhow::anyhow!("charger task ended")));
            }
            match rx.await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some((c.id.clone(), e)),
                Err(_) => Some((c.id.clone(), anyhow::anyhow!("charger task ended"))),
            }
        }
    });
    futures_util::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
}

fn summarize(failures: &[(String, anyhow::Error)]) -> String {
    let mut by_reason: HashMap<String, usize> = HashMap::new();
    for (_, e) in failures {
        *by_reason.entry(format!("{e:#}")).or_default() += 1;
    }
    let mut v: Vec<_> = by_reason.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v.iter()
        .take(3)
        .map(|(r, n)| format!("{n}× {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn measure(args: &Args, server: Server, ids: &[String]) -> anyhow::Result<Outcome> {
    let name = server.name;
    let mut out = Outcome {
        name,
        chargers: ids.len(),
        ..Outcome::default()
    };
    let driver_cpu0 = proc_stats::sample(std::process::id(), proc_stats::ticks_per_second())?.cpu;
    let baseline = server.sample()?;
    out.baseline_rss = baseline.rss;

    let (lat_tx, lat_rx) = mpsc::unbounded_channel();
    let histograms = Histograms::start(lat_rx)?;
    let shared = Arc::new(Shared {
        endpoint: server.endpoint.clone(),
        counters: Counters::default(),
        call_timeout: Duration::from_secs(args.call_timeout_s),
        idle_heartbeats: !args.no_idle_heartbeats,
        latencies: lat_tx,
    });
    let chargers: Vec<Charger> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| driver::spawn_charger(shared.clone(), i, id.clone(), args.connectors))
        .collect();
    let all: Vec<&Charger> = chargers.iter().collect();

    // 1. Connect and hold.
    println!("[{name}] connecting {} chargers…", ids.len());
    let t = Instant::now();
    let failures = fan_out(&all, args.connect_concurrency, |tx, _| Cmd::Connect(tx)).await;
    out.connect_time = t.elapsed();
    out.connect_failures = failures.len();
    out.connected = ids.len() - failures.len();
    out.connect_latency = histograms.percentiles(Series::Connect);
    if !failures.is_empty() {
        out.errors
            .push(format!("connect: {}", summarize(&failures)));
    }
    println!(
        "[{name}] {} connected in {:.1} s; idling {} s",
        out.connected,
        out.connect_time.as_secs_f64(),
        args.settle_s
    );
    let idle0 = server.sample()?;
    tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
    let idle1 = server.sample()?;
    out.idle_rss = idle1.rss;
    out.idle_cpu_per_s = (idle1.cpu.saturating_sub(idle0.cpu)).div_f64(args.settle_s.max(1) as f64);
    out.held_after_settle = shared.counters.connected.load(Ordering::Relaxed);

    // 2. Open-loop load.
    let active: Vec<&Charger> = chargers.iter().take(args.active).collect();
    let failures = fan_out(&active, args.connect_concurrency, |tx, _| Cmd::StartTx(tx)).await;
    if !failures.is_empty() {
        out.errors
            .push(format!("start transaction: {}", summarize(&failures)));
    }
    println!(
        "[{name}] load: {} msg/s from {} chargers for {} s",
        args.rate,
        active.len(),
        args.duration_s
    );
    let period = Duration::from_secs_f64(active.len() as f64 / f64::from(args.rate.max(1)));
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(args.duration_s);
    let n_active = active.len().max(1);
    let ticks = proc_stats::ticks_per_second();
    let cpu0 = server.sample()?.cpu;
    let driver0 = proc_stats::sample(std::process::id(), ticks)?.cpu;
    let busy0 = proc_stats::machine_busy(ticks);
    let answered0 = shared.counters.answered.load(Ordering::Relaxed);
    let failures = fan_out(&active, active.len(), |tx, i| {
        // Spread the chargers' first messages evenly over one period.
        let first = start + period.mul_f64(i as f64 / n_active as f64);
        Cmd::Load(Schedule { first, period, end }, tx)
    })
    .await;
    let load_elapsed = start.elapsed();
    let cpu1 = server.sample()?.cpu;
    let driver1 = proc_stats::sample(std::process::id(), ticks)?.cpu;
    if let (Some(b0), Some(b1)) = (busy0, proc_stats::machine_busy(ticks)) {
        out.load_other_cpu = b1
            .saturating_sub(b0)
            .saturating_sub(cpu1.saturating_sub(cpu0))
            .saturating_sub(driver1.saturating_sub(driver0));
    }
    // Every answer in the window counts, idle heartbeats included: the server did that work.
    out.load_messages = shared.counters.answered.load(Ordering::Relaxed) - answered0;
    out.load_seconds = load_elapsed.as_secs_f64();
    out.load_cpu = cpu1.saturating_sub(cpu0);
    out.load_latency = histograms.percentiles(Series::Load);
    out.load_failures = failures.len();
    if !failures.is_empty() {
        out.errors.push(format!("load: {}", summarize(&failures)));
    }
    let failures = fan_out(&active, args.connect_concurrency, |tx, _| Cmd::StopTx(tx)).await;
    if !failures.is_empty() {
        out.errors
            .push(format!("stop transaction: {}", summarize(&failures)));
    }

    // 3. Reconnect storm: drop the last `storm` chargers' links, then bring all back at once.
    let storm: Vec<&Charger> = chargers.iter().rev().take(args.storm).collect();
    out.storm_chargers = storm.len();
    println!(
        "[{name}] storm: {} chargers drop and reconnect at once",
        storm.len()
    );
    let failures = fan_out(&storm, storm.len(), |tx, _| Cmd::Abort(tx)).await;
    if !failures.is_empty() {
        out.errors
            .push(format!("storm abort: {}", summarize(&failures)));
    }
    // Odd chargers come back Unavailable, even ones Available: both differ from what the
    // server should have recorded for a dropped link (offline).
    let expected: HashMap<String, ConnectorStatus> = storm
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = if i % 2 == 1 {
                ConnectorStatus::Unavailable
            } else {
                ConnectorStatus::Available
            };
            (c.id.clone(), s)
        })
        .collect();
    let cpu_s0 = server.sample()?.cpu;
    let t = Instant::now();
    let deadline = t + Duration::from_secs(args.storm_limit_s);
    let failures = fan_out(&storm, storm.len(), |done, i| Cmd::Reconnect {
        status: if i % 2 == 1 {
            "Unavailable"
        } else {
            "Available"
        },
        deadline,
        done,
    })
    .await;
    out.storm_reconnected = storm.len() - failures.len();
    if failures.is_empty() {
        out.storm_driver_time = Some(t.elapsed());
    } else {
        out.errors.push(format!("storm: {}", summarize(&failures)));
    }
    if server.is_openpile() {
        loop {
            let wrong = server.status_mismatches(&expected).await?;
            out.storm_wrong_statuses = wrong;
            if wrong == Some(0) {
                out.storm_db_time = Some(t.elapsed());
                break;
            }
            if Instant::now() >= deadline {
                out.errors.push(format!(
                    "storm: {} chargers' statuses still wrong in the database after {} s",
                    wrong.unwrap_or(0),
                    args.storm_limit_s
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    out.storm_cpu = server.sample()?.cpu.saturating_sub(cpu_s0);

    let c = &shared.counters;
    out.call_errors = c.call_errors.load(Ordering::Relaxed);
    out.timeouts = c.timeouts.load(Ordering::Relaxed);
    out.unexpected_closes = c.unexpected_closes.load(Ordering::Relaxed);
    out.driver_cpu = proc_stats::sample(std::process::id(), proc_stats::ticks_per_second())?
        .cpu
        .saturating_sub(driver_cpu0);
    println!("[{name}] done; server log: {}", server.log.display());
    drop(chargers);
    drop(server);
    // Let the dropped chargers' sockets close before the next server starts.
    tokio::task::yield_now().await;
    Ok(out)
}
