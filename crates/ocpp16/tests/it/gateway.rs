//! Commands to chargers through the core's ChargerGateway: every command round-trips, one CALL
//! at a time per charger, timeouts, offline chargers, CALLERRORs and chargers not yet accepted.

use std::time::Duration;

use chrono::TimeZone;
use openpile_core::ids::ConnectorNumber;
use openpile_core::ports::{
    ChargerCommand, ChargerGateway, CommandReply, ConfigurationEntry, GatewayError,
    TriggerableMessage,
};
use openpile_ocpp16::messages::smart_charging::{ChargingProfileStatus, SetChargingProfileRequest};
use openpile_ocpp16::messages::types::{
    ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingRateUnit,
    ChargingSchedule, ChargingSchedulePeriod, Tenths,
};
use serde_json::{Value, json};

use crate::charger::Charger;
use crate::harness::{CP1, CP2, TestServer, cid, test_config};

fn n(x: u32) -> ConnectorNumber {
    ConnectorNumber::new(x).unwrap()
}

/// Every ChargerCommand, the CALL it must become, the answer our fake charger gives, and the
/// reply the gateway must return.
fn cases() -> Vec<(ChargerCommand, &'static str, Value, Value, CommandReply)> {
    let status = |s: &str| CommandReply::Status(s.to_string());
    let expiry = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
    vec![
        (
            ChargerCommand::RemoteStartTransaction {
                connector: n(1),
                id_tag: "OPL-1".into(),
            },
            "RemoteStartTransaction",
            json!({"connectorId": 1, "idTag": "OPL-1"}),
            json!({"status": "Accepted"}),
            status("Accepted"),
        ),
        (
            ChargerCommand::RemoteStopTransaction { transaction_id: 17 },
            "RemoteStopTransaction",
            json!({"transactionId": 17}),
            json!({"status": "Rejected"}),
            status("Rejected"),
        ),
        (
            ChargerCommand::ReserveNow {
                connector: n(2),
                expiry,
                id_tag: "OPL-2".into(),
                reservation_id: 5,
            },
            "ReserveNow",
            json!({"connectorId": 2, "expiryDate": "2026-03-01T09:30:00.000Z", "idTag": "OPL-2", "reservationId": 5}),
            json!({"status": "Occupied"}),
            status("Occupied"),
        ),
        (
            ChargerCommand::CancelReservation { reservation_id: 5 },
            "CancelReservation",
            json!({"reservationId": 5}),
            json!({"status": "Accepted"}),
            status("Accepted"),
        ),
        (
            ChargerCommand::ChangeAvailability {
                connector: Some(n(1)),
                operative: true,
            },
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Operative"}),
            json!({"status": "Scheduled"}),
            status("Scheduled"),
        ),
        (
            ChargerCommand::TriggerMessage {
                message: TriggerableMessage::MeterValues,
                connector: Some(n(1)),
            },
            "TriggerMessage",
            json!({"requestedMessage": "MeterValues", "connectorId": 1}),
            json!({"status": "NotImplemented"}),
            status("NotImplemented"),
        ),
        (
            ChargerCommand::UnlockConnector { connector: n(2) },
            "UnlockConnector",
            json!({"connectorId": 2}),
            json!({"status": "Unlocked"}),
            status("Unlocked"),
        ),
        (
            ChargerCommand::Reset { hard: false },
            "Reset",
            json!({"type": "Soft"}),
            json!({"status": "Accepted"}),
            status("Accepted"),
        ),
        (
            ChargerCommand::GetConfiguration {
                keys: vec!["HeartbeatInterval".into(), "Foo".into()],
            },
            "GetConfiguration",
            json!({"key": ["HeartbeatInterval", "Foo"]}),
            json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "300"}],
                   "unknownKey": ["Foo"]}),
            CommandReply::Configuration {
                known: vec![ConfigurationEntry {
                    key: "HeartbeatInterval".into(),
                    value: Some("300".into()),
                    readonly: false,
                }],
                unknown: vec!["Foo".into()],
            },
        ),
        (
            ChargerCommand::ChangeConfiguration {
                key: "HeartbeatInterval".into(),
                value: "120".into(),
            },
            "ChangeConfiguration",
            json!({"key": "HeartbeatInterval", "value": "120"}),
            json!({"status": "RebootRequired"}),
            status("RebootRequired"),
        ),
        (
            ChargerCommand::ClearCache,
            "ClearCache",
            json!({}),
            json!({"status": "Rejected"}),
            status("Rejected"),
        ),
    ]
}

#[tokio::test]
async fn every_command_round_trips() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let gateway: &dyn ChargerGateway = &server.cs;
    assert!(gateway.is_connected(&cid(CP1)));
    let all = cases();
    assert_eq!(all.len(), 11);
    let cp1 = cid(CP1);
    for (command, action, payload, answer, want) in all {
        let send = gateway.send(&cp1, command.clone());
        let charger = async {
            let (id, got_action, got_payload) = c.server_call().await;
            assert_eq!(got_action, action);
            assert_eq!(got_payload, payload, "{action}");
            assert!(
                uuid::Uuid::parse_str(&id).is_ok(),
                "message ids are UUIDs: {id}"
            );
            c.reply(&id, answer).await;
        };
        let (reply, ()) = tokio::join!(send, charger);
        assert_eq!(reply.unwrap(), want, "{command:?}");
    }
}

#[tokio::test]
async fn a_second_command_waits_for_the_first() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let (a, b) = (server.cs.clone(), server.cs.clone());
    let first = tokio::spawn(async move {
        a.send(&cid(CP1), ChargerCommand::Reset { hard: true })
            .await
    });
    let (id1, action1, _) = c.server_call().await;
    assert_eq!(action1, "Reset");
    let second = tokio::spawn(async move { b.send(&cid(CP1), ChargerCommand::ClearCache).await });
    // OCPP-J §4.1.1: nothing else is sent while the first CALL is unanswered.
    assert!(c.silent_for(Duration::from_millis(300)).await);
    // Incoming CALLs are still handled meanwhile (CALLs may cross).
    assert_eq!(c.call("Heartbeat", json!({})).await[0], 3);
    c.reply(&id1, json!({"status": "Accepted"})).await;
    let (id2, action2, _) = c.server_call().await;
    assert_eq!(action2, "ClearCache");
    c.reply(&id2, json!({"status": "Accepted"})).await;
    assert_eq!(
        first.await.unwrap().unwrap(),
        CommandReply::Status("Accepted".into())
    );
    assert_eq!(
        second.await.unwrap().unwrap(),
        CommandReply::Status("Accepted".into())
    );
}

#[tokio::test]
async fn an_unanswered_call_times_out_and_a_late_reply_is_ignored() {
    let mut config = test_config();
    config.call_timeout = Duration::from_millis(300);
    let server = TestServer::with_config(config).await;
    let mut c = Charger::booted(&server, CP1).await;
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.send(&cid(CP1), ChargerCommand::ClearCache).await });
    let (late_id, _, _) = c.server_call().await;
    assert_eq!(pending.await.unwrap(), Err(GatewayError::Timeout));
    // The late reply is dropped; the next command goes through.
    c.reply(&late_id, json!({"status": "Accepted"})).await;
    let cs = server.cs.clone();
    let next = tokio::spawn(async move {
        cs.send(&cid(CP1), ChargerCommand::Reset { hard: false })
            .await
    });
    let (id, action, _) = c.server_call().await;
    assert_eq!(action, "Reset");
    c.reply(&id, json!({"status": "Rejected"})).await;
    assert_eq!(
        next.await.unwrap().unwrap(),
        CommandReply::Status("Rejected".into())
    );
}

#[tokio::test]
async fn an_offline_charger_is_reported_offline() {
    let server = TestServer::start().await;
    let r = server.cs.send(&cid(CP2), ChargerCommand::ClearCache).await;
    assert_eq!(r, Err(GatewayError::Offline));
    assert!(!server.cs.is_connected(&cid(CP2)));
}

#[tokio::test]
async fn call_errors_and_invalid_answers_are_reported() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.send(&cid(CP1), ChargerCommand::ClearCache).await });
    let (id, _, _) = c.server_call().await;
    c.send_text(&json!([4, id, "NotSupported", "no cache here", {}]).to_string())
        .await;
    assert_eq!(
        pending.await.unwrap(),
        Err(GatewayError::CallError {
            code: "NotSupported".into(),
            description: "no cache here".into()
        })
    );
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.send(&cid(CP1), ChargerCommand::ClearCache).await });
    let (id, _, _) = c.server_call().await;
    c.reply(&id, json!({"status": "Done"})).await;
    let err = pending.await.unwrap().unwrap_err();
    assert!(
        matches!(err, GatewayError::CallError { ref code, .. } if code == "PropertyConstraintViolation"),
        "{err:?}"
    );
}

#[tokio::test]
async fn remote_start_needs_an_accepted_charger() {
    let server = TestServer::start().await;
    let mut c = Charger::connect(&server, CP1).await;
    let start = ChargerCommand::RemoteStartTransaction {
        connector: n(1),
        id_tag: "T".into(),
    };
    assert_eq!(
        server.cs.send(&cid(CP1), start.clone()).await,
        Err(GatewayError::NotAccepted)
    );
    assert_eq!(
        server
            .cs
            .send(
                &cid(CP1),
                ChargerCommand::RemoteStopTransaction { transaction_id: 1 }
            )
            .await,
        Err(GatewayError::NotAccepted)
    );
    c.call("BootNotification", crate::charger::boot()).await;
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.send(&cid(CP1), start).await });
    let (id, action, _) = c.server_call().await;
    assert_eq!(action, "RemoteStartTransaction");
    c.reply(&id, json!({"status": "Accepted"})).await;
    assert_eq!(
        pending.await.unwrap().unwrap(),
        CommandReply::Status("Accepted".into())
    );
}

#[tokio::test]
async fn any_typed_request_can_be_sent() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let profile = SetChargingProfileRequest {
        connector_id: 0,
        cs_charging_profiles: ChargingProfile {
            charging_profile_id: 1,
            transaction_id: None,
            stack_level: 0,
            charging_profile_purpose: ChargingProfilePurpose::ChargePointMaxProfile,
            charging_profile_kind: ChargingProfileKind::Absolute,
            recurrency_kind: None,
            valid_from: None,
            valid_to: None,
            charging_schedule: ChargingSchedule {
                duration: None,
                start_schedule: None,
                charging_rate_unit: ChargingRateUnit::A,
                charging_schedule_period: vec![ChargingSchedulePeriod {
                    start_period: 0,
                    limit: Tenths(161),
                    number_phases: None,
                }],
                min_charging_rate: None,
            },
        },
    };
    let cs = server.cs.clone();
    let pending = tokio::spawn(async move { cs.call(&cid(CP1), &profile).await });
    let (id, action, payload) = c.server_call().await;
    assert_eq!(action, "SetChargingProfile");
    assert_eq!(
        payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
        json!(16.1)
    );
    c.reply(&id, json!({"status": "Accepted"})).await;
    assert_eq!(
        pending.await.unwrap().unwrap().status,
        ChargingProfileStatus::Accepted
    );
}

#[tokio::test]
async fn operators_see_connected_chargers() {
    let server = TestServer::start().await;
    let _a = Charger::booted(&server, CP2).await;
    let mut b = Charger::connect(&server, CP1).await;
    b.call("Heartbeat", json!({})).await;
    let list = server.cs.connected_chargers();
    let ids: Vec<&str> = list.iter().map(|c| c.charger_id.as_str()).collect();
    assert_eq!(ids, vec![CP1, CP2]);
    assert!(!list[0].accepted && list[1].accepted);
    assert!(list[0].last_message_at >= list[0].connected_at);
    assert_eq!(server.cs.connected_count(), 2);
    assert!(server.cs.disconnect(&cid(CP1)));
    server.wait_connected(CP1, false).await;
}
