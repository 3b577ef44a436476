//! Start, meter values and stop, persisted; retransmissions; stops we cannot match.

use chrono::Utc;
use openpile_core::charging::{
    IdTagBinding, LocalIdTag, Measurement, TagStatus, TransactionId, TransactionStore,
};
use openpile_core::energy::{Watts, Wh};
use openpile_core::ids::{ConnectorNumber, SessionId};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::charger::{Charger, now};
use crate::harness::{CP1, TestServer, cid};

fn start(tag: &str, meter: i64, timestamp: &str) -> Value {
    json!({"connectorId": 1, "idTag": tag, "meterStart": meter, "timestamp": timestamp})
}

fn tx_id(frame: &Value) -> TransactionId {
    TransactionId::new(frame[2]["transactionId"].as_i64().unwrap()).unwrap()
}

#[tokio::test]
async fn a_full_transaction_is_persisted() {
    let server = TestServer::start().await;
    server
        .store
        .put_local_id_tag(&LocalIdTag {
            id_tag: "04A2B3C4D5E6F7".into(),
            status: TagStatus::Accepted,
            expires_at: None,
            parent_id_tag: None,
        })
        .await
        .unwrap();
    let mut c = Charger::booted(&server, CP1).await;
    let r = c
        .call("Authorize", json!({"idTag": "04a2b3c4d5e6f7"}))
        .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");

    let started = c
        .call(
            "StartTransaction",
            start("04A2B3C4D5E6F7", 1_000_000, "2026-03-01T08:00:00Z"),
        )
        .await;
    assert_eq!(started[2]["idTagInfo"]["status"], "Accepted");
    let id = tx_id(&started);
    assert!(id.get() > 0);

    // kWh with decimals, and Wh, with power/SoC/voltage/current.
    let mv = |value: &str, unit: &str, ts: &str| {
        json!({"connectorId": 1, "transactionId": id.get(),
        "meterValue": [{"timestamp": ts, "sampledValue": [
            {"value": value, "unit": unit, "measurand": "Energy.Active.Import.Register",
             "context": "Sample.Periodic", "location": "Outlet"},
            {"value": "7.36", "unit": "kW", "measurand": "Power.Active.Import"},
            {"value": "42", "measurand": "SoC", "unit": "Percent"},
            {"value": "230.4", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "21.5", "measurand": "Temperature", "unit": "Celcius"}]}]})
    };
    let r = c
        .call("MeterValues", mv("1000.25", "kWh", "2026-03-01T08:05:00Z"))
        .await;
    assert_eq!(r[2], json!({}));
    c.call(
        "MeterValues",
        mv("1000500", "Wh", "2026-03-01T08:10:00.500+00:00"),
    )
    .await;

    let stop = json!({"transactionId": id.get(), "meterStop": 1_000_750, "timestamp": "2026-03-01T08:15:00Z",
        "idTag": "04A2B3C4D5E6F7", "reason": "Local", "transactionData": [
            {"timestamp": "2026-03-01T08:15:00Z", "sampledValue": [
                {"value": "1000750", "context": "Transaction.End"}]}]});
    let r = c.call("StopTransaction", stop).await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Accepted"}}));

    let tx = server.store.get_transaction(id).await.unwrap();
    assert_eq!(tx.charger_id, cid(CP1));
    assert_eq!(tx.connector, ConnectorNumber::new(1).ok());
    assert_eq!(tx.meter_start, Wh(1_000_000));
    assert_eq!(tx.meter_stop, Some(Wh(1_000_750)));
    assert_eq!(tx.energy(), Some(Wh(750)));
    assert_eq!(
        tx.stop_reason,
        Some(openpile_core::charging::StopReason::Local)
    );
    let samples = server.store.transaction_samples(id).await.unwrap();
    let energy: Vec<Wh> = samples
        .iter()
        .filter_map(|s| match s.measurement {
            Measurement::EnergyImportRegister(wh) => Some(wh),
            _ => None,
        })
        .collect();
    assert_eq!(energy, vec![Wh(1_000_250), Wh(1_000_500), Wh(1_000_750)]);
    assert!(
        samples
            .iter()
            .any(|s| s.measurement == Measurement::PowerImport(Watts(7360)))
    );
    assert!(
        samples
            .iter()
            .any(|s| s.measurement == Measurement::StateOfCharge(Decimal::from(42)))
    );
    assert!(samples.iter().any(
        |s| s.measurement == Measurement::Voltage(Decimal::new(2304, 1))
            && s.phase.as_deref() == Some("L1-N")
    ));
    assert!(
        samples
            .iter()
            .any(|s| s.measurement == Measurement::CurrentImport(Decimal::new(161, 1)))
    );
    assert_eq!(samples.len(), 2 * 5 + 1, "temperature is not kept");
}

#[tokio::test]
async fn a_retransmitted_start_gets_the_same_id() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let ts = "2026-03-01T09:00:00.123Z";
    let first = tx_id(&c.call("StartTransaction", start("TAG-1", 500, ts)).await);
    c.close().await;
    // After a reconnect, the charger resends the start it got no answer for.
    let mut c = Charger::connect(&server, CP1).await;
    let again = c.call("StartTransaction", start("TAG-1", 500, ts)).await;
    assert_eq!(tx_id(&again), first);
    assert_eq!(again[2]["idTagInfo"]["status"], "Invalid");
    let other = tx_id(
        &c.call(
            "StartTransaction",
            start("TAG-1", 500, "2026-03-01T09:30:00Z"),
        )
        .await,
    );
    assert_ne!(other, first);
    assert_eq!(
        server
            .store
            .open_transactions(&cid(CP1))
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn an_unknown_tag_still_gets_a_transaction_id() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    let r = c.call("StartTransaction", start("NOBODY", 0, &now())).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Invalid");
    // R-T1: a fresh, persisted id even so; the charger stops with DeAuthorized.
    let id = tx_id(&r);
    let r = c
        .call(
            "StopTransaction",
            json!({"transactionId": id.get(), "meterStop": 0,
        "timestamp": now(), "reason": "DeAuthorized", "idTag": "NOBODY"}),
        )
        .await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Invalid"}}));
}

#[tokio::test]
async fn a_tag_bound_to_a_session_links_the_transaction() {
    let server = TestServer::start().await;
    let session = SessionId::parse("sess-42").unwrap();
    server
        .store
        .bind_id_tag(
            &IdTagBinding {
                id_tag: "OPL-SESS-42".into(),
                session_id: session.clone(),
                charger_id: cid(CP1),
                connector: ConnectorNumber::new(1).ok(),
                expires_at: Utc::now() + chrono::Duration::minutes(5),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let mut c = Charger::booted(&server, CP1).await;
    let r = c.call("Authorize", json!({"idTag": "OPL-SESS-42"})).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");
    assert!(r[2]["idTagInfo"]["expiryDate"].is_string());
    let id = tx_id(
        &c.call("StartTransaction", start("OPL-SESS-42", 10, &now()))
            .await,
    );
    let linked = server
        .store
        .transaction_of_session(&session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, id);
}

#[tokio::test]
async fn a_stop_for_an_unknown_transaction_is_answered() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    for id in [-1, 0, 99_999] {
        let r = c
            .call(
                "StopTransaction",
                json!({"transactionId": id, "meterStop": 100, "timestamp": now()}),
            )
            .await;
        assert_eq!(r[0], 3, "{r}");
        assert_eq!(r[2], json!({}));
    }
    // A stop without reason on our own transaction, then repeated: same answer both times.
    let id = tx_id(&c.call("StartTransaction", start("T", 0, &now())).await);
    let stop =
        json!({"transactionId": id.get(), "meterStop": 10, "timestamp": now(), "idTag": "T"});
    let first = c.call("StopTransaction", stop.clone()).await;
    let second = c.call("StopTransaction", stop).await;
    assert_eq!(first[2], second[2]);
    let tx = server.store.get_transaction(id).await.unwrap();
    assert_eq!(
        tx.stop_reason,
        Some(openpile_core::charging::StopReason::Local)
    );
}

#[tokio::test]
async fn bad_transaction_data_is_answered_and_parked() {
    let server = TestServer::start().await;
    let mut c = Charger::booted(&server, CP1).await;
    // Connector 0 cannot start a transaction; still answered with an id (R-T4).
    let r = c
        .call(
            "StartTransaction",
            json!({"connectorId": 0, "idTag": "T", "meterStart": 5, "timestamp": now()}),
        )
        .await;
    let id = tx_id(&r);
    let r = c.call("MeterValues", json!({"connectorId": 1, "transactionId": id.get(), "meterValue": [
        {"timestamp": now(), "sampledValue": [{"value": "twelve"}, {"value": "12", "unit": "kvarh"}, {"value": "15"}]}]})).await;
    assert_eq!(r[2], json!({}));
    let r = c
        .call(
            "StopTransaction",
            json!({"transactionId": id.get(), "meterStop": 1, "timestamp": now()}),
        )
        .await;
    assert_eq!(r[0], 3);
    let parked = server.store.list_parked(10).await.unwrap();
    let actions: Vec<&str> = parked.iter().map(|p| p.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["StopTransaction", "MeterValues", "StartTransaction"]
    );
    assert!(parked[1].reason.contains("not a number"));
    let tx = server.store.get_transaction(id).await.unwrap();
    assert_eq!(tx.connector, None);
    assert_eq!(tx.meter_last, Some(Wh(15)));
}
