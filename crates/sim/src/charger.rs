//! One simulated charger as a tokio task: it owns the WebSocket, feeds frames, timers and
//! control commands to the state machine (`machine.rs`) and writes what the machine wants
//! sent. Connection handling (Basic auth, subprotocol, reconnects) lives here, protocol rules
//! do not.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::{Behaviour, SimConnector, validate_connectors};
use crate::error::SimError;
use crate::handle::{Control, ControlKind, SimEvent, SimHandle, SimSnapshot};
use crate::machine::{LinkRequest, Machine};
use crate::wire;

/// A plain or TLS connection, so one WebSocket type serves `ws://` and `wss://`.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;
type ControlResult = Result<(), String>;

/// The OCPP-J subprotocol we offer and require (OCPP-J §3.1.2).
pub(crate) const SUBPROTOCOL: &str = "ocpp1.6";

/// How long a connection attempt (TCP + HTTP upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts simulated chargers.
pub struct SimCharger;

impl SimCharger {
    /// Starts a charger that connects to `endpoint`/`id` (e.g. `ws://127.0.0.1:8080/ocpp`),
    /// authenticating with HTTP Basic `id:password` when a password is given, boots and then
    /// behaves as `behaviour` says. Must be called inside a tokio runtime; returns at once.
    pub fn spawn(
        endpoint: &str,
        id: &str,
        password: Option<&str>,
        connectors: Vec<SimConnector>,
        behaviour: Behaviour,
    ) -> Result<SimHandle, SimError> {
        Self::spawn_at(
            endpoint,
            id,
            password,
            connectors,
            behaviour,
            Instant::now(),
        )
    }

    /// As [`SimCharger::spawn`], but the first connection attempt waits until `first_connect`
    /// (fleets spread their connections this way).
    pub fn spawn_at(
        endpoint: &str,
        id: &str,
        password: Option<&str>,
        connectors: Vec<SimConnector>,
        behaviour: Behaviour,
        first_connect: Instant,
    ) -> Result<SimHandle, SimError> {
        if id.is_empty() || id.contains('/') {
            return Err(SimError::Config(format!("invalid charge point id {id:?}")));
        }
        validate_connectors(&connectors)?;
        let url = wire::charger_url(endpoint, id)?;
        let tls = match &behaviour.ca_certificate {
            Some(path) => Some(tls_client_config(path)?),
            None => None,
        };
        let machine = Machine::new(
            id.to_owned(),
            password.map(str::to_owned),
            connectors,
            behaviour,
            first_connect,
        );
        let (control, controls) = mpsc::channel(16);
        let (snap_tx, snapshot) = watch::channel(machine.snapshot());
        let (events, _) = broadcast::channel(256);
        let task = Task {
            m: machine,
            url,
            tls,
            ws: None,
            controls,
            snapshot: snap_tx,
            events: events.clone(),
            done: Vec::new(),
        };
        tokio::spawn(task.run());
        Ok(SimHandle {
            id: id.to_owned(),
            control,
            snapshot,
            events,
        })
    }
}

struct Task {
    m: Machine,
    url: String,
    /// Trust for `wss://` (Security Profile 2).
    tls: Option<Arc<ClientConfig>>,
    ws: Option<Ws>,
    controls: mpsc::Receiver<Control>,
    snapshot: watch::Sender<SimSnapshot>,
    events: broadcast::Sender<SimEvent>,
    /// Control commands applied but not yet acknowledged: acknowledged once their effects
    /// (a dropped link, queued frames) are visible in the published snapshot.
    done: Vec<(oneshot::Sender<ControlResult>, ControlResult)>,
}

impl Task {
    async fn run(mut self) {
        loop {
            let now = Instant::now();
            self.m.on_tick(now);
            if let LinkRequest::Drop(reconnect_at) = self.m.take_link_request() {
                self.close().await;
                self.m.on_disconnected(Instant::now(), reconnect_at);
            }
            if self.m.is_shut_down() {
                self.close().await;
                self.publish();
                break;
            }
            if self.ws.is_none() && self.m.wants_connect(now) {
                match connect(&self.url, &self.m, self.tls.as_ref()).await {
                    Ok(ws) => {
                        self.ws = Some(ws);
                        self.m.on_connected(Instant::now());
                    }
                    Err(why) => {
                        tracing::debug!(charger = %self.m.id(), %why, "connection failed");
                        self.m.on_connect_failed(Instant::now(), why);
                    }
                }
            }
            self.flush().await;
            self.publish();
            let deadline = self
                .m
                .next_deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                frame = next_frame(&mut self.ws) => self.on_frame(frame).await,
                control = self.controls.recv() => {
                    let kind = control.as_ref().map_or(ControlKind::Shutdown, |c| c.kind.clone());
                    let result = self.m.on_control(Instant::now(), kind);
                    if let Some(c) = control {
                        self.done.push((c.done, result));
                    }
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) {
        match frame {
            Some(Ok(Message::Text(text))) => {
                if let Some(reply) = self.m.on_text(Instant::now(), text.as_str()) {
                    self.write(reply).await;
                }
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                self.ws = None;
                self.m.on_disconnected(Instant::now(), None);
            }
            // Pings are answered by tungstenite; binary frames are not OCPP-J.
            Some(Ok(_)) => {}
        }
    }

    /// Writes every CALL the machine wants to send now.
    async fn flush(&mut self) {
        while self.ws.is_some() {
            let Some(text) = self.m.poll_send(Instant::now()) else {
                break;
            };
            self.write(text).await;
        }
    }

    async fn write(&mut self, text: String) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        if let Err(e) = ws.send(Message::text(text)).await {
            tracing::debug!(charger = %self.m.id(), error = %e, "write failed");
            self.ws = None;
            self.m.on_disconnected(Instant::now(), None);
        }
    }

    async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            // A clean close when the peer cooperates; never wait long for it.
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
    }

    fn publish(&mut self) {
        for e in self.m.take_events() {
            // No subscribers is fine.
            let _ = self.events.send(e);
        }
        let snap = self.m.snapshot();
        self.snapshot.send_if_modified(|old| {
            if *old == snap {
                false
            } else {
                *old = snap;
                true
            }
        });
        for (done, result) in self.done.drain(..) {
            let _ = done.send(result);
        }
    }
}

/// The next frame, or never when there is no connection.
async fn next_frame(ws: &mut Option<Ws>) -> Option<Result<Message, WsError>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

/// Trusts the certificates of a PEM file, for `wss://`.
fn tls_client_config(path: &std::path::Path) -> Result<Arc<ClientConfig>, SimError> {
    let bad =
        |reason: String| SimError::Config(format!("CA certificate {}: {reason}", path.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    // The provider is named, as the server's TLS does, so that a second provider enabled by
    // another crate cannot make rustls refuse to choose.
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens the WebSocket: TCP (and TLS for `wss://`), subprotocol `ocpp1.6`, HTTP Basic auth
/// when there is a password, and small buffers so that thousands of simulated chargers fit
/// in one process.
async fn connect(url: &str, m: &Machine, tls: Option<&Arc<ClientConfig>>) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let uri = request.uri().clone();
    let secure = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let headers = request.headers_mut();
    headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if let Some(password) = m.password() {
        let value = HeaderValue::from_str(&wire::basic_auth(m.id(), password))
            .map_err(|e| e.to_string())?;
        headers.insert(AUTHORIZATION, value);
    }
    let max = m.max_message_bytes();
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let attempt = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let stream: Box<dyn Io> = if secure {
            let config = tls.ok_or("wss:// needs a CA certificate to trust (--ca-cert)")?;
            let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let tls = TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
            Ok(ok) => Ok(ok),
            Err(WsError::Http(resp)) => Err(format!("HTTP {}", resp.status())),
            Err(e) => Err(e.to_string()),
        }
    };
    let (ws, response) = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| "connection timed out".to_owned())??;
    let protocol = response.headers().get(SEC_WEBSOCKET_PROTOCOL);
    if protocol.is_none_or(|p| p.as_bytes() != SUBPROTOCOL.as_bytes()) {
        return Err(format!("central system did not select {SUBPROTOCOL}"));
    }
    Ok(ws)
}
