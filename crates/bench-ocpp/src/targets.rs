//! The central systems under test, each started as its own process so that its CPU time and
//! memory can be read from /proc: OpenPile (`openpile serve` on a fresh SQLite file,
//! provisioned with the benchmark's chargers through the same import code `openpile import`
//! runs) and the ocpp-rpc peer (`node ocpp-rpc-central-system.js`, STRICT=1).

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use openpile_core::page::PageRequest;
use openpile_core::ports::ConnectorFilter;
use openpile_core::status::ConnectorStatus;
use openpile_secrets::HashCost;
use openpile_server::startup::Stores;
use serde_json::{Value, json};

use crate::driver::Endpoint;
use crate::proc_stats::{self, Sample};

/// Raises the soft open-files limit of the child to the hard limit before exec: 19,000
/// connections need 19,000 descriptors in the server too.
const RAISE_NOFILE: &str = r#"ulimit -n "$(ulimit -Hn)"; exec "$0" "$@""#;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server under test.
pub struct Server {
    pub name: &'static str,
    child: Child,
    pub endpoint: Endpoint,
    /// OpenPile's store (opened next to the server, read only in practice) for checking
    /// what the server persisted; `None` for the peer, which persists nothing.
    stores: Option<Stores>,
    /// Keeps the database until the run ends.
    _dir: tempfile::TempDir,
    pub log: PathBuf,
    ticks: u64,
}

/// What OpenPile needs to be started.
pub struct OpenPileOptions {
    pub binary: PathBuf,
    pub log_filter: String,
    pub hash_cost: HashCost,
    /// Extra environment for the server (configuration experiments: `OPENPILE__…`,
    /// `MALLOC_ARENA_MAX`, …).
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time and RSS now.
    pub fn sample(&self) -> anyhow::Result<Sample> {
        proc_stats::sample(self.pid(), self.ticks)
    }

    pub fn is_openpile(&self) -> bool {
        self.stores.is_some()
    }

    /// Starts OpenPile on a fresh database holding `ids`, each with `connectors` connectors
    /// and the OCPP password `password`.
    pub async fn openpile(
        opts: &OpenPileOptions,
        ids: &[String],
        connectors: u32,
        password: &str,
        source_addrs: u8,
        log_dir: &Path,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let network = dir.path().join("network.json");
        std::fs::write(
            &network,
            network_json(ids, connectors, password).to_string(),
        )?;
        let doc = openpile_server::import::read_files(&[network])
            .map_err(|e| anyhow::anyhow!("the generated network is invalid: {e}"))?;
        let stores = Stores::open(&db).await?;
        let summary = openpile_server::import::import(&stores, doc, opts.hash_cost)
            .await
            .map_err(|e| anyhow::anyhow!("import failed: {e}"))?;
        if summary.chargers != ids.len() {
            bail!(
                "imported {} chargers, expected {}",
                summary.chargers,
                ids.len()
            );
        }
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join("openpile.log");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(RAISE_NOFILE)
            .arg(&opts.binary)
            .args([
                "--log-format",
                "json",
                "serve",
                "--http-addr",
                "127.0.0.1:0",
                "--db",
            ])
            .arg(&db)
            .env("OPENPILE__LOG__FILTER", &opts.log_filter)
            .env_remove("RUST_LOG")
            .envs(opts.env.iter().map(|(k, v)| (k, v)));
        let (mut child, line) = spawn_and_wait(cmd, &log, |line| line.contains("serving HTTP"))?;
        let Some(addr) = listen_addr(&line) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no address in the start-up line {line:?}");
        };
        Ok(Server {
            name: "OpenPile",
            child,
            endpoint: Endpoint {
                addr,
                path: "/ocpp".into(),
                password: Some(password.to_owned()),
                source_addrs,
            },
            stores: Some(stores),
            _dir: dir,
            log,
            ticks: proc_stats::ticks_per_second(),
        })
    }

    /// Starts the ocpp-rpc peer from `peer_dir` (which holds the script and node_modules).
    pub fn ocpp_rpc(peer_dir: &Path, source_addrs: u8, log_dir: &Path) -> anyhow::Result<Server> {
        let script = peer_dir.join("ocpp-rpc-central-system.js");
        if !peer_dir.join("node_modules/ocpp-rpc").is_dir() || !script.is_file() {
            bail!(
                "the ocpp-rpc peer is not installed in {}: run `npm ci` there (see bench/README.md)",
                peer_dir.display()
            );
        }
        let dir = tempfile::tempdir()?;
        // The script takes a port, not 0: pick a free one.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join("ocpp-rpc.log");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(RAISE_NOFILE)
            .arg("node")
            .arg("ocpp-rpc-central-system.js")
            .arg(port.to_string())
            .current_dir(peer_dir)
            .env("STRICT", "1");
        let (child, _) = spawn_and_wait(cmd, &log, |line| line.contains("ocpp-rpc CS on"))?;
        Ok(Server {
            name: "ocpp-rpc",
            child,
            endpoint: Endpoint {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                path: String::new(),
                password: None,
                source_addrs,
            },
            stores: None,
            _dir: dir,
            log,
            ticks: proc_stats::ticks_per_second(),
        })
    }

    /// How many of the `expected` (charger id → partner-visible status of all its
    /// connectors) do not match what OpenPile stored. `None` for the peer.
    pub async fn status_mismatches(
        &self,
        expected: &HashMap<String, ConnectorStatus>,
    ) -> anyhow::Result<Option<usize>> {
        let Some(stores) = &self.stores else {
            return Ok(None);
        };
        let mut wrong = 0;
        let mut seen = 0;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let p = stores
                .network
                .list_connectors(&ConnectorFilter::default(), &page)
                .await?;
            for c in &p.items {
                if let Some(want) = expected.get(c.connector.charger_id.as_str()) {
                    seen += 1;
                    if c.state.status != *want {
                        wrong += 1;
                    }
                }
            }
            match p.next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        if seen == 0 && !expected.is_empty() {
            bail!("none of the expected chargers' connectors is in the database");
        }
        Ok(Some(wrong))
    }
}

impl Drop for Server {
    /// Stops the server (SIGKILL: nothing is measured after this). A server never outlives
    /// the benchmark, whatever path ends the run.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with stdout and stderr going to `log` (through two reader threads), and
/// waits until a line satisfies `ready`; returns that line.
fn spawn_and_wait(
    mut cmd: Command,
    log: &Path,
    ready: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> anyhow::Result<(Child, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the server")?;
    let file = std::sync::Arc::new(std::sync::Mutex::new(std::fs::File::create(log)?));
    let ready = std::sync::Arc::new(ready);
    let (tx, rx) = std_mpsc::channel();
    let stdout = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    let stderr = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    for stream in [stdout, stderr].into_iter().flatten() {
        let (file, ready, tx) = (file.clone(), ready.clone(), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut f) = file.lock() {
                    let _ = writeln!(f, "{line}");
                }
                if ready(&line) {
                    let _ = tx.send(line);
                }
            }
        });
    }
    drop(tx);
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) => Ok((child, line)),
        Err(_) => {
            let _ = child.kill();
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            bail!("the server did not start; its output:\n{tail}")
        }
    }
}

/// The bound address from `serving HTTP` (JSON log line, or the pretty format's `addr=`).
fn listen_addr(line: &str) -> Option<SocketAddr> {
    if let Ok(v) = serde_json::from_str::<Value>(line)
        && let Some(addr) = ["/fields/addr", "/addr"]
            .iter()
            .find_map(|p| v.pointer(p).and_then(Value::as_str))
    {
        return addr.parse().ok();
    }
    let rest = &line[line.find("addr=")? + 5..];
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

/// The import file: one tariff, stations of up to 100 chargers, AC chargers with
/// `connectors` 7 kW connectors each.
fn network_json(ids: &[String], connectors: u32, password: &str) -> Value {
    let tariff = json!({
        "id": "T-BENCH", "name": "Bench flat tariff", "version": 1,
        "effective_from": "2026-01-01T00:00:00+08:00",
        "segments": [{"start": "00:00", "end": "24:00", "label": "平",
                      "electricity_price": "0.7000", "service_price": "0.6000"}]
    });
    let stations: Vec<Value> = ids
        .chunks(100)
        .enumerate()
        .map(|(s, chunk)| {
            let chargers: Vec<Value> = chunk
                .iter()
                .map(|id| {
                    let conns: Vec<Value> = (1..=connectors)
                        .map(|n| {
                            json!({"number": n, "standard": "gbt_ac", "max_power_kw": 7,
                                         "voltage_v": 220, "current_a": 32})
                        })
                        .collect();
                    json!({"id": id, "vendor": "OpenPileBench", "model": "bench-ocpp",
                           "current_type": "AC", "max_power_kw": 7, "ocpp_password": password,
                           "connectors": conns})
                })
                .collect();
            json!({
                "id": format!("BENCH-S{s:04}"), "name": format!("Bench station {s}"),
                "address": "1 Bench Road", "area_code": "310115", "province": "上海市",
                "city": "上海市", "district": "浦东新区", "lat": 31.2, "lng": 121.5,
                "opening_hours": "24/7", "service_phone": "400-000-0000",
                "tariff_id": "T-BENCH", "chargers": chargers
            })
        })
        .collect();
    json!({"tariffs": [tariff], "stations": stations})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_address_is_read_from_either_log_format() {
        let json = r#"{"timestamp":"x","level":"INFO","fields":{"message":"serving HTTP","addr":"127.0.0.1:4242"},"target":"openpile_server::startup"}"#;
        assert_eq!(
            listen_addr(json),
            Some(SocketAddr::from(([127, 0, 0, 1], 4242)))
        );
        let flat = r#"{"level":"INFO","message":"serving HTTP and OCPP","addr":"127.0.0.1:4243"}"#;
        assert_eq!(
            listen_addr(flat),
            Some(SocketAddr::from(([127, 0, 0, 1], 4243)))
        );
        let pretty =
            "2026-01-01T00:00:00Z  INFO openpile_server::startup: serving HTTP addr=127.0.0.1:99";
        assert_eq!(
            listen_addr(pretty),
            Some(SocketAddr::from(([127, 0, 0, 1], 99)))
        );
        assert_eq!(listen_addr("serving HTTP"), None);
    }

    #[test]
    fn the_generated_network_is_a_valid_import_document() {
        let ids: Vec<String> = (0..150).map(|i| format!("BENCH-{i:06}")).collect();
        let doc = network_json(&ids, 2, "bench-password-123");
        let parsed = openpile_import::parse_json(&doc.to_string());
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }
}
