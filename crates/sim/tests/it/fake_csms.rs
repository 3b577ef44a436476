//! A minimal central system for exercising the simulator without the real server: it accepts
//! WebSockets on 127.0.0.1:0 (checking subprotocol and Basic auth), answers every CALL from a
//! charger with a canned CALLRESULT, records what it received, and lets a test send CALLs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// A CALL a charger sent us.
#[derive(Debug, Clone)]
pub struct Received {
    pub charger: String,
    pub action: String,
    pub payload: Value,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

struct Shared {
    password: String,
    heartbeat_interval: u64,
    next_tx: i64,
    /// Frames to send to each connected charger.
    links: HashMap<String, mpsc::UnboundedSender<String>>,
    /// Id tags answered Invalid.
    invalid_tags: Vec<String>,
}

pub struct FakeCsms {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    pending: Pending,
    received: mpsc::UnboundedReceiver<Received>,
    /// Everything received so far, in order (including what `expect` skipped).
    pub history: Vec<Received>,
    seq: u64,
}

impl FakeCsms {
    pub async fn start(password: &str, heartbeat_interval: u64) -> Self {
        Self::start_with(password, heartbeat_interval, None).await
    }

    /// The same over TLS (`wss://localhost:<port>/ocpp`), with a self-signed certificate for
    /// `localhost` written as PEM to `cert_pem` for the charger to trust.
    pub async fn start_tls(
        password: &str,
        heartbeat_interval: u64,
        cert_pem: &std::path::Path,
    ) -> Self {
        use tokio_rustls::rustls::ServerConfig;
        use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(cert_pem, cert.cert.pem()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let provider =
            std::sync::Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        Self::start_with(password, heartbeat_interval, Some(acceptor)).await
    }

    async fn start_with(
        password: &str,
        heartbeat_interval: u64,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            password: password.to_owned(),
            heartbeat_interval,
            next_tx: 1000,
            links: HashMap::new(),
            invalid_tags: Vec::new(),
        }));
        let pending: Pending = Arc::default();
        let (tx, received) = mpsc::unbounded_channel();
        let accept_shared = shared.clone();
        let accept_pending = pending.clone();
        let secure = tls.is_some();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (shared, pending, tx) =
                    (accept_shared.clone(), accept_pending.clone(), tx.clone());
                match tls.clone() {
                    None => {
                        tokio::spawn(serve(stream, shared, pending, tx));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, shared, pending, tx).await;
                            }
                        });
                    }
                }
            }
        });
        let url = if secure {
            format!("wss://localhost:{port}/ocpp")
        } else {
            format!("ws://127.0.0.1:{port}/ocpp")
        };
        Self {
            url,
            shared,
            pending,
            received,
            history: Vec::new(),
            seq: 0,
        }
    }

    pub fn reject_tag(&self, tag: &str) {
        self.shared
            .lock()
            .unwrap()
            .invalid_tags
            .push(tag.to_owned());
    }

    /// Waits for the next CALL named `action` from `charger`, skipping (but keeping) others.
    pub async fn expect(&mut self, charger: &str, action: &str) -> Value {
        let wait = async {
            loop {
                let r = self.received.recv().await.expect("csms stopped");
                self.history.push(r.clone());
                if r.charger == charger && r.action == action {
                    return r.payload;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("no {action} from {charger}; got {:#?}", self.history))
    }

    /// Waits for the next CALL from `charger`, whatever it is.
    pub async fn next(&mut self, charger: &str) -> Received {
        let wait = async {
            loop {
                let r = self.received.recv().await.expect("csms stopped");
                self.history.push(r.clone());
                if r.charger == charger {
                    return r;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("nothing from {charger}; got {:#?}", self.history))
    }

    /// Waits for the next StatusNotification of `connector` and returns its status.
    pub async fn expect_status(&mut self, charger: &str, connector: i64) -> String {
        loop {
            let p = self.expect(charger, "StatusNotification").await;
            if p["connectorId"] == json!(connector) {
                return p["status"].as_str().unwrap().to_owned();
            }
        }
    }

    /// Sends a CALL and returns the raw answer frame (`[3,…]` or `[4,…]`), or `None` when the
    /// charger did not answer within `wait`.
    pub async fn call_within(
        &mut self,
        charger: &str,
        action: &str,
        payload: Value,
        wait: Duration,
    ) -> Option<Value> {
        self.seq += 1;
        let id = format!("csms-{}", self.seq);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        let frame = json!([2, id, action, payload]).to_string();
        let link = self.shared.lock().unwrap().links.get(charger).cloned();
        link.expect("charger not connected").send(frame).unwrap();
        tokio::time::timeout(wait, rx)
            .await
            .ok()
            .map(Result::unwrap)
    }

    /// Sends a CALL and returns the CALLRESULT payload (panics on CALLERROR or silence).
    pub async fn call(&mut self, charger: &str, action: &str, payload: Value) -> Value {
        let answer = self
            .call_within(charger, action, payload, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{charger} did not answer {action}"));
        assert_eq!(answer[0], json!(3), "{action} got {answer}");
        answer[2].clone()
    }
}

// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
async fn serve<S>(
    stream: S,
    shared: Arc<Mutex<Shared>>,
    pending: Pending,
    received: mpsc::UnboundedSender<Received>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut charger = String::new();
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let refuse = |code: StatusCode| {
            let mut r = ErrorResponse::new(None);
            *r.status_mut() = code;
            Err(r)
        };
        let id = percent_decode(req.uri().path().rsplit('/').next().unwrap_or_default());
        let offered = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !offered.split(',').any(|p| p.trim() == "ocpp1.6") {
            return refuse(StatusCode::BAD_REQUEST);
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{id}:{}", shared.lock().unwrap().password))
        );
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            return refuse(StatusCode::UNAUTHORIZED);
        }
        charger = id;
        resp.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("ocpp1.6"),
        );
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    shared
        .lock()
        .unwrap()
        .links
        .insert(charger.clone(), out_tx.clone());
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame[0].as_i64() {
            Some(2) => {
                let id = frame[1].as_str().unwrap().to_owned();
                let action = frame[2].as_str().unwrap().to_owned();
                let payload = frame[3].clone();
                let answer = answer(&shared, &action, &payload);
                let _ = out_tx.send(json!([3, id, answer]).to_string());
                let _ = received.send(Received {
                    charger: charger.clone(),
                    action,
                    payload,
                });
            }
            Some(3 | 4) => {
                let id = frame[1].as_str().unwrap().to_owned();
                if let Some(tx) = pending.lock().unwrap().remove(&id) {
                    let _ = tx.send(frame);
                }
            }
            _ => {}
        }
    }
    let mut s = shared.lock().unwrap();
    if s.links
        .get(&charger)
        .is_some_and(|l| l.same_channel(&out_tx))
    {
        s.links.remove(&charger);
    }
    writer.abort();
}

fn answer(shared: &Mutex<Shared>, action: &str, payload: &Value) -> Value {
    let mut s = shared.lock().unwrap();
    let now = "2026-01-01T00:00:00.000Z";
    let tag_status = |s: &Shared, tag: Option<&str>| {
        if tag.is_some_and(|t| s.invalid_tags.iter().any(|i| i == t)) {
            "Invalid"
        } else {
            "Accepted"
        }
    };
    match action {
        "BootNotification" => {
            json!({"status": "Accepted", "currentTime": now, "interval": s.heartbeat_interval})
        }
        "Heartbeat" => json!({"currentTime": now}),
        "Authorize" => {
            json!({"idTagInfo": {"status": tag_status(&s, payload["idTag"].as_str())}})
        }
        "StartTransaction" => {
            s.next_tx += 1;
            let status = tag_status(&s, payload["idTag"].as_str());
            json!({"transactionId": s.next_tx, "idTagInfo": {"status": status}})
        }
        _ => json!({}),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
