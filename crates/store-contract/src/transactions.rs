//! Contract of [`TransactionStore`]: issuing transaction ids (never twice for a retransmitted
//! start), judging id tags (bound to a session or configured, case-insensitively), meter
//! samples, stops (repeated and orphan), and parked messages.

use openpile_core::charging::{
    IdTagBinding, LocalIdTag, Measurement, MeterReport, MeterSample, ParkedMessage, StopReason,
    StopRecorded, TagStatus, TransactionId, TransactionStart, TransactionStop, TransactionStore,
};
use openpile_core::energy::{Watts, Wh};
use openpile_core::ids::SessionId;
use rust_decimal::Decimal;

use crate::fixtures::{at, charger_id, network, network_charger, number, seed};
use crate::network::Store as NetworkAndChargers;
use crate::{assert_conflict, assert_not_found};

/// The ports every function here needs (network data for the chargers transactions hang on).
pub trait Store: NetworkAndChargers + TransactionStore {}
impl<S: NetworkAndChargers + TransactionStore> Store for S {}

fn cp(i: usize) -> String {
    network_charger(1, i)
}

fn start(charger: &str, connector: u32, tag: &str, minute: i64, meter: i64) -> TransactionStart {
    TransactionStart {
        charger_id: charger_id(charger),
        connector: Some(number(connector)),
        id_tag: tag.to_string(),
        meter_start: Wh(meter),
        started_at: at(minute),
        reservation_id: None,
        received_at: at(minute),
    }
}

fn energy(minute: i64, wh: i64) -> MeterSample {
    MeterSample {
        at: at(minute),
        measurement: Measurement::EnergyImportRegister(Wh(wh)),
        phase: None,
        context: Some("Sample.Periodic".to_string()),
    }
}

fn stop(charger: &str, id: i64, minute: i64, meter: i64) -> TransactionStop {
    TransactionStop {
        charger_id: charger_id(charger),
        transaction_id: id,
        id_tag: Some("TAG-1".to_string()),
        meter_stop: Wh(meter),
        stopped_at: at(minute),
        reason: StopReason::Remote,
        samples: vec![MeterSample {
            context: Some("Transaction.End".to_string()),
            ..energy(minute, meter)
        }],
        received_at: at(minute),
    }
}

fn session(id: &str) -> SessionId {
    SessionId::parse(id).unwrap()
}

fn binding(tag: &str, session_id: &str, charger: &str, expires_minute: i64) -> IdTagBinding {
    IdTagBinding {
        id_tag: tag.to_string(),
        session_id: session(session_id),
        charger_id: charger_id(charger),
        connector: Some(number(1)),
        expires_at: at(expires_minute),
    }
}

fn local(tag: &str, status: TagStatus) -> LocalIdTag {
    LocalIdTag {
        id_tag: tag.to_string(),
        status,
        expires_at: None,
        parent_id_tag: Some("FLEET-1".to_string()),
    }
}

pub async fn starts_get_positive_increasing_ids<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let a = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 100))
        .await
        .unwrap();
    let b = store
        .start_transaction(&start(&cp(1), 2, "TAG-2", 1, 200))
        .await
        .unwrap();
    assert!(a.transaction_id.get() >= 1);
    assert!(b.transaction_id > a.transaction_id);
    assert!(!a.duplicate && !b.duplicate);
}

pub async fn retransmitted_start_gets_the_same_id<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    store
        .put_local_id_tag(&local("TAG-1", TagStatus::Accepted))
        .await
        .unwrap();
    let first = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 100))
        .await
        .unwrap();
    let mut again = start(&cp(1), 1, "TAG-1", 0, 100);
    again.received_at = at(30);
    let second = store.start_transaction(&again).await.unwrap();
    assert_eq!(second.transaction_id, first.transaction_id);
    assert!(second.duplicate);
    assert_eq!(second.verdict, first.verdict);
    // Anything different is another transaction.
    let other = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 101))
        .await
        .unwrap();
    assert_ne!(other.transaction_id, first.transaction_id);
    assert_eq!(
        store
            .open_transactions(&charger_id(&cp(1)))
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn unknown_tag_is_invalid_but_still_gets_an_id<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let rec = store
        .start_transaction(&start(&cp(1), 1, "NOBODY", 0, 0))
        .await
        .unwrap();
    assert_eq!(rec.verdict.status, TagStatus::Invalid);
    let tx = store.get_transaction(rec.transaction_id).await.unwrap();
    assert_eq!(tx.tag_status, TagStatus::Invalid);
    assert_eq!(tx.id_tag, "NOBODY");
    let v = store
        .authorize_tag(&charger_id(&cp(1)), "NOBODY", at(0))
        .await
        .unwrap();
    assert_eq!(v.status, TagStatus::Invalid);
}

pub async fn local_tags_are_judged_case_insensitively<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let cp1 = charger_id(&cp(1));
    store
        .put_local_id_tag(&local("AbC123", TagStatus::Accepted))
        .await
        .unwrap();
    let v = store.authorize_tag(&cp1, "abc123", at(0)).await.unwrap();
    assert_eq!(v.status, TagStatus::Accepted);
    assert_eq!(v.parent_id_tag.as_deref(), Some("FLEET-1"));
    store
        .put_local_id_tag(&local("ABC123", TagStatus::Blocked))
        .await
        .unwrap();
    let v = store.authorize_tag(&cp1, "abc123", at(0)).await.unwrap();
    assert_eq!(v.status, TagStatus::Blocked);
    let mut expiring = local("EXP-1", TagStatus::Accepted);
    expiring.expires_at = Some(at(10));
    store.put_local_id_tag(&expiring).await.unwrap();
    assert_eq!(
        store
            .authorize_tag(&cp1, "EXP-1", at(9))
            .await
            .unwrap()
            .status,
        TagStatus::Accepted
    );
    assert_eq!(
        store
            .authorize_tag(&cp1, "EXP-1", at(10))
            .await
            .unwrap()
            .status,
        TagStatus::Expired
    );
}

pub async fn bound_tag_links_the_start_to_its_session_once<S: Store>(store: S) {
    seed(&store, &network(1, 2, 1)).await;
    let cp1 = charger_id(&cp(1));
    store
        .bind_id_tag(&binding("S-TAG", "sess-1", &cp(1), 30), at(0))
        .await
        .unwrap();
    let v = store.authorize_tag(&cp1, "s-tag", at(1)).await.unwrap();
    assert_eq!(v.status, TagStatus::Accepted);
    assert_eq!(v.session_id, Some(session("sess-1")));
    // Another charger does not get it.
    let v = store
        .authorize_tag(&charger_id(&cp(2)), "S-TAG", at(1))
        .await
        .unwrap();
    assert_eq!(v.status, TagStatus::Invalid);
    assert_eq!(
        store
            .transaction_of_session(&session("sess-1"))
            .await
            .unwrap(),
        None
    );

    let rec = store
        .start_transaction(&start(&cp(1), 1, "S-TAG", 2, 500))
        .await
        .unwrap();
    assert_eq!(rec.verdict.status, TagStatus::Accepted);
    assert_eq!(rec.verdict.session_id, Some(session("sess-1")));
    let linked = store
        .transaction_of_session(&session("sess-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, rec.transaction_id);
    // The retransmission still names the session; a new start with the tag does not.
    let again = store
        .start_transaction(&start(&cp(1), 1, "S-TAG", 2, 500))
        .await
        .unwrap();
    assert_eq!(again.verdict.session_id, Some(session("sess-1")));
    let later = store
        .start_transaction(&start(&cp(1), 1, "S-TAG", 5, 900))
        .await
        .unwrap();
    assert_eq!(later.verdict.status, TagStatus::Invalid);
    assert_eq!(later.verdict.session_id, None);
}

pub async fn a_live_binding_is_not_taken_by_another_session<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let cp1 = charger_id(&cp(1));
    store
        .bind_id_tag(&binding("S-TAG", "sess-1", &cp(1), 30), at(0))
        .await
        .unwrap();
    assert_conflict(
        store
            .bind_id_tag(&binding("s-tag", "sess-2", &cp(1), 30), at(1))
            .await,
        "id_tag_bindings_pkey",
    );
    // Rebinding the same session moves it; a lapsed binding can be taken over.
    store
        .bind_id_tag(&binding("S-TAG2", "sess-1", &cp(1), 30), at(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .authorize_tag(&cp1, "S-TAG", at(2))
            .await
            .unwrap()
            .status,
        TagStatus::Invalid
    );
    store
        .bind_id_tag(&binding("S-TAG2", "sess-3", &cp(1), 60), at(31))
        .await
        .unwrap();
    let v = store.authorize_tag(&cp1, "S-TAG2", at(32)).await.unwrap();
    assert_eq!(v.session_id, Some(session("sess-3")));
    store.unbind_id_tag(&session("sess-3")).await.unwrap();
    store.unbind_id_tag(&session("sess-3")).await.unwrap();
    assert_eq!(
        store
            .authorize_tag(&cp1, "S-TAG2", at(32))
            .await
            .unwrap()
            .status,
        TagStatus::Invalid
    );
}

pub async fn meter_values_attach_to_their_transaction<S: Store>(store: S) {
    seed(&store, &network(1, 2, 1)).await;
    let rec = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 1000))
        .await
        .unwrap();
    let id = rec.transaction_id;
    let report = MeterReport {
        charger_id: charger_id(&cp(1)),
        connector: Some(number(1)),
        transaction_id: Some(id.get()),
        samples: vec![
            energy(1, 1500),
            MeterSample {
                at: at(1),
                measurement: Measurement::PowerImport(Watts(7360)),
                phase: None,
                context: None,
            },
            MeterSample {
                at: at(1),
                measurement: Measurement::Voltage(Decimal::new(2301, 1)),
                phase: Some("L1-N".to_string()),
                context: None,
            },
            energy(2, 1400),
        ],
        received_at: at(2),
    };
    let recorded = store.record_meter_values(&report).await.unwrap();
    assert!(recorded.linked);
    assert_eq!(recorded.stored, 4);
    let tx = store.get_transaction(id).await.unwrap();
    assert_eq!(tx.meter_last, Some(Wh(1500)));
    assert_eq!(tx.meter_last_at, Some(at(1)));
    assert_eq!(tx.energy(), Some(Wh(500)));
    let samples = store.transaction_samples(id).await.unwrap();
    assert_eq!(samples.len(), 4);
    assert!(samples.contains(&report.samples[2]));
    assert_eq!(samples.last().unwrap().at, at(2));

    // Another charger's report naming this id is not attached to it.
    let foreign = MeterReport {
        charger_id: charger_id(&cp(2)),
        ..report.clone()
    };
    assert!(!store.record_meter_values(&foreign).await.unwrap().linked);
    let unknown = MeterReport {
        transaction_id: Some(987_654),
        ..report.clone()
    };
    assert!(!store.record_meter_values(&unknown).await.unwrap().linked);
    let main_meter = MeterReport {
        connector: None,
        transaction_id: None,
        ..report
    };
    assert!(!store.record_meter_values(&main_meter).await.unwrap().linked);
    assert_eq!(store.transaction_samples(id).await.unwrap().len(), 4);
}

pub async fn stop_closes_the_transaction_once<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let id = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 1000))
        .await
        .unwrap()
        .transaction_id;
    let done = store
        .stop_transaction(&stop(&cp(1), id.get(), 60, 8000))
        .await
        .unwrap();
    let StopRecorded::Stopped(tx) = done else {
        panic!("expected Stopped, got {done:?}");
    };
    assert_eq!(tx.meter_stop, Some(Wh(8000)));
    assert_eq!(tx.stopped_at, Some(at(60)));
    assert_eq!(tx.stop_reason, Some(StopReason::Remote));
    assert_eq!(tx.stop_id_tag.as_deref(), Some("TAG-1"));
    assert_eq!(tx.energy(), Some(Wh(7000)));
    assert!(tx.is_stopped());
    assert!(
        store
            .open_transactions(&charger_id(&cp(1)))
            .await
            .unwrap()
            .is_empty()
    );
    let samples = store.transaction_samples(id).await.unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].context.as_deref(), Some("Transaction.End"));

    let again = store
        .stop_transaction(&stop(&cp(1), id.get(), 61, 9000))
        .await
        .unwrap();
    let StopRecorded::AlreadyStopped(same) = again else {
        panic!("expected AlreadyStopped, got {again:?}");
    };
    assert_eq!(same.meter_stop, Some(Wh(8000)));
    assert_eq!(store.transaction_samples(id).await.unwrap().len(), 1);
}

pub async fn stop_of_an_unknown_or_foreign_transaction_is_an_orphan<S: Store>(store: S) {
    seed(&store, &network(1, 2, 1)).await;
    let id = store
        .start_transaction(&start(&cp(1), 1, "TAG-1", 0, 1000))
        .await
        .unwrap()
        .transaction_id;
    for tx_id in [-1, 0, 424_242] {
        let s = stop(&cp(1), tx_id, 5, 2000);
        assert_eq!(
            store.stop_transaction(&s).await.unwrap(),
            StopRecorded::Orphan
        );
        // A retransmission is answered the same way.
        assert_eq!(
            store.stop_transaction(&s).await.unwrap(),
            StopRecorded::Orphan
        );
    }
    let foreign = stop(&cp(2), id.get(), 5, 2000);
    assert_eq!(
        store.stop_transaction(&foreign).await.unwrap(),
        StopRecorded::Orphan
    );
    assert!(!store.get_transaction(id).await.unwrap().is_stopped());
}

pub async fn start_on_an_impossible_connector_is_recorded<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let mut s = start(&cp(1), 1, "TAG-1", 0, 0);
    s.connector = None;
    s.reservation_id = Some(7);
    let first = store.start_transaction(&s).await.unwrap();
    let again = store.start_transaction(&s).await.unwrap();
    assert_eq!(again.transaction_id, first.transaction_id);
    let tx = store.get_transaction(first.transaction_id).await.unwrap();
    assert_eq!(tx.connector, None);
    assert_eq!(tx.reservation_id, Some(7));
}

pub async fn parked_messages_are_listed_newest_first<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    for (i, minute) in [(1, 5), (2, 9), (3, 7)] {
        store
            .park_message(&ParkedMessage {
                charger_id: charger_id(&cp(1)),
                action: "MeterValues".to_string(),
                payload: format!(r#"{{"n":{i}}}"#),
                reason: "value is not a number".to_string(),
                received_at: at(minute),
            })
            .await
            .unwrap();
    }
    let parked = store.list_parked(2).await.unwrap();
    assert_eq!(parked.len(), 2);
    assert_eq!(parked[0].payload, r#"{"n":2}"#);
    assert_eq!(parked[1].received_at, at(7));
}

pub async fn unknown_transaction_is_not_found<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    assert_not_found(
        store
            .get_transaction(TransactionId::new(999).unwrap())
            .await,
    );
    assert!(
        store
            .transaction_samples(TransactionId::new(999).unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}
