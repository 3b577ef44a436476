//! The OCPP 1.6J face as wired into the server: the endpoint is mounted, authenticates
//! chargers, takes its settings from `[ocpp]`, and the admin API sees connections through the
//! `ChargerGateway`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt as _, StreamExt as _};
use openpile_testkit::TestApp;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::get;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, id: &str, password: &str) -> Result<Socket, u16> {
    let url = format!("ws://{}/ocpp/{id}", app.addr);
    let mut req = url.into_client_request().unwrap();
    let basic = STANDARD.encode(format!("{id}:{password}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    req.headers_mut()
        .insert("sec-websocket-protocol", "ocpp1.6".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn call(socket: &mut Socket, id: &str, action: &str, payload: Value) -> Value {
    let frame = json!([2, id, action, payload]).to_string();
    socket.send(Message::Text(frame.into())).await.unwrap();
    loop {
        match socket.next().await.expect("an answer").unwrap() {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v[0] == 3 && v[1] == id {
                    return v[2].clone();
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_charger_connects_boots_with_the_configured_interval_and_shows_online() {
    let app = TestApp::builder()
        .with_config(|c| c.ocpp.heartbeat_interval_s = 42)
        .spawn()
        .await;
    app.import_demo().await;
    let token = app.login_admin().await;

    assert_eq!(
        connect(&app, "NO-SUCH", "whatever-pw").await.err(),
        Some(404)
    );
    assert_eq!(
        connect(&app, "SH0101-01", "wrong-password").await.err(),
        Some(401)
    );

    let mut socket = connect(&app, "SH0101-01", "demo-SH0101-01-pw")
        .await
        .expect("the demo charger connects");
    let conf = call(
        &mut socket,
        "boot-1",
        "BootNotification",
        json!({"chargePointVendor": "星星充电", "chargePointModel": "DCY120-K2"}),
    )
    .await;
    assert_eq!(conf["status"], "Accepted", "{conf}");
    assert_eq!(conf["interval"], 42);

    let c = get(&app, "/admin/v1/chargers/SH0101-01", &token).await;
    assert_eq!(c.body["online"], true, "{:#}", c.body);
    assert_eq!(c.body["registration"], "registered");
    let other = get(&app, "/admin/v1/chargers/SH0101-02", &token).await;
    assert_eq!(other.body["online"], false);

    // Shutting the server down closes the charger's connection rather than waiting for it.
    app.shutdown().await;
    loop {
        match socket.next().await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
        }
    }
}
