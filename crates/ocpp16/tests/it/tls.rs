//! Security Profile 2: Basic auth over TLS, with a self-signed certificate made at test time.

use std::sync::Arc;

use openpile_ocpp16::router;
use openpile_ocpp16::tls::{TlsListener, tls_config};
use serde_json::json;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::charger::{Charger, basic, boot, request};
use crate::harness::{CP1, PASSWORD, TestServer};

#[tokio::test]
async fn a_charger_boots_over_tls() {
    let server = TestServer::start().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let config = tls_config(&cert_path, &key_path).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, config).unwrap();
    let app = router(server.cs.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert.der().to_vec()))
        .unwrap();
    let client = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));

    // A plain-TCP client talking to the TLS port gets nowhere.
    let plain = format!("ws://{addr}/ocpp/{CP1}");
    let auth = basic(CP1, PASSWORD.as_bytes());
    assert!(
        tokio::time::timeout(
            std::time::Duration::from_secs(15),
            tokio_tungstenite::connect_async(request(&plain, Some("ocpp1.6"), Some(&auth)))
        )
        .await
        .map_or(true, |r| r.is_err())
    );

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/ocpp/{CP1}", addr.port());
    let (ws, response) =
        tokio_tungstenite::client_async(request(&url, Some("ocpp1.6"), Some(&auth)), tls)
            .await
            .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "ocpp1.6"
    );
    let mut c = Charger::over(ws);
    let r = c.call("BootNotification", boot()).await;
    assert_eq!(r[2]["status"], "Accepted");
    assert_eq!(c.call("Heartbeat", json!({})).await[0], 3);

    // Wrong password over TLS: still 401.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let bad = basic(CP1, b"nope");
    let e = tokio_tungstenite::client_async(request(&url, Some("ocpp1.6"), Some(&bad)), tls)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(e, tokio_tungstenite::tungstenite::Error::Http(ref r) if r.status() == 401),
        "{e:?}"
    );
}

#[test]
fn unreadable_certificates_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    assert!(tls_config(&missing, &missing).is_err());
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(tls_config(&empty, &empty).is_err());
}
