//! The load driver: one tokio task per simulated charger, each a small state machine over a
//! real OCPP 1.6J WebSocket (connect → boot → statuses → idle heartbeats; on command: start a
//! transaction, run an open-loop message schedule, stop it, drop the link, reconnect). The
//! coordinator in `main.rs` sends the same command to many tasks at once and waits for their
//! answers.
//!
//! Latency is measured from the time a message was *scheduled*, not the time it was sent: a
//! charger whose previous call is still outstanding sends late, and that lateness counts
//! (no coordinated omission). Each charger keeps one call outstanding, as OCPP-J §4.1.1 asks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ws = WebSocketStream<TcpStream>;

/// Where and how chargers connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// Path before the charger id, e.g. `/ocpp` (empty for a server at the root).
    pub path: String,
    /// HTTP Basic password of every charger (`None` = no Authorization header).
    pub password: Option<String>,
    /// Source addresses 127.0.0.1..=127.0.0.N, used round-robin, so that many connections
    /// (and TIME_WAIT sockets after a storm) never exhaust one address's ephemeral ports.
    pub source_addrs: u8,
}

/// What the server answered, counted over all chargers.
#[derive(Debug, Default)]
pub struct Counters {
    /// CALLRESULTs received (every phase, heartbeats included).
    pub answered: AtomicU64,
    /// CALLERRORs received.
    pub call_errors: AtomicU64,
    /// Calls without an answer within the call timeout.
    pub timeouts: AtomicU64,
    /// Connections the server closed (or that broke) while the driver wanted them open.
    pub unexpected_closes: AtomicU64,
    /// Connections open now.
    pub connected: AtomicUsize,
}

/// Which histogram a latency sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// TCP + WebSocket upgrade + BootNotification answered.
    Connect,
    /// The open-loop message mix.
    Load,
}

/// Shared by every charger task.
pub struct Shared {
    pub endpoint: Endpoint,
    pub counters: Counters,
    pub call_timeout: Duration,
    /// Send Heartbeat at the interval BootNotification returned while idle.
    pub idle_heartbeats: bool,
    pub latencies: mpsc::UnboundedSender<(Series, u64)>,
}

/// The open-loop schedule of one charger in the load phase.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first: Instant,
    pub period: Duration,
    pub end: Instant,
}

/// Commands from the coordinator; each answers on its oneshot when done.
pub enum Cmd {
    /// Connect, boot, and report connector 0 and 1..N `Available`.
    Connect(oneshot::Sender<anyhow::Result<()>>),
    /// StartTransaction on connector 1, then Charging.
    StartTx(oneshot::Sender<anyhow::Result<()>>),
    /// Run the Heartbeat / StatusNotification / MeterValues mix on a schedule.
    Load(Schedule, oneshot::Sender<anyhow::Result<u64>>),
    /// StopTransaction, then Available.
    StopTx(oneshot::Sender<anyhow::Result<()>>),
    /// Abort the connection (RST, as a network failure would).
    Abort(oneshot::Sender<anyhow::Result<()>>),
    /// Reconnect (retrying until the deadline), boot, and report `status` for every connector.
    Reconnect {
        status: &'static str,
        deadline: Instant,
        done: oneshot::Sender<anyhow::Result<()>>,
    },
}

/// Handle of one charger task.
pub struct Charger {
    pub id: String,
    pub tx: mpsc::Sender<Cmd>,
}

pub fn spawn_charger(shared: Arc<Shared>, index: usize, id: String, connectors: u32) -> Charger {
    let (tx, rx) = mpsc::channel(4);
    let task = Task {
        shared,
        index,
        id: id.clone(),
        connectors,
        conn: None,
        next_msg: 0,
        tx_id: None,
        meter_wh: 1_000_000,
        heartbeat: None,
    };
    tokio::spawn(task.run(rx));
    Charger { id, tx }
}

struct Task {
    shared: Arc<Shared>,
    index: usize,
    id: String,
    connectors: u32,
    conn: Option<Ws>,
    next_msg: u64,
    tx_id: Option<i64>,
    meter_wh: u64,
    /// Interval and next due time of idle heartbeats.
    heartbeat: Option<(Duration, Instant)>,
}

/// Why a call failed.
#[derive(Debug)]
enum CallFail {
    Closed,
    Timeout,
    Error(String),
}

impl std::fmt::Display for CallFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("connection closed"),
            Self::Timeout => f.write_str("no answer in time"),
            Self::Error(code) => write!(f, "CALLERROR {code}"),
        }
    }
}

fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        loop {
            let heartbeat_at = self.heartbeat.map(|(_, at)| at);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                closed = idle_read(&mut self.conn) => {
                    if closed {
                        self.lost();
                    }
                }
                () = sleep_until_opt(heartbeat_at) => {
                    if let Some((interval, _)) = self.heartbeat {
                        self.heartbeat = Some((interval, Instant::now() + interval));
                        // Failures are counted in the shared counters.
                        let _ = self.call("Heartbeat", json!({})).await;
                    }
                }
            }
        }
        self.abort();
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Connect(done) => {
                let r = self.connect_and_boot("Available").await;
                let _ = done.send(r);
            }
            Cmd::StartTx(done) => {
                let _ = done.send(self.start_tx().await);
            }
            Cmd::Load(schedule, done) => {
                let _ = done.send(self.load(schedule).await);
            }
            Cmd::StopTx(done) => {
                let _ = done.send(self.stop_tx().await);
            }
            Cmd::Abort(done) => {
                self.abort();
                let _ = done.send(Ok(()));
            }
            Cmd::Reconnect {
                status,
                deadline,
                done,
            } => {
                let mut result = Err(anyhow::anyhow!("deadline passed before any attempt"));
                while Instant::now() < deadline {
                    result = self.connect_and_boot(status).await;
                    if result.is_ok() {
                        break;
                    }
                    self.abort();
                    // Back off a little, as chargers do, so a refused storm does not spin.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = done.send(result);
            }
        }
    }

    fn lost(&mut self) {
        if self.conn.take().is_some() {
            self.shared
                .counters
                .unexpected_closes
                .fetch_add(1, Ordering::Relaxed);
            self.shared
                .counters
                .connected
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.heartbeat = None;
    }

    fn abort(&mut self) {
        if let Some(ws) = self.conn.take() {
            self.shared
                .counters
                .connected
                .fetch_sub(1, Ordering::Relaxed);
            // RST instead of FIN: no TIME_WAIT here, and the server sees what a dropped
            // network link looks like.
            let _ = ws.get_ref().set_zero_linger();
            drop(ws);
        }
        self.heartbeat = None;
    }

    async fn open(&mut self) -> anyhow::Result<Ws> {
        let ep = &self.shared.endpoint;
        let octet = u8::try_from(self.index % usize::from(ep.source_addrs.max(1))).unwrap_or(0);
        let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + octet)), 0);
        let socket = TcpSocket::new_v4()?;
        socket.bind(source)?;
        let stream = socket.connect(ep.addr).await.context("TCP connect")?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}{}/{}", ep.addr, ep.path, self.id);
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("ocpp1.6"),
        );
        if let Some(pw) = &ep.password {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{pw}", self.id).as_bytes());
            headers.insert(
                "Authorization",
                HeaderValue::from_str(&format!("Basic {token}"))?,
            );
        }
        // Small buffers: 19,000 of these live in one process.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(64 * 1024))
            .max_frame_size(Some(64 * 1024));
        let (ws, response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(r) => {
                        anyhow::anyhow!("upgrade refused: HTTP {}", r.status())
                    }
                    other => anyhow::Error::from(other),
                })?;
        let protocol = response.headers().get("Sec-WebSocket-Protocol");
        if protocol.is_none_or(|p| p.as_bytes() != b"ocpp1.6") {
            bail!("server did not select ocpp1.6");
        }
        Ok(ws)
    }

    async fn connect_and_boot(&mut self, status: &'static str) -> anyhow::Result<()> {
        self.abort();
        let started = Instant::now();
        let ws = tokio::time::timeout(self.shared.call_timeout, self.open())
            .await
            .map_err(|_| anyhow::anyhow!("connect timed out"))??;
        self.conn = Some(ws);
        self.shared
            .counters
            .connected
            .fetch_add(1, Ordering::Relaxed);
        let boot = self
            .call(
                "BootNotification",
                json!({
                    "chargePointVendor": "OpenPileBench",
                    "chargePointModel": "bench-ocpp",
                    "chargePointSerialNumber": self.id,
                    "firmwareVersion": "bench-1",
                }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("BootNotification: {e}"))?;
        if boot["status"] != "Accepted" {
            bail!("BootNotification answered {}", boot["status"]);
        }
        let _ = self
            .shared
            .latencies
            .send((Series::Connect, micros(started.elapsed())));
        for connector in 0..=self.connectors {
            // Connector 0 (the charger) only knows Available/Unavailable/Faulted.
            let status = if connector == 0 && status != "Unavailable" {
                "Available"
            } else {
                status
            };
            self.status(connector, status)
                .await
                .map_err(|e| anyhow::anyhow!("StatusNotification: {e}"))?;
        }
        if self.shared.idle_heartbeats {
            let interval = boot["interval"].as_u64().filter(|i| *i > 0).unwrap_or(300);
            let interval = Duration::from_secs(interval);
            // Spread the fleet's heartbeats over the interval.
            let offset = interval.mul_f64((self.index % 1000) as f64 / 1000.0);
            self.heartbeat = Some((interval, Instant::now() + offset));
        }
        Ok(())
    }

    async fn status(&mut self, connector: u32, status: &str) -> Result<Value, CallFail> {
        self.call(
            "StatusNotification",
            json!({"connectorId": connector, "errorCode": "NoError", "status": status,
                   "timestamp": now_ts()}),
        )
        .await
    }

    async fn start_tx(&mut self) -> anyhow::Result<()> {
        let r = self
            .call(
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "BENCHTAG", "meterStart": self.meter_wh,
                       "timestamp": now_ts()}),
            )
            .await
            .map_err(|e| anyhow::anyhow!("StartTransaction: {e}"))?;
        self.tx_id = Some(
            r["transactionId"]
                .as_i64()
                .context("StartTransaction answer without transactionId")?,
        );
        self.status(1, "Charging")
            .await
            .map_err(|e| anyhow::anyhow!("StatusNotification: {e}"))?;
        Ok(())
    }

    async fn stop_tx(&mut self) -> anyhow::Result<()> {
        let Some(tx) = self.tx_id.take() else {
            return Ok(());
        };
        self.call(
            "StopTransaction",
            json!({"transactionId": tx, "meterStop": self.meter_wh, "timestamp": now_ts(),
                   "reason": "Local", "idTag": "BENCHTAG"}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("StopTransaction: {e}"))?;
        self.status(1, "Available")
            .await
            .map_err(|e| anyhow::anyhow!("StatusNotification: {e}"))?;
        Ok(())
    }

    /// The message mix, one message per tick: MeterValues, Heartbeat, MeterValues,
    /// StatusNotification (which alternates Charging and SuspendedEV, so every one is a real
    /// status change the server must persist). Returns the number of messages sent.
    async fn load(&mut self, s: Schedule) -> anyhow::Result<u64> {
        let mut scheduled = s.first;
        let mut k: u64 = 0;
        let mut failures = 0u64;
        while scheduled < s.end {
            tokio::time::sleep_until(scheduled).await;
            let (action, payload) = self.mix(k);
            let result = self.call(action, payload).await;
            if result.is_ok() {
                let _ = self
                    .shared
                    .latencies
                    .send((Series::Load, micros(scheduled.elapsed())));
            } else {
                failures += 1;
                if self.conn.is_none() {
                    bail!("connection lost during the load phase");
                }
            }
            k += 1;
            scheduled += s.period;
        }
        if failures > 0 {
            bail!("{failures} of {k} calls failed");
        }
        Ok(k)
    }

    fn mix(&mut self, k: u64) -> (&'static str, Value) {
        match k % 4 {
            0 | 2 => {
                self.meter_wh += 20;
                let mut p = json!({
                    "connectorId": 1,
                    "meterValue": [{"timestamp": now_ts(), "sampledValue": [
                        {"value": self.meter_wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
                        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"},
                        {"value": "31.3", "measurand": "Current.Import", "unit": "A", "context": "Sample.Periodic"},
                        {"value": "230", "measurand": "Voltage", "unit": "V", "context": "Sample.Periodic"},
                        {"value": "57", "measurand": "SoC", "unit": "Percent", "context": "Sample.Periodic", "location": "EV"}
                    ]}]
                });
                if let (Some(tx), Some(obj)) = (self.tx_id, p.as_object_mut()) {
                    obj.insert("transactionId".into(), json!(tx));
                }
                ("MeterValues", p)
            }
            1 => ("Heartbeat", json!({})),
            _ => {
                let status = if (k / 4).is_multiple_of(2) {
                    "SuspendedEV"
                } else {
                    "Charging"
                };
                (
                    "StatusNotification",
                    json!({"connectorId": 1, "errorCode": "NoError", "status": status,
                           "timestamp": now_ts()}),
                )
            }
        }
    }

    /// Sends a CALL and waits for its answer, answering anything the server asks meanwhile.
    async fn call(&mut self, action: &str, payload: Value) -> Result<Value, CallFail> {
        let counters = &self.shared.counters;
        self.next_msg += 1;
        let id = self.next_msg.to_string();
        let Some(ws) = self.conn.as_mut() else {
            return Err(CallFail::Closed);
        };
        let frame = json!([2, id, action, payload]).to_string();
        if ws.send(Message::text(frame)).await.is_err() {
            self.lost();
            return Err(CallFail::Closed);
        }
        let deadline = Instant::now() + self.shared.call_timeout;
        loop {
            let Some(ws) = self.conn.as_mut() else {
                return Err(CallFail::Closed);
            };
            let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => {
                    counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(CallFail::Timeout);
                }
                Ok(Some(Ok(msg))) => msg,
                Ok(_) => {
                    self.lost();
                    return Err(CallFail::Closed);
                }
            };
            let Message::Text(text) = msg else {
                if matches!(msg, Message::Close(_)) {
                    self.lost();
                    return Err(CallFail::Closed);
                }
                continue;
            };
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let kind = items.first().and_then(Value::as_u64);
            let msg_id = items.get(1).and_then(Value::as_str).unwrap_or_default();
            match kind {
                Some(3) if msg_id == id => {
                    counters.answered.fetch_add(1, Ordering::Relaxed);
                    return Ok(items.get(2).cloned().unwrap_or(Value::Null));
                }
                Some(4) if msg_id == id => {
                    counters.call_errors.fetch_add(1, Ordering::Relaxed);
                    let code = items.get(2).and_then(Value::as_str).unwrap_or("?");
                    return Err(CallFail::Error(code.to_owned()));
                }
                Some(2) => {
                    // The benchmark chargers take no commands.
                    let reply = json!([4, msg_id, "NotSupported", "benchmark charger", {}]);
                    if let Some(ws) = self.conn.as_mut()
                        && ws.send(Message::text(reply.to_string())).await.is_err()
                    {
                        self.lost();
                        return Err(CallFail::Closed);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Reads (and drops) frames while idle so that pings are answered; true when the
/// connection closed. Pending forever without a connection.
async fn idle_read(conn: &mut Option<Ws>) -> bool {
    let Some(ws) = conn.as_mut() else {
        return std::future::pending().await;
    };
    match ws.next().await {
        Some(Ok(Message::Close(_)) | Err(_)) | None => true,
        Some(Ok(_)) => false,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
