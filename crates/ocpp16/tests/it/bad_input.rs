//! Malformed frames, unknown actions, schema violations, oversize frames, floods: the right
//! CALLERROR or a clean close, never a wrong status written, never a stuck connection.

use std::time::Duration;

use openpile_core::status::ConnectorStatus;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::charger::{Charger, Ended, status};
use crate::harness::{CP1, TestServer, test_config};

fn error_code(frame: &Value) -> &str {
    assert_eq!(frame[0], 4, "expected a CALLERROR, got {frame}");
    assert!(
        frame[4].is_object(),
        "errorDetails must be an object: {frame}"
    );
    frame[2].as_str().unwrap()
}

/// The connection still works: a heartbeat is answered.
async fn still_alive(c: &mut Charger) {
    let r = c.call("Heartbeat", json!({})).await;
    assert_eq!(r[0], 3, "{r}");
}

#[tokio::test]
async fn malformed_frames_get_formation_violation_or_are_dropped() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    // Truncated JSON that still shows its id: answerable.
    c.send_text(r#"[2, "m1", "Heartbeat", {"#).await;
    let r = c.answer_to("m1").await;
    assert_eq!(error_code(&r), "FormationViolation");
    // No id to answer to: dropped silently.
    for junk in ["not json", "{}", "[]", "[2]", r#"{"a":1}"#, "null"] {
        c.send_text(junk).await;
    }
    assert!(c.silent_for(Duration::from_millis(200)).await);
    still_alive(&mut c).await;
    // Envelope defects with an id.
    let cases = [
        (r#"[2,"m2","Heartbeat",[]]"#, "m2", "FormationViolation"),
        (r#"[2,"m3","Heartbeat"]"#, "m3", "ProtocolError"),
        (r#"[2,"m4","Heartbeat",{},1]"#, "m4", "FormationViolation"),
        (r#"["2","m5","Heartbeat",{}]"#, "m5", "FormationViolation"),
    ];
    for (text, id, code) in cases {
        c.send_text(text).await;
        assert_eq!(error_code(&c.answer_to(id).await), code, "{text}");
    }
    let long = "x".repeat(37);
    c.send_text(&json!([2, long, "Heartbeat", {}]).to_string())
        .await;
    assert_eq!(error_code(&c.answer_to(&long).await), "FormationViolation");
    still_alive(&mut c).await;
}

#[tokio::test]
async fn unknown_types_and_stray_replies_are_ignored() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    c.send_text(r#"[7,"x1",{}]"#).await;
    c.send_text(r#"[5,"x2","Heartbeat",{}]"#).await;
    c.send_text(r#"[3,"never-asked",{}]"#).await;
    c.send_text(r#"[4,"never-asked","GenericError","",{}]"#)
        .await;
    assert!(c.silent_for(Duration::from_millis(200)).await);
    still_alive(&mut c).await;
}

#[tokio::test]
async fn unknown_and_unsupported_actions() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    assert_eq!(
        error_code(&c.call("FlyToTheMoon", json!({})).await),
        "NotImplemented"
    );
    assert_eq!(
        error_code(&c.call("heartbeat", json!({})).await),
        "NotImplemented"
    );
    assert_eq!(
        error_code(&c.call("SecurityEventNotification", json!({})).await),
        "NotSupported"
    );
    assert_eq!(
        error_code(&c.call("Reset", json!({"type": "Hard"})).await),
        "NotSupported"
    );
}

#[tokio::test]
async fn schema_violations_get_their_code_and_write_nothing() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    c.call("StatusNotification", status(1, "Available")).await;
    let before = server.connector(CP1, 1).await;
    let cases = [
        (
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Busy"}),
            "PropertyConstraintViolation",
        ),
        (
            json!({"connectorId": 1, "errorCode": "NoError"}),
            "OccurenceConstraintViolation",
        ),
        (
            json!({"connectorId": "1", "errorCode": "NoError", "status": "Faulted"}),
            "TypeConstraintViolation",
        ),
        (
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Faulted", "extra": true}),
            "FormationViolation",
        ),
        (
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Faulted", "info": "x".repeat(51)}),
            "PropertyConstraintViolation",
        ),
        (
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Faulted", "info": null}),
            "TypeConstraintViolation",
        ),
        (
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Faulted", "timestamp": "yesterday"}),
            "PropertyConstraintViolation",
        ),
    ];
    for (payload, code) in cases {
        let r = c.call("StatusNotification", payload.clone()).await;
        assert_eq!(error_code(&r), code, "{payload}");
    }
    assert_eq!(server.connector(CP1, 1).await, before, "no status written");
    let r = c
        .call(
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "x".repeat(21)}),
        )
        .await;
    assert_eq!(error_code(&r), "PropertyConstraintViolation");
    let r = c
        .call("MeterValues", json!({"connectorId": 1, "meterValue": []}))
        .await;
    assert_eq!(error_code(&r), "OccurenceConstraintViolation");
    let r = c
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "x".repeat(21), "meterStart": 0,
        "timestamp": "2026-03-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(error_code(&r), "PropertyConstraintViolation");
    still_alive(&mut c).await;
}

#[tokio::test]
async fn an_oversize_message_closes_the_connection_cleanly() {
    let mut config = test_config();
    config.max_message_size = 4 * 1024;
    let server = TestServer::with_config(config).await;
    let mut c = Charger::booted(&server, CP1).await;
    c.call("StatusNotification", status(1, "Available")).await;
    let big = json!([2, "big", "DataTransfer", {"vendorId": "v", "data": "x".repeat(8 * 1024)}]);
    c.send_text(&big.to_string()).await;
    match c.ended().await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
    // The charger is gone, so its connectors are offline; nothing else was written.
    server
        .wait_for_status(CP1, 1, ConnectorStatus::Offline)
        .await;
}

#[tokio::test]
async fn a_binary_frame_closes_the_connection() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    c.send(Message::binary(vec![2u8, 0, 1])).await;
    match c.ended().await {
        Ended::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1003),
        other => panic!("expected close 1003, got {other:?}"),
    }
}

#[tokio::test]
async fn a_flood_is_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    // 300 pipelined CALLs without waiting (OCPP-J says one at a time; some chargers do not).
    let mut ids = Vec::new();
    for i in 0..300 {
        let id = format!("f{i}");
        let (action, payload) = if i % 3 == 0 {
            (
                "StatusNotification",
                status(
                    1 + i64::from(i % 2 == 0),
                    if i % 2 == 0 { "Available" } else { "Preparing" },
                ),
            )
        } else {
            ("Heartbeat", json!({}))
        };
        c.send_text(&json!([2, id, action, payload]).to_string())
            .await;
        ids.push(id);
    }
    for id in &ids {
        let r = c.recv().await.unwrap();
        assert_eq!(r[0], 3, "{r}");
        assert_eq!(&r[1], id, "answers come in order");
    }
    still_alive(&mut c).await;
}
