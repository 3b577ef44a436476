//! The simulator's OCPP flows, observed from the central system's side.

use std::time::Duration;

use openpile_core::status::ChargePointStatus;
use openpile_sim::{
    Behaviour, BootStatus, RemoteStartPolicy, SimCharger, SimConnector, SimError, SimEvent,
    SimHandle, uniform_connectors,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fake_csms::FakeCsms;

const PW: &str = "s3cret-password";
const WAIT: Duration = Duration::from_secs(10);

fn fast() -> Behaviour {
    Behaviour {
        meter_interval: Duration::from_millis(200),
        reconnect_delay: Duration::from_millis(50),
        reboot_delay: Duration::from_millis(50),
        power_kw: Some(Decimal::from(50)),
        ..Behaviour::default()
    }
}

/// Starts a charger with `connectors` 7 kW connectors and waits for its boot and statuses.
async fn booted(csms: &mut FakeCsms, id: &str, connectors: u32, b: Behaviour) -> SimHandle {
    let h = SimCharger::spawn(
        &csms.url,
        id,
        Some(PW),
        uniform_connectors(connectors, Decimal::from(7)),
        b,
    )
    .unwrap();
    csms.expect(id, "BootNotification").await;
    for c in 0..=i64::from(connectors) {
        assert_eq!(csms.expect_status(id, c).await, "Available");
    }
    h
}

fn remote_start(connector: i64, tag: &str) -> Value {
    json!({"connectorId": connector, "idTag": tag})
}

#[tokio::test]
async fn boots_reports_every_connector_and_heartbeats_at_the_returned_interval() {
    let mut csms = FakeCsms::start(PW, 1).await;
    let h = SimCharger::spawn(
        &csms.url,
        "CP 1",
        Some(PW),
        uniform_connectors(2, Decimal::from(7)),
        Behaviour {
            serial: Some("SN-42".into()),
            ..fast()
        },
    )
    .unwrap();
    let boot = csms.expect("CP 1", "BootNotification").await;
    assert_eq!(boot["chargePointVendor"], "OpenPile");
    assert_eq!(boot["chargePointModel"], "SimCharger");
    assert_eq!(boot["chargePointSerialNumber"], "SN-42");
    assert!(
        boot["firmwareVersion"]
            .as_str()
            .unwrap()
            .starts_with("sim-")
    );
    for c in 0..=2 {
        let s = csms.expect("CP 1", "StatusNotification").await;
        assert_eq!(s["connectorId"], json!(c));
        assert_eq!(s["status"], "Available");
        assert_eq!(s["errorCode"], "NoError");
        assert!(s["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    csms.expect("CP 1", "Heartbeat").await;
    let snap = h.snapshot();
    assert!(snap.connected);
    assert_eq!(snap.boot, BootStatus::Accepted);
    assert_eq!(snap.heartbeat_interval, Duration::from_secs(1));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_reported() {
    let csms = FakeCsms::start(PW, 60).await;
    let h = SimCharger::spawn(
        &csms.url,
        "CP-2",
        Some("wrong"),
        uniform_connectors(1, Decimal::from(7)),
        fast(),
    )
    .unwrap();
    let mut events = h.subscribe();
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(SimEvent::ConnectFailed(why)) = events.recv().await {
                return why;
            }
        }
    })
    .await
    .unwrap();
    assert!(failed.contains("401"), "{failed}");
    assert!(!h.snapshot().connected);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn remote_start_charges_at_the_connector_limit_and_remote_stop_ends_it() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-3", 2, fast()).await;

    let r = csms
        .call("CP-3", "RemoteStartTransaction", remote_start(2, "TAG-A"))
        .await;
    assert_eq!(r, json!({"status": "Accepted"}));
    assert_eq!(csms.expect_status("CP-3", 2).await, "Preparing");
    let start = csms.expect("CP-3", "StartTransaction").await;
    assert_eq!(start["connectorId"], 2);
    assert_eq!(start["idTag"], "TAG-A");
    let meter_start = start["meterStart"].as_i64().unwrap();
    assert_eq!(meter_start, 1_000_000);
    assert_eq!(csms.expect_status("CP-3", 2).await, "Charging");

    let mv = csms.expect("CP-3", "MeterValues").await;
    assert_eq!(mv["connectorId"], 2);
    assert_eq!(mv["transactionId"], 1001);
    let values = mv["meterValue"][0]["sampledValue"].as_array().unwrap();
    let by = |m: &str| {
        values
            .iter()
            .find(|v| v["measurand"] == m)
            .cloned()
            .unwrap()
    };
    // 50 kW asked, capped at the connector's 7 kW.
    assert_eq!(by("Power.Active.Import")["value"], "7000");
    assert_eq!(by("Power.Active.Import")["unit"], "W");
    assert_eq!(by("Energy.Active.Import.Register")["unit"], "Wh");
    assert_eq!(by("Voltage")["value"], "230");
    assert_eq!(by("Current.Import")["value"], "30.4");
    assert!(by("SoC")["value"].as_str().unwrap().parse::<u8>().unwrap() >= 20);
    for v in values {
        assert!(v["value"].is_string(), "sampled values are strings: {v}");
    }

    // Energy flows: 7 kW adds a Wh every ~0.5 s.
    let snap = h
        .wait_until("energy delivered", WAIT, |s| {
            let c = s.connector(2).unwrap();
            c.transaction_id == Some(1001) && c.meter_wh > 1_000_000
        })
        .await
        .unwrap();
    assert_eq!(snap.connector(2).unwrap().power_w, 7000);

    let r = csms
        .call(
            "CP-3",
            "RemoteStopTransaction",
            json!({"transactionId": 1001}),
        )
        .await;
    assert_eq!(r, json!({"status": "Accepted"}));
    let stop = csms.expect("CP-3", "StopTransaction").await;
    assert_eq!(stop["transactionId"], 1001);
    assert_eq!(stop["reason"], "Remote");
    assert_eq!(stop["idTag"], "TAG-A");
    assert!(stop["meterStop"].as_i64().unwrap() > meter_start);
    assert_eq!(stop["transactionData"].as_array().unwrap().len(), 2);
    assert_eq!(csms.expect_status("CP-3", 2).await, "Finishing");
    assert_eq!(csms.expect_status("CP-3", 2).await, "Available");

    // Stopping it again is refused: it is no longer running.
    let r = csms
        .call(
            "CP-3",
            "RemoteStopTransaction",
            json!({"transactionId": 1001}),
        )
        .await;
    assert_eq!(r, json!({"status": "Rejected"}));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn authorize_comes_first_when_configured_and_an_invalid_start_is_deauthorized() {
    let mut csms = FakeCsms::start(PW, 60).await;
    csms.reject_tag("BAD");
    let b = Behaviour {
        authorize_remote_start: true,
        ..fast()
    };
    let h = booted(&mut csms, "CP-4", 1, b).await;
    csms.call("CP-4", "RemoteStartTransaction", remote_start(1, "GOOD"))
        .await;
    let first = csms.next("CP-4").await;
    assert_eq!(first.action, "Authorize");
    assert_eq!(first.payload["idTag"], "GOOD");
    assert_eq!(csms.expect_status("CP-4", 1).await, "Preparing");
    csms.expect("CP-4", "StartTransaction").await;
    csms.call(
        "CP-4",
        "RemoteStopTransaction",
        json!({"transactionId": 1001}),
    )
    .await;
    csms.expect("CP-4", "StopTransaction").await;
    assert_eq!(csms.expect_status("CP-4", 1).await, "Finishing");
    assert_eq!(csms.expect_status("CP-4", 1).await, "Available");

    // A tag refused at Authorize: accepted remote start, but no session.
    csms.call("CP-4", "RemoteStartTransaction", remote_start(1, "BAD"))
        .await;
    csms.expect("CP-4", "Authorize").await;
    let snap = h.snapshot();
    assert!(!snap.connector(1).unwrap().in_session);

    // StartTransaction answered Invalid (the charger started offline): DeAuthorized stop.
    h.go_offline().await.unwrap();
    h.start_local(1, "BAD").await.unwrap();
    h.come_online().await.unwrap();
    let start = csms.expect("CP-4", "StartTransaction").await;
    assert_eq!(start["idTag"], "BAD");
    let stop = csms.expect("CP-4", "StopTransaction").await;
    assert_eq!(stop["reason"], "DeAuthorized");
    assert_eq!(stop["transactionId"], 1002);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_cable_the_connector_returns_to_available_after_connection_timeout() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let b = Behaviour {
        plug_on_remote_start: false,
        connection_timeout: Duration::from_millis(300),
        ..fast()
    };
    let h = booted(&mut csms, "CP-5", 1, b).await;
    csms.call("CP-5", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    assert_eq!(csms.expect_status("CP-5", 1).await, "Preparing");
    assert_eq!(csms.expect_status("CP-5", 1).await, "Available");
    assert!(
        !csms.history.iter().any(|r| r.action == "StartTransaction"),
        "no StartTransaction without a cable"
    );

    // The same again, but the driver plugs in within the timeout.
    csms.call("CP-5", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    assert_eq!(csms.expect_status("CP-5", 1).await, "Preparing");
    h.plug(1).await.unwrap();
    let start = csms.expect("CP-5", "StartTransaction").await;
    assert_eq!(start["idTag"], "T");
    assert_eq!(csms.expect_status("CP-5", 1).await, "Charging");
    // Unplugging the car ends the session; the cable was ours, so Finishing → Available.
    h.unplug(1).await.unwrap();
    let stop = csms.expect("CP-5", "StopTransaction").await;
    assert_eq!(stop["reason"], "EVDisconnected");
    assert_eq!(csms.expect_status("CP-5", 1).await, "Available");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn remote_start_can_be_rejected_or_ignored() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-6", 1, fast()).await;
    h.set_remote_start_policy(RemoteStartPolicy::Reject)
        .await
        .unwrap();
    let r = csms
        .call("CP-6", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    assert_eq!(r, json!({"status": "Rejected"}));
    h.set_remote_start_policy(RemoteStartPolicy::Ignore)
        .await
        .unwrap();
    let r = csms
        .call_within(
            "CP-6",
            "RemoteStartTransaction",
            remote_start(1, "T"),
            Duration::from_millis(500),
        )
        .await;
    assert!(r.is_none(), "ignored remote start was answered: {r:?}");
    // Unknown connectors are refused by the accepting policy too.
    h.set_remote_start_policy(RemoteStartPolicy::Accept)
        .await
        .unwrap();
    let r = csms
        .call("CP-6", "RemoteStartTransaction", remote_start(9, "T"))
        .await;
    assert_eq!(r, json!({"status": "Rejected"}));
    h.shutdown().await.unwrap();
}

fn in_ms(ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn reservations_are_accepted_refused_cancelled_used_and_expire_at_the_charger() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-7", 2, fast()).await;
    let reserve = |connector: i64, id: i64, tag: &str, ms: i64| json!({"connectorId": connector, "expiryDate": in_ms(ms), "idTag": tag, "reservationId": id});
    // Connector 0 is not supported (ReserveConnectorZeroSupported=false).
    let r = csms
        .call("CP-7", "ReserveNow", reserve(0, 1, "A", 60_000))
        .await;
    assert_eq!(r["status"], "Rejected");

    let r = csms
        .call("CP-7", "ReserveNow", reserve(1, 1, "A", 400))
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-7", 1).await, "Reserved");
    let r = csms
        .call("CP-7", "ReserveNow", reserve(1, 2, "B", 60_000))
        .await;
    assert_eq!(r["status"], "Occupied");
    // Expiry at the charger: back to Available, and cancelling it now is refused.
    assert_eq!(csms.expect_status("CP-7", 1).await, "Available");
    let r = csms
        .call("CP-7", "CancelReservation", json!({"reservationId": 1}))
        .await;
    assert_eq!(r["status"], "Rejected");

    let r = csms
        .call("CP-7", "ReserveNow", reserve(2, 3, "C", 60_000))
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-7", 2).await, "Reserved");
    let r = csms
        .call("CP-7", "CancelReservation", json!({"reservationId": 3}))
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-7", 2).await, "Available");

    // A reserved connector refuses other tags and starts for its own, naming the reservation.
    csms.call("CP-7", "ReserveNow", reserve(2, 4, "D", 60_000))
        .await;
    assert_eq!(csms.expect_status("CP-7", 2).await, "Reserved");
    let r = csms
        .call("CP-7", "RemoteStartTransaction", remote_start(2, "X"))
        .await;
    assert_eq!(r["status"], "Rejected");
    let r = csms
        .call("CP-7", "RemoteStartTransaction", remote_start(2, "d"))
        .await;
    assert_eq!(r["status"], "Accepted");
    let start = csms.expect("CP-7", "StartTransaction").await;
    assert_eq!(start["reservationId"], 4);
    let snap = h
        .wait_until("session", WAIT, |s| {
            s.connector(2).unwrap().transaction_id.is_some()
        })
        .await
        .unwrap();
    assert_eq!(snap.connector(2).unwrap().reservation_id, None);
    // A faulted connector answers Faulted.
    h.fault(1, "GroundFailure").await.unwrap();
    let status = loop {
        let s = csms.expect("CP-7", "StatusNotification").await;
        if s["connectorId"] == 1 {
            break s;
        }
    };
    assert_eq!(status["status"], "Faulted");
    assert_eq!(status["errorCode"], "GroundFailure");
    let r = csms
        .call("CP-7", "ReserveNow", reserve(1, 5, "E", 60_000))
        .await;
    assert_eq!(r["status"], "Faulted");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn change_availability_is_scheduled_during_a_session() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-8", 2, fast()).await;
    let r = csms
        .call(
            "CP-8",
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-8", 1).await, "Unavailable");
    let r = csms
        .call("CP-8", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    assert_eq!(r["status"], "Rejected");
    let r = csms
        .call(
            "CP-8",
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Operative"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-8", 1).await, "Available");

    csms.call("CP-8", "RemoteStartTransaction", remote_start(2, "T"))
        .await;
    csms.expect("CP-8", "StartTransaction").await;
    let r = csms
        .call(
            "CP-8",
            "ChangeAvailability",
            json!({"connectorId": 0, "type": "Inoperative"}),
        )
        .await;
    assert_eq!(r["status"], "Scheduled");
    // Connector 1 (idle) goes at once; 2 and the charger after the session.
    assert_eq!(csms.expect_status("CP-8", 1).await, "Unavailable");
    csms.call(
        "CP-8",
        "RemoteStopTransaction",
        json!({"transactionId": 1001}),
    )
    .await;
    csms.expect("CP-8", "StopTransaction").await;
    let mut seen = Vec::new();
    while !(seen.contains(&(2, "Unavailable".to_owned()))
        && seen.contains(&(0, "Unavailable".to_owned())))
    {
        let s = csms.expect("CP-8", "StatusNotification").await;
        seen.push((
            s["connectorId"].as_i64().unwrap(),
            s["status"].as_str().unwrap().to_owned(),
        ));
    }
    let r = csms
        .call(
            "CP-8",
            "ChangeAvailability",
            json!({"connectorId": 7, "type": "Operative"}),
        )
        .await;
    assert_eq!(r["status"], "Rejected");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn reset_stops_the_session_then_reconnects_and_boots() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-9", 1, fast()).await;
    csms.call("CP-9", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    csms.expect("CP-9", "StartTransaction").await;
    let r = csms.call("CP-9", "Reset", json!({"type": "Hard"})).await;
    assert_eq!(r["status"], "Accepted");
    let stop = csms.expect("CP-9", "StopTransaction").await;
    assert_eq!(stop["reason"], "HardReset");
    assert_eq!(stop["transactionId"], 1001);
    csms.expect("CP-9", "BootNotification").await;
    assert_eq!(csms.expect_status("CP-9", 1).await, "Available");
    let snap = h.snapshot();
    assert_eq!(snap.connects, 2);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn offline_sessions_are_delivered_in_order_after_reconnect_without_boot() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-10", 2, fast()).await;
    // A session that started online and goes on while the charger is offline.
    csms.call("CP-10", "RemoteStartTransaction", remote_start(1, "ON"))
        .await;
    csms.expect("CP-10", "StartTransaction").await;
    csms.expect("CP-10", "MeterValues").await;
    h.go_offline().await.unwrap();
    assert!(!h.snapshot().connected);
    // And one that happens entirely offline.
    h.start_local(2, "OFF").await.unwrap();
    h.wait_until("queued meter values", WAIT, |s| {
        s.queued_transaction_messages >= 4
    })
    .await
    .unwrap();
    h.stop_local(1).await.unwrap();
    h.stop_local(2).await.unwrap();
    let queued = h.snapshot().queued_transaction_messages;
    let boots = csms
        .history
        .iter()
        .filter(|r| r.action == "BootNotification")
        .count();

    h.come_online().await.unwrap();
    let mut delivered = Vec::new();
    while delivered.len() < queued {
        let r = csms.next("CP-10").await;
        if r.action != "StatusNotification" {
            delivered.push(r);
        }
    }
    let actions: Vec<&str> = delivered.iter().map(|r| r.action.as_str()).collect();
    assert!(!actions.contains(&"BootNotification"), "{actions:?}");
    // Per session: Start (offline one only), MeterValues..., Stop — in the order they happened.
    let pos = |pred: &dyn Fn(&crate::fake_csms::Received) -> bool| {
        delivered.iter().position(pred).unwrap()
    };
    let stop_on = pos(&|r| r.action == "StopTransaction" && r.payload["transactionId"] == 1001);
    let start_off = pos(&|r| r.action == "StartTransaction" && r.payload["idTag"] == "OFF");
    let stop_off = pos(&|r| r.action == "StopTransaction" && r.payload["transactionId"] == 1002);
    assert!(start_off < stop_off);
    for (i, r) in delivered.iter().enumerate() {
        if r.action == "MeterValues" && r.payload["transactionId"] == 1001 {
            assert!(i < stop_on);
        }
        if r.action == "MeterValues" && r.payload["connectorId"] == 2 {
            assert_eq!(
                r.payload["transactionId"], 1002,
                "offline session got its id"
            );
            assert!(start_off < i && i < stop_off);
        }
    }
    assert_eq!(
        csms.history
            .iter()
            .filter(|r| r.action == "BootNotification")
            .count(),
        boots
    );
    let snap = h
        .wait_until("queue drained", WAIT, |s| {
            s.queued_transaction_messages == 0
        })
        .await
        .unwrap();
    assert_eq!(snap.transactions_stopped, 2);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn configuration_trigger_unlock_and_other_operations() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-11", 1, fast()).await;

    let r = csms
        .call(
            "CP-11",
            "GetConfiguration",
            json!({"key": ["HeartbeatInterval", "Nope", "AuthorizationKey"]}),
        )
        .await;
    assert_eq!(r["configurationKey"][0]["key"], "HeartbeatInterval");
    assert_eq!(r["configurationKey"][0]["value"], "60");
    assert_eq!(r["unknownKey"], json!(["Nope", "AuthorizationKey"]));
    let all = csms.call("CP-11", "GetConfiguration", json!({})).await;
    assert!(all["configurationKey"].as_array().unwrap().len() > 10);

    let change = |k: &str, v: &str| json!({"key": k, "value": v});
    let r = csms
        .call(
            "CP-11",
            "ChangeConfiguration",
            change("HeartbeatInterval", "1"),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    csms.expect("CP-11", "Heartbeat").await;
    let r = csms
        .call(
            "CP-11",
            "ChangeConfiguration",
            change("NumberOfConnectors", "3"),
        )
        .await;
    assert_eq!(r["status"], "Rejected");
    let r = csms
        .call("CP-11", "ChangeConfiguration", change("NoSuchKey", "1"))
        .await;
    assert_eq!(r["status"], "NotSupported");
    let r = csms
        .call(
            "CP-11",
            "ChangeConfiguration",
            change("MeterValueSampleInterval", "x"),
        )
        .await;
    assert_eq!(r["status"], "Rejected");

    let r = csms
        .call(
            "CP-11",
            "TriggerMessage",
            json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    assert_eq!(csms.expect_status("CP-11", 1).await, "Available");
    let r = csms
        .call(
            "CP-11",
            "TriggerMessage",
            json!({"requestedMessage": "MeterValues"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let mv = csms.expect("CP-11", "MeterValues").await;
    assert_eq!(mv["meterValue"][0]["sampledValue"][0]["context"], "Trigger");
    let r = csms
        .call(
            "CP-11",
            "TriggerMessage",
            json!({"requestedMessage": "BootNotification"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    csms.expect("CP-11", "BootNotification").await;

    csms.call("CP-11", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    csms.expect("CP-11", "StartTransaction").await;
    let r = csms
        .call("CP-11", "UnlockConnector", json!({"connectorId": 1}))
        .await;
    assert_eq!(r["status"], "Unlocked");
    let stop = csms.expect("CP-11", "StopTransaction").await;
    assert_eq!(stop["reason"], "UnlockCommand");

    assert_eq!(
        csms.call("CP-11", "ClearCache", json!({})).await["status"],
        "Accepted"
    );
    let r = csms
        .call("CP-11", "DataTransfer", json!({"vendorId": "com.example"}))
        .await;
    assert_eq!(r["status"], "UnknownVendorId");
    let answer = csms
        .call_within("CP-11", "Frobnicate", json!({}), WAIT)
        .await
        .unwrap();
    assert_eq!(answer[0], 4);
    assert_eq!(answer[2], "NotImplemented");
    let answer = csms
        .call_within("CP-11", "RemoteStopTransaction", json!({}), WAIT)
        .await
        .unwrap();
    assert_eq!(answer[2], "OccurenceConstraintViolation");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fault_ends_the_session_and_control_errors_are_typed() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-12", 1, fast()).await;
    csms.call("CP-12", "RemoteStartTransaction", remote_start(1, "T"))
        .await;
    csms.expect("CP-12", "StartTransaction").await;
    h.fault(1, "OverCurrentFailure").await.unwrap();
    let stop = csms.expect("CP-12", "StopTransaction").await;
    assert_eq!(stop["reason"], "Other");
    let snap = h
        .wait_until("faulted", WAIT, |s| {
            s.connector(1).unwrap().status == ChargePointStatus::Faulted
        })
        .await
        .unwrap();
    assert_eq!(snap.connector(1).unwrap().error_code, "OverCurrentFailure");
    h.clear_fault(1).await.unwrap();
    h.wait_until("available", WAIT, |s| {
        s.connector(1).unwrap().status == ChargePointStatus::Available
    })
    .await
    .unwrap();
    assert!(matches!(h.plug(5).await, Err(SimError::Refused { .. })));
    assert!(matches!(
        h.stop_local(1).await,
        Err(SimError::Refused { .. })
    ));
    h.shutdown().await.unwrap();
    assert!(matches!(h.plug(1).await, Err(SimError::Stopped(_))));
}

#[tokio::test]
async fn a_changed_authorization_key_is_used_on_the_next_connection() {
    let mut csms = FakeCsms::start(PW, 60).await;
    let h = booted(&mut csms, "CP-13", 1, fast()).await;
    // The fake CSMS keeps accepting only PW, so after the change the charger cannot get back.
    let r = csms
        .call(
            "CP-13",
            "ChangeConfiguration",
            json!({"key": "AuthorizationKey", "value": "0011223344556677889900aabbccddee"}),
        )
        .await;
    assert_eq!(r["status"], "Accepted");
    let mut events = h.subscribe();
    let why = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(SimEvent::ConnectFailed(why)) = events.recv().await {
                return why;
            }
        }
    })
    .await
    .unwrap();
    assert!(why.contains("401"));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn connectors_must_be_valid_at_spawn() {
    let err = SimCharger::spawn(
        "ws://127.0.0.1:1/ocpp",
        "CP",
        None,
        vec![SimConnector::new(2, Decimal::from(7))],
        Behaviour::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SimError::Config(_)));
    assert!(matches!(
        SimCharger::spawn(
            "http://x",
            "CP",
            None,
            uniform_connectors(1, Decimal::ONE),
            Behaviour::default()
        ),
        Err(SimError::Url(_))
    ));
}

#[tokio::test]
async fn connects_over_tls_when_given_the_certificate_to_trust() {
    let dir = std::env::temp_dir().join(format!("openpile-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("csms.pem");
    let mut csms = FakeCsms::start_tls(PW, 60, &cert).await;
    assert!(csms.url.starts_with("wss://"));
    let b = Behaviour {
        ca_certificate: Some(cert.clone()),
        ..fast()
    };
    let h = booted(&mut csms, "CP-TLS", 1, b).await;
    assert!(h.snapshot().connected);
    h.shutdown().await.unwrap();

    // Without a certificate to trust, wss:// cannot connect, and says why.
    let h = SimCharger::spawn(
        &csms.url,
        "CP-TLS2",
        Some(PW),
        uniform_connectors(1, Decimal::from(7)),
        fast(),
    )
    .unwrap();
    let mut events = h.subscribe();
    let why = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(SimEvent::ConnectFailed(why)) = events.recv().await {
                return why;
            }
        }
    })
    .await
    .unwrap();
    assert!(why.contains("CA certificate"), "{why}");
    h.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
