//! The upgrade: identity, credentials, subprotocol (OCPP-J §3, security whitepaper §2).

use openpile_core::network::Registration;
use openpile_core::ports::NetworkStore;
use openpile_store_contract::fixtures;
use tokio_tungstenite::tungstenite;

use crate::charger::{Charger, Ended, basic, request};
use crate::harness::{CP1, PASSWORD, TestServer, cid, hash};

fn http_status(e: &tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

async fn refused(
    server: &TestServer,
    id: &str,
    protocols: Option<&str>,
    auth: Option<&str>,
) -> tungstenite::Error {
    let req = request(&server.url(id), protocols, auth);
    tokio_tungstenite::connect_async(req)
        .await
        .map(|_| ())
        .unwrap_err()
}

#[tokio::test]
async fn a_provisioned_charger_with_its_password_is_upgraded() {
    let server = TestServer::start().await;
    let _c = Charger::connect(&server, CP1).await;
    server.wait_connected(CP1, true).await;
    let info = server.cs.connection_info(&cid(CP1)).unwrap();
    assert!(!info.accepted, "never booted");
    assert_eq!(server.cs.connected_chargers().len(), 1);
}

#[tokio::test]
async fn an_unknown_charger_gets_404() {
    let server = TestServer::start().await;
    let auth = basic("NOPE-1", PASSWORD.as_bytes());
    let e = refused(&server, "NOPE-1", Some("ocpp1.6"), Some(&auth)).await;
    assert_eq!(http_status(&e), 404);
    // An identity that cannot be a charger id at all (percent-decoded "/").
    let e = refused(&server, "CP%2F1", Some("ocpp1.6"), Some(&auth)).await;
    assert_eq!(http_status(&e), 404);
}

#[tokio::test]
async fn bad_missing_or_foreign_credentials_get_401() {
    let server = TestServer::start().await;
    for auth in [
        Some(basic(CP1, b"wrong password")),
        None,
        Some(basic("S001-C2", PASSWORD.as_bytes())),
        Some("Bearer abc".to_string()),
    ] {
        let e = refused(&server, CP1, Some("ocpp1.6"), auth.as_deref()).await;
        assert_eq!(http_status(&e), 401, "{auth:?}");
        if let tungstenite::Error::Http(r) = &e {
            assert!(
                r.headers()
                    .get("www-authenticate")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("Basic")
            );
        }
    }
    assert!(!server.cs.is_connected(&cid(CP1)));
}

#[tokio::test]
async fn a_disabled_or_retired_charger_gets_401() {
    let server = TestServer::start().await;
    let mut disabled = fixtures::charger(CP1, "S001");
    disabled.registration = Registration::Disabled;
    server.store.put_charger(&disabled, None).await.unwrap();
    let auth = basic(CP1, PASSWORD.as_bytes());
    assert_eq!(
        http_status(&refused(&server, CP1, Some("ocpp1.6"), Some(&auth)).await),
        401
    );

    server
        .store
        .retire_charger(&cid("S001-C2"), fixtures::at(0))
        .await
        .unwrap();
    let auth = basic("S001-C2", PASSWORD.as_bytes());
    assert_eq!(
        http_status(&refused(&server, "S001-C2", Some("ocpp1.6"), Some(&auth)).await),
        401
    );
}

#[tokio::test]
async fn the_password_may_come_as_hex_of_the_stored_bytes() {
    let server = TestServer::start().await;
    // Provisioned with a raw 16-byte key; the charger sends its hex text (protocol reference §2).
    let key: Vec<u8> = (0u8..16).map(|b| b.wrapping_mul(17)).collect();
    server
        .store
        .set_charger_password(&cid(CP1), &hash(&key))
        .await
        .unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    Charger::try_connect(&server, CP1, hex.as_bytes())
        .await
        .unwrap();
    // And the raw bytes themselves, as OCPP-J §6.2.2's example does.
    Charger::try_connect(&server, CP1, &key).await.unwrap();
}

#[tokio::test]
async fn a_changed_password_invalidates_the_cached_one() {
    let server = TestServer::start().await;
    Charger::connect(&server, CP1).await.close().await;
    server
        .store
        .set_charger_password(&cid(CP1), &hash(b"new password"))
        .await
        .unwrap();
    let e = Charger::try_connect(&server, CP1, PASSWORD.as_bytes())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(http_status(&e), 401);
    Charger::try_connect(&server, CP1, b"new password")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_without_ocpp16_is_refused() {
    let server = TestServer::start().await;
    let auth = basic(CP1, PASSWORD.as_bytes());
    // Asking only for another protocol: the answer carries none, so the client's handshake
    // fails (OCPP-J §3.1.2, OCTT TC_088).
    let e = refused(&server, CP1, Some("ocpp2.0.1"), Some(&auth)).await;
    assert!(matches!(e, tungstenite::Error::Protocol(_)), "{e:?}");
    // Asking for none: upgraded without a protocol, then closed at once.
    let req = request(&server.url(CP1), None, Some(&auth));
    let (ws, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let mut c = Charger::over(ws);
    match c.ended().await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1002),
        other => panic!("expected a close 1002, got {other:?}"),
    }
    assert!(!server.cs.is_connected(&cid(CP1)));
    // Offering several protocols with ocpp1.6 among them selects it.
    let req = request(&server.url(CP1), Some("ocpp1.5, ocpp1.6"), Some(&auth));
    let (_ws, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "ocpp1.6"
    );
}
