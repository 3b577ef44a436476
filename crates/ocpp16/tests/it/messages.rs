//! Boot, heartbeat, status and the small charger messages, checked in the store.

use openpile_core::network::Registration;
use openpile_core::ports::{ChargerStore, NetworkStore};
use openpile_core::status::{ChargePointStatus, ConnectorStatus};
use serde_json::json;

use crate::charger::{Charger, boot, now, status};
use crate::harness::{CP1, TestServer, cid};

#[tokio::test]
async fn boot_is_accepted_with_our_interval_and_recorded() {
    let server = TestServer::start().await;
    let mut c = Charger::connect(&server, CP1).await;
    let r = c.call("BootNotification", boot()).await;
    assert_eq!(r[0], 3);
    assert_eq!(r[2]["status"], "Accepted");
    assert_eq!(r[2]["interval"], 300);
    assert!(r[2]["currentTime"].as_str().unwrap().ends_with('Z'));
    assert!(r[2].get("heartbeatInterval").is_none());
    let view = server.store.get_charger(&cid(CP1)).await.unwrap();
    assert_eq!(view.charger.registration, Registration::Registered);
    assert_eq!(view.charger.vendor, "AcmeTest");
    assert_eq!(view.charger.model, "FakeCP-1");
    assert_eq!(view.charger.serial.as_deref(), Some("SN-0001"));
    assert_eq!(view.charger.firmware.as_deref(), Some("1.2.3"));
    assert!(view.last_boot_at.is_some());
    assert!(server.cs.connection_info(&cid(CP1)).unwrap().accepted);
}

#[tokio::test]
async fn heartbeat_answers_our_time() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = c.call("Heartbeat", json!({})).await;
    let t = chrono::DateTime::parse_from_rfc3339(r[2]["currentTime"].as_str().unwrap()).unwrap();
    assert!(t >= before);
    assert!(
        server
            .store
            .get_charger(&cid(CP1))
            .await
            .unwrap()
            .last_seen_at
            .is_some()
    );
}

#[tokio::test]
async fn status_notifications_drive_the_connector_status_and_sequence() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    assert_eq!(
        server.connector(CP1, 1).await.status,
        ConnectorStatus::Offline
    );
    let r = c.call("StatusNotification", status(1, "Available")).await;
    assert_eq!(r, json!([3, r[1], {}]));
    let s = server.connector(CP1, 1).await;
    assert_eq!(s.status, ConnectorStatus::Available);
    assert_eq!(s.status_seq, 1);
    c.call("StatusNotification", status(1, "Preparing")).await;
    c.call("StatusNotification", status(1, "Charging")).await;
    let s = server.connector(CP1, 1).await;
    assert_eq!(s.status, ConnectorStatus::Charging);
    assert_eq!(s.ocpp_status, Some(ChargePointStatus::Charging));
    assert_eq!(s.status_seq, 3);
    // A status without timestamp counts from its receipt.
    c.call(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Finishing"}),
    )
    .await;
    assert_eq!(server.connector(CP1, 1).await.status_seq, 4);
    // The other connector is untouched.
    assert_eq!(
        server.connector(CP1, 2).await.status,
        ConnectorStatus::Offline
    );
}

#[tokio::test]
async fn connector_zero_applies_to_the_whole_charger() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    c.call("StatusNotification", status(0, "Unavailable")).await;
    for n in [1, 2] {
        let s = server.connector(CP1, n).await;
        assert_eq!(s.status, ConnectorStatus::Unavailable, "connector {n}");
        assert_eq!(s.status_seq, 1);
    }
    c.call(
        "StatusNotification",
        json!({"connectorId": 0, "errorCode": "GroundFailure",
        "status": "Faulted", "info": "earth leak", "timestamp": now()}),
    )
    .await;
    assert_eq!(
        server.connector(CP1, 2).await.status,
        ConnectorStatus::Faulted
    );
}

#[tokio::test]
async fn an_unknown_connector_is_answered_and_parked() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    for n in [7, -1] {
        let r = c.call("StatusNotification", status(n, "Available")).await;
        assert_eq!(r[0], 3, "{r}");
        assert_eq!(r[2], json!({}));
    }
    let parked = openpile_core::charging::TransactionStore::list_parked(&server.store, 10)
        .await
        .unwrap();
    assert_eq!(parked.len(), 2);
    assert!(parked.iter().all(|p| p.action == "StatusNotification"));
    for n in [1, 2] {
        assert_eq!(
            server.connector(CP1, n).await.status,
            ConnectorStatus::Offline
        );
    }
}

#[tokio::test]
async fn small_messages_are_answered() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let r = c
        .call(
            "DataTransfer",
            json!({"vendorId": "com.acme", "messageId": "x", "data": "{}"}),
        )
        .await;
    assert_eq!(r[2], json!({"status": "UnknownVendorId"}));
    let r = c
        .call(
            "DiagnosticsStatusNotification",
            json!({"status": "Uploaded"}),
        )
        .await;
    assert_eq!(r[2], json!({}));
    let r = c
        .call("FirmwareStatusNotification", json!({"status": "Installed"}))
        .await;
    assert_eq!(r[2], json!({}));
    let r = c.call("Authorize", json!({"idTag": "UNKNOWN-TAG"})).await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Invalid"}}));
    // A central-system action sent by a charger is known but not supported.
    let r = c
        .call("RemoteStartTransaction", json!({"idTag": "X"}))
        .await;
    assert_eq!(
        (r[0].as_u64(), r[2].as_str()),
        (Some(4), Some("NotSupported"))
    );
}

#[tokio::test]
async fn a_reconnect_keeps_the_registration_without_a_new_boot() {
    let server = TestServer::start().await;
    Charger::booted(&server, CP1).await.close().await;
    server.wait_connected(CP1, false).await;
    let _c = Charger::connect(&server, CP1).await;
    server.wait_connected(CP1, true).await;
    // OCPP-J §5.4: no boot needed after a reconnect; remote start is allowed at once.
    assert!(server.cs.connection_info(&cid(CP1)).unwrap().accepted);
    let _ = ChargerStore::charger_credentials(&server.store, &cid(CP1))
        .await
        .unwrap();
}
