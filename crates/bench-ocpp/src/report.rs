//! What one run measured, per server, and the table that prints it side by side.

use std::fmt::Write as _;
use std::time::Duration;

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Everything measured against one server.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub name: &'static str,
    // Connections.
    pub chargers: usize,
    pub connected: usize,
    pub connect_time: Duration,
    pub connect_failures: usize,
    pub connect_latency: Percentiles,
    pub held_after_settle: usize,
    pub baseline_rss: u64,
    pub idle_rss: u64,
    pub idle_cpu_per_s: Duration,
    // Load.
    pub load_messages: u64,
    pub load_seconds: f64,
    pub load_cpu: Duration,
    pub load_latency: Percentiles,
    pub load_failures: usize,
    /// CPU time of other processes (not the server, not the driver) during the load window:
    /// noise from whatever else ran on the machine.
    pub load_other_cpu: Duration,
    // Storm.
    pub storm_chargers: usize,
    pub storm_reconnected: usize,
    pub storm_driver_time: Option<Duration>,
    /// OpenPile only: until every stormed charger's connectors had the reported status in
    /// the database.
    pub storm_db_time: Option<Duration>,
    pub storm_wrong_statuses: Option<usize>,
    pub storm_cpu: Duration,
    // Whole run.
    pub call_errors: u64,
    pub timeouts: u64,
    pub unexpected_closes: u64,
    pub driver_cpu: Duration,
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn memory_per_charger(&self) -> Option<f64> {
        (self.held_after_settle > 0).then(|| {
            self.idle_rss.saturating_sub(self.baseline_rss) as f64 / self.held_after_settle as f64
        })
    }

    pub fn cpu_per_message_us(&self) -> Option<f64> {
        (self.load_messages > 0)
            .then(|| self.load_cpu.as_secs_f64() * 1e6 / self.load_messages as f64)
    }

    pub fn achieved_rate(&self) -> f64 {
        if self.load_seconds > 0.0 {
            self.load_messages as f64 / self.load_seconds
        } else {
            0.0
        }
    }
}

/// The targets of issue 3, checked in the table.
pub struct Targets {
    pub chargers: usize,
    pub kib_per_charger: f64,
    pub p99_ms: f64,
    pub storm_s: u64,
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// The side-by-side table (first column OpenPile when both ran), with ratios and, when
/// `judge` (not for smoke runs, whose sizes mean nothing), OpenPile's figures against the
/// targets.
pub fn table(outcomes: &[Outcome], targets: &Targets, rate: u32, judge: bool) -> String {
    let mut rows: Vec<(String, Vec<String>, String)> = Vec::new();
    let row = |label: &str, f: &dyn Fn(&Outcome) -> String, check: String| {
        (
            label.to_owned(),
            outcomes.iter().map(f).collect::<Vec<_>>(),
            check,
        )
    };
    let op = outcomes.iter().find(|o| o.name == "OpenPile");
    let judged = op.filter(|_| judge);
    rows.push(row(
        "chargers connected + booted",
        &|o| format!("{}/{}", o.connected, o.chargers),
        judged.map_or_else(String::new, |o| {
            if o.chargers < targets.chargers {
                format!("target {} (run with --chargers {0})", targets.chargers)
            } else {
                format!(
                    "target {}: {}",
                    targets.chargers,
                    verdict(o.held_after_settle >= targets.chargers)
                )
            }
        }),
    ));
    rows.push(row(
        "still held after settling",
        &|o| o.held_after_settle.to_string(),
        String::new(),
    ));
    rows.push(row(
        "time to connect all",
        &|o| format!("{:.1} s", o.connect_time.as_secs_f64()),
        String::new(),
    ));
    rows.push(row(
        "connect+boot latency p50 / p99",
        &|o| {
            format!(
                "{} / {}",
                ms(o.connect_latency.p50),
                ms(o.connect_latency.p99)
            )
        },
        String::new(),
    ));
    rows.push(row(
        "server RSS: baseline → idle",
        &|o| {
            format!(
                "{:.1} → {:.1} MiB",
                o.baseline_rss as f64 / 1048576.0,
                o.idle_rss as f64 / 1048576.0
            )
        },
        String::new(),
    ));
    rows.push(row(
        "memory per idle charger",
        &|o| {
            o.memory_per_charger()
                .map_or_else(|| "—".into(), |b| format!("{:.1} KiB", b / 1024.0))
        },
        judged
            .and_then(Outcome::memory_per_charger)
            .map_or_else(String::new, |b| {
                format!(
                    "target ≤ {} KiB: {}",
                    targets.kib_per_charger,
                    verdict(b / 1024.0 <= targets.kib_per_charger)
                )
            }),
    ));
    rows.push(row(
        "server CPU while idle",
        &|o| format!("{:.1} ms/s", o.idle_cpu_per_s.as_secs_f64() * 1000.0),
        String::new(),
    ));
    rows.push(row(
        &format!("open-loop load (asked {rate} msg/s)"),
        &|o| format!("{:.0} msg/s, {} msgs", o.achieved_rate(), o.load_messages),
        String::new(),
    ));
    rows.push(row(
        "server CPU per message",
        &|o| {
            o.cpu_per_message_us()
                .map_or_else(|| "—".into(), |us| format!("{us:.1} µs"))
        },
        String::new(),
    ));
    rows.push(row(
        "other processes' CPU during load",
        &|o| {
            format!(
                "{:.0} ms/s",
                o.load_other_cpu.as_secs_f64() * 1000.0 / o.load_seconds.max(1e-9)
            )
        },
        String::new(),
    ));
    rows.push(row(
        "latency p50 / p90 (samples)",
        &|o| {
            format!(
                "{} / {} ({})",
                ms(o.load_latency.p50),
                ms(o.load_latency.p90),
                o.load_latency.count
            )
        },
        String::new(),
    ));
    rows.push(row(
        "latency p99 / p99.9 / max",
        &|o| {
            format!(
                "{} / {} / {}",
                ms(o.load_latency.p99),
                ms(o.load_latency.p999),
                ms(o.load_latency.max)
            )
        },
        judged.map_or_else(String::new, |o| {
            format!(
                "target p99 ≤ {} ms: {}",
                targets.p99_ms,
                verdict((o.load_latency.p99 as f64) / 1000.0 <= targets.p99_ms)
            )
        }),
    ));
    rows.push(row(
        "storm: reconnected + booted",
        &|o| format!("{}/{}", o.storm_reconnected, o.storm_chargers),
        String::new(),
    ));
    rows.push(row(
        "storm: all connected (driver)",
        &|o| secs(o.storm_driver_time),
        String::new(),
    ));
    rows.push(row(
        "storm: all statuses correct (DB)",
        &|o| match (o.storm_db_time, o.storm_wrong_statuses) {
            (Some(t), _) => secs(Some(t)),
            (None, Some(n)) => format!("{n} wrong"),
            (None, None) => "n/a (no store)".into(),
        },
        judged.map_or_else(String::new, |o| {
            format!(
                "target ≤ {} s: {}",
                targets.storm_s,
                verdict(
                    o.storm_db_time
                        .is_some_and(|t| t.as_secs() < targets.storm_s)
                )
            )
        }),
    ));
    rows.push(row(
        "storm: server CPU",
        &|o| format!("{:.1} s", o.storm_cpu.as_secs_f64()),
        String::new(),
    ));
    rows.push(row(
        "CALLERRORs / timeouts / dropped",
        &|o| {
            format!(
                "{} / {} / {}",
                o.call_errors, o.timeouts, o.unexpected_closes
            )
        },
        String::new(),
    ));
    rows.push(row(
        "driver CPU (whole run)",
        &|o| format!("{:.1} s", o.driver_cpu.as_secs_f64()),
        String::new(),
    ));

    let mut header = vec!["".to_owned()];
    header.extend(outcomes.iter().map(|o| o.name.to_owned()));
    header.push("target (issue 3)".into());
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|(l, cells, check)| match i {
                    0 => l.chars().count(),
                    i if i <= cells.len() => cells[i - 1].chars().count(),
                    _ => check.chars().count(),
                })
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        let _ = writeln!(out, "| {} |", padded.join(" | ").trim_end());
    };
    line(&header, &mut out);
    let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&sep, &mut out);
    for (label, cells, check) in rows {
        let mut all = vec![label];
        all.extend(cells);
        all.push(check);
        line(&all, &mut out);
    }
    if let (Some(op), Some(peer)) = (op, outcomes.iter().find(|o| o.name == "ocpp-rpc")) {
        let _ = writeln!(out);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "OpenPile ÷ ocpp-rpc: CPU per message {} (lower is better), memory per connection {}, p99 latency {}",
            ratio(op.cpu_per_message_us(), peer.cpu_per_message_us()),
            ratio(op.memory_per_charger(), peer.memory_per_charger()),
            ratio(
                Some(op.load_latency.p99 as f64),
                Some(peer.load_latency.p99 as f64)
            ),
        );
    }
    for o in outcomes {
        for e in &o.errors {
            let _ = writeln!(out, "{}: {e}", o.name);
        }
    }
    out
}
