//! Online while connected: reconnects replace the old connection, a dropped connection or a
//! silent charger turns its connectors offline, and reported statuses restore them.

use std::time::Duration;

use openpile_core::ports::{ChargerCommand, ChargerGateway, GatewayError};
use openpile_core::status::ConnectorStatus;
use serde_json::json;

use crate::charger::{Charger, Ended, status};
use crate::harness::{CP1, TestServer, cid, test_config};

#[tokio::test]
async fn a_dropped_connection_marks_the_connectors_offline() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    c.call("StatusNotification", status(1, "Available")).await;
    c.call("StatusNotification", status(2, "Charging")).await;
    c.close().await;
    let s1 = server
        .wait_for_status(CP1, 1, ConnectorStatus::Offline)
        .await;
    assert_eq!(
        s1.status_seq, 2,
        "offline is a change with its own sequence number"
    );
    server
        .wait_for_status(CP1, 2, ConnectorStatus::Offline)
        .await;
    assert!(!server.cs.is_connected(&cid(CP1)));

    // Back again: what the charger reports restores the status.
    let mut c = Charger::connect(&server, CP1).await;
    c.call("StatusNotification", status(1, "Available")).await;
    let s1 = server.connector(CP1, 1).await;
    assert_eq!(s1.status, ConnectorStatus::Available);
    assert_eq!(s1.status_seq, 3);
}

#[tokio::test]
async fn a_reconnect_replaces_the_old_connection() {
    let server = TestServer::start().await;
    let mut old = Charger::booted(&server, CP1).await;
    old.call("StatusNotification", status(1, "Available")).await;
    let mut new = Charger::connect(&server, CP1).await;
    match old.ended().await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected the old connection closed, got {other:?}"),
    }
    // The replaced connection's end does not mark the charger offline.
    let r = new.call("Heartbeat", json!({})).await;
    assert_eq!(r[0], 3);
    assert!(server.cs.is_connected(&cid(CP1)));
    assert_eq!(
        server.connector(CP1, 1).await.status,
        ConnectorStatus::Available
    );
    assert_eq!(server.cs.connected_chargers().len(), 1);
}

#[tokio::test]
async fn a_reconnect_fails_the_calls_pending_on_the_old_connection() {
    let server = TestServer::start().await;
    let mut old = Charger::booted(&server, CP1).await;
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.send(&cid(CP1), ChargerCommand::ClearCache).await });
    let (_id, action, _) = old.server_call().await;
    assert_eq!(action, "ClearCache");
    let _new = Charger::connect(&server, CP1).await;
    assert_eq!(pending.await.unwrap(), Err(GatewayError::Offline));
}

#[tokio::test]
async fn a_silent_charger_is_closed_and_marked_offline() {
    let mut config = test_config();
    config.heartbeat_interval = Duration::from_millis(400);
    config.liveness_factor = 1;
    config.sweep_interval = Duration::from_millis(50);
    let server = TestServer::with_config(config).await;
    let mut c = Charger::booted(&server, CP1).await;
    c.call("StatusNotification", status(1, "Available")).await;
    // Heartbeating keeps it online past the timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.call("Heartbeat", json!({})).await;
    }
    assert!(server.cs.is_connected(&cid(CP1)));
    assert_eq!(
        server.connector(CP1, 1).await.status,
        ConnectorStatus::Available
    );
    // ...silence does not.
    match c.ended().await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close for silence, got {other:?}"),
    }
    server
        .wait_for_status(CP1, 1, ConnectorStatus::Offline)
        .await;
    server.wait_connected(CP1, false).await;
}
