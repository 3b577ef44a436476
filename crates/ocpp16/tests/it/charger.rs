//! A scriptable charger: a raw OCPP-J WebSocket client (tokio-tungstenite) that sends what the
//! test says, including malformed frames, and shows what comes back.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{PASSWORD, TestServer};

/// How long a test waits for any expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn basic(user: &str, password: &[u8]) -> String {
    let mut raw = user.as_bytes().to_vec();
    raw.push(b':');
    raw.extend_from_slice(password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The upgrade request a charger sends.
pub fn request(
    url: &str,
    protocols: Option<&str>,
    authorization: Option<&str>,
) -> tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
    }
    if let Some(a) = authorization {
        req.headers_mut()
            .insert("Authorization", HeaderValue::from_str(a).unwrap());
    }
    req
}

/// What the server said when a connection ended.
#[derive(Debug)]
pub enum Ended {
    Closed(Option<CloseFrame>),
    Dropped,
}

pub struct Charger<S = MaybeTlsStream<tokio::net::TcpStream>> {
    ws: WebSocketStream<S>,
    next_id: u64,
    /// CALLs from the server that arrived while we waited for something else.
    server_calls: VecDeque<(String, String, Value)>,
    /// The action of each CALL we sent, to check its answer against the action's schema.
    sent: HashMap<String, String>,
}

impl Charger {
    /// Connects as `id` with the right password and subprotocol.
    pub async fn connect(server: &TestServer, id: &str) -> Charger {
        Self::try_connect(server, id, PASSWORD.as_bytes())
            .await
            .unwrap()
    }

    pub async fn try_connect(
        server: &TestServer,
        id: &str,
        password: &[u8],
    ) -> Result<Charger, tungstenite::Error> {
        let auth = basic(id, password);
        let req = request(&server.url(id), Some("ocpp1.6"), Some(&auth));
        let (ws, response) = tokio_tungstenite::connect_async(req).await?;
        assert_eq!(
            response.headers().get("sec-websocket-protocol").unwrap(),
            "ocpp1.6"
        );
        Ok(Charger::over(ws))
    }

    /// Connects and boots.
    pub async fn booted(server: &TestServer, id: &str) -> Charger {
        let mut c = Self::connect(server, id).await;
        let r = c.call("BootNotification", boot()).await;
        assert_eq!(r[2]["status"], "Accepted", "{r}");
        c
    }
}

pub fn boot() -> Value {
    json!({"chargePointVendor": "AcmeTest", "chargePointModel": "FakeCP-1",
           "chargePointSerialNumber": "SN-0001", "firmwareVersion": "1.2.3"})
}

pub fn status(connector: i64, status: &str) -> Value {
    json!({"connectorId": connector, "errorCode": "NoError", "status": status,
           "timestamp": now()})
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Charger<S> {
    pub fn over(ws: WebSocketStream<S>) -> Charger<S> {
        Charger {
            ws,
            next_id: 1000,
            server_calls: VecDeque::new(),
            sent: HashMap::new(),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next text frame as JSON, or how the connection ended.
    pub async fn recv(&mut self) -> Result<Value, Ended> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server answers in time");
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// Waits until the server ends the connection (frames in between are ignored).
    pub async fn ended(&mut self) -> Ended {
        loop {
            match self.recv().await {
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    /// Whether nothing arrives within `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.ws.next()).await.is_err()
    }

    pub fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Sends a CALL and returns the frame answering it (`[3,..]` or `[4,..]`). Server CALLs that
    /// arrive meanwhile are kept for [`Charger::server_call`].
    pub async fn call(&mut self, action: &str, payload: Value) -> Value {
        let id = self.fresh_id();
        self.sent.insert(id.clone(), action.to_owned());
        self.send_text(&json!([2, id, action, payload]).to_string())
            .await;
        self.answer_to(&id).await
    }

    pub async fn answer_to(&mut self, id: &str) -> Value {
        loop {
            let frame = self.recv().await.expect("connection stays open");
            match frame[0].as_u64() {
                Some(2) => self.server_calls.push_back((
                    frame[1].as_str().unwrap().to_owned(),
                    frame[2].as_str().unwrap().to_owned(),
                    frame[3].clone(),
                )),
                _ if frame[1] == id => {
                    // Every CALLRESULT we get must satisfy the official schema of its action.
                    if let (Some(3), Some(action)) = (frame[0].as_u64(), self.sent.remove(id)) {
                        crate::schema::check(&format!("{action}Response"), &frame[2]);
                    }
                    return frame;
                }
                _ => panic!("unexpected frame {frame} while waiting for {id}"),
            }
        }
    }

    /// The next CALL the server sends: (id, action, payload).
    pub async fn server_call(&mut self) -> (String, String, Value) {
        let call = match self.server_calls.pop_front() {
            Some(c) => c,
            None => {
                let frame = self.recv().await.expect("connection stays open");
                assert_eq!(frame[0], 2, "expected a CALL, got {frame}");
                (
                    frame[1].as_str().unwrap().to_owned(),
                    frame[2].as_str().unwrap().to_owned(),
                    frame[3].clone(),
                )
            }
        };
        // Every CALL we are sent must satisfy the official schema of its action.
        crate::schema::check(&call.1, &call.2);
        call
    }

    pub async fn reply(&mut self, id: &str, payload: Value) {
        self.send_text(&json!([3, id, payload]).to_string()).await;
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
