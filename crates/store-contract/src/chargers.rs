//! Contract of [`ChargerStore`]: credentials, boots, liveness and connector status as chargers
//! report it: the sequence number, stale reports, connector 0 and going offline.

use openpile_core::network::Registration;
use openpile_core::ports::{BootInfo, ConnectorStatusChanged, ReportedStatus};
use openpile_core::status::{ChargePointStatus, ConnectorStatus};

use crate::assert_not_found;
use crate::fixtures::{
    PASSWORD_HASH, at, charger, charger_id, connector_id, network, network_charger, number, seed,
    station_id,
};
use crate::network::Store;

fn report(connector: Option<u32>, status: ChargePointStatus, minute: i64) -> ReportedStatus {
    ReportedStatus {
        connector: connector.map(number),
        status,
        error: None,
        at: at(minute),
    }
}

fn boot() -> BootInfo {
    BootInfo {
        vendor: "特来电".to_string(),
        model: "TE-DC160".to_string(),
        serial: Some("TLD2026000123".to_string()),
        firmware: Some("3.1.4".to_string()),
    }
}

/// The connector ids of `changes`, in order.
fn ids(changes: &[ConnectorStatusChanged]) -> Vec<String> {
    changes.iter().map(|c| c.connector_id.to_string()).collect()
}

pub async fn credentials_reflect_password_registration_and_retirement<S: Store>(store: S) {
    seed(&store, &network(1, 2, 0)).await;
    let with = charger_id(&network_charger(1, 1));
    let creds = store.charger_credentials(&with).await.unwrap();
    assert_eq!(creds.registration, Registration::Provisioned);
    assert!(!creds.retired);
    assert_eq!(creds.password_hash.as_deref(), Some(PASSWORD_HASH));

    let without = charger("C-NOPW", "S001");
    store.put_charger(&without, None).await.unwrap();
    assert_eq!(
        store
            .charger_credentials(&without.id)
            .await
            .unwrap()
            .password_hash,
        None
    );

    let mut disabled = charger(&network_charger(1, 2), "S001");
    disabled.registration = Registration::Disabled;
    store.put_charger(&disabled, None).await.unwrap();
    store.retire_charger(&disabled.id, at(1)).await.unwrap();
    let creds = store.charger_credentials(&disabled.id).await.unwrap();
    assert_eq!(creds.registration, Registration::Disabled);
    assert!(creds.retired);
    assert_eq!(creds.password_hash.as_deref(), Some(PASSWORD_HASH));
}

pub async fn credentials_of_unknown_charger_are_not_found<S: Store>(store: S) {
    assert_not_found(store.charger_credentials(&charger_id("NOPE")).await);
}

pub async fn boot_registers_and_records_the_charger<S: Store>(store: S) {
    seed(&store, &network(1, 1, 0)).await;
    let id = charger_id(&network_charger(1, 1));
    store.record_boot(&id, &boot(), at(5)).await.unwrap();
    let v = store.get_charger(&id).await.unwrap();
    assert_eq!(v.charger.registration, Registration::Registered);
    assert_eq!(v.charger.vendor, "特来电");
    assert_eq!(v.charger.model, "TE-DC160");
    assert_eq!(v.charger.serial.as_deref(), Some("TLD2026000123"));
    assert_eq!(v.charger.firmware.as_deref(), Some("3.1.4"));
    assert_eq!(v.last_boot_at, Some(at(5)));
    assert_eq!(v.last_seen_at, Some(at(5)), "a boot is a sign of life");

    // Optional fields the charger leaves out keep what we knew.
    let bare = BootInfo {
        serial: None,
        firmware: None,
        ..boot()
    };
    store.record_boot(&id, &bare, at(9)).await.unwrap();
    let v = store.get_charger(&id).await.unwrap();
    assert_eq!(v.charger.serial.as_deref(), Some("TLD2026000123"));
    assert_eq!(v.charger.firmware.as_deref(), Some("3.1.4"));
    assert_eq!(v.last_boot_at, Some(at(9)));
    assert_eq!(
        store.charger_credentials(&id).await.unwrap().registration,
        Registration::Registered
    );
}

pub async fn boot_keeps_a_disabled_charger_disabled<S: Store>(store: S) {
    seed(&store, &network(1, 0, 0)).await;
    let mut c = charger("C-OFF", "S001");
    c.registration = Registration::Disabled;
    store.put_charger(&c, None).await.unwrap();
    store.record_boot(&c.id, &boot(), at(1)).await.unwrap();
    assert_eq!(
        store.charger_credentials(&c.id).await.unwrap().registration,
        Registration::Disabled
    );
}

pub async fn boot_of_unknown_charger_is_not_found<S: Store>(store: S) {
    assert_not_found(store.record_boot(&charger_id("NOPE"), &boot(), at(0)).await);
}

pub async fn seen_time_only_moves_forward<S: Store>(store: S) {
    seed(&store, &network(1, 1, 0)).await;
    let id = charger_id(&network_charger(1, 1));
    store.record_seen(&id, at(10)).await.unwrap();
    assert_eq!(
        store.get_charger(&id).await.unwrap().last_seen_at,
        Some(at(10))
    );
    // A message handled late does not move the time back.
    store.record_seen(&id, at(4)).await.unwrap();
    assert_eq!(
        store.get_charger(&id).await.unwrap().last_seen_at,
        Some(at(10))
    );
    store.record_seen(&id, at(11)).await.unwrap();
    let v = store.get_charger(&id).await.unwrap();
    assert_eq!(v.last_seen_at, Some(at(11)));
    assert_eq!(v.last_boot_at, None, "seen is not a boot");
}

pub async fn seen_of_unknown_charger_is_not_found<S: Store>(store: S) {
    assert_not_found(store.record_seen(&charger_id("NOPE"), at(0)).await);
}

pub async fn status_change_grows_the_sequence<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let id = charger_id(&network_charger(1, 1));
    let steps = [
        (ChargePointStatus::Available, ConnectorStatus::Offline, 1),
        (ChargePointStatus::Preparing, ConnectorStatus::Available, 2),
        (ChargePointStatus::Charging, ConnectorStatus::Occupied, 3),
        (ChargePointStatus::Finishing, ConnectorStatus::Charging, 4),
        (ChargePointStatus::Available, ConnectorStatus::Occupied, 5),
    ];
    for (minute, (reported, previous, seq)) in steps.into_iter().enumerate() {
        let changes = store
            .record_status(&id, &report(Some(2), reported, minute as i64))
            .await
            .unwrap();
        assert_eq!(changes.len(), 1, "{reported:?}");
        let c = &changes[0];
        assert_eq!(c.connector_id, connector_id(&format!("{id}-2")));
        assert_eq!(c.charger_id, id);
        assert_eq!(c.station_id, station_id("S001"));
        assert_eq!(c.previous, previous);
        assert_eq!(c.state.status, reported.connector_status());
        assert_eq!(c.state.ocpp_status, Some(reported));
        assert_eq!(c.state.status_seq, seq);
        assert_eq!(c.state.changed_at, at(minute as i64));
        // What the change reports is what reads return.
        let v = store.get_connector(&c.connector_id).await.unwrap();
        assert_eq!(v.state, c.state);
    }
    // The other connector was never touched.
    let other = store
        .get_connector(&connector_id(&format!("{id}-1")))
        .await
        .unwrap();
    assert_eq!(other.state.status_seq, 0);
    assert_eq!(other.state.status, ConnectorStatus::Offline);
}

pub async fn repeated_status_is_not_a_change<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let id = charger_id(&network_charger(1, 1));
    let cid = connector_id(&format!("{id}-1"));
    store
        .record_status(&id, &report(Some(1), ChargePointStatus::Preparing, 1))
        .await
        .unwrap();
    let same = store
        .record_status(&id, &report(Some(1), ChargePointStatus::Preparing, 2))
        .await
        .unwrap();
    assert!(same.is_empty());
    // A finer OCPP status within the same partner-visible status is kept without a new
    // sequence number or change time.
    let finer = store
        .record_status(&id, &report(Some(1), ChargePointStatus::SuspendedEV, 3))
        .await
        .unwrap();
    assert!(finer.is_empty());
    let v = store.get_connector(&cid).await.unwrap();
    assert_eq!(v.state.status, ConnectorStatus::Occupied);
    assert_eq!(v.state.ocpp_status, Some(ChargePointStatus::SuspendedEV));
    assert_eq!(v.state.status_seq, 1);
    assert_eq!(v.state.changed_at, at(1));
}

pub async fn stale_status_is_ignored<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let id = charger_id(&network_charger(1, 1));
    let cid = connector_id(&format!("{id}-1"));
    store
        .record_status(&id, &report(Some(1), ChargePointStatus::Charging, 10))
        .await
        .unwrap();
    // Queued before the charging report, delivered after a reconnect.
    let stale = store
        .record_status(&id, &report(Some(1), ChargePointStatus::Available, 5))
        .await
        .unwrap();
    assert!(stale.is_empty());
    let v = store.get_connector(&cid).await.unwrap();
    assert_eq!(v.state.status, ConnectorStatus::Charging);
    assert_eq!(v.state.status_seq, 1);
    assert_eq!(v.state.changed_at, at(10));
    // Going offline is dated too: an old disconnect does not win either.
    assert!(store.mark_offline(&id, at(9)).await.unwrap().is_empty());
    assert_eq!(
        store.get_connector(&cid).await.unwrap().state.status,
        ConnectorStatus::Charging
    );
}

pub async fn first_status_applies_whatever_its_time<S: Store>(store: S) {
    // The connector is created now (wall clock); the charger's first report is dated long
    // before (its clock lags, or a test drives a fake clock). Nothing was ever observed, so
    // there is nothing it could be stale against.
    seed(&store, &network(1, 1, 1)).await;
    let id = charger_id(&network_charger(1, 1));
    let long_ago = at(-365 * 24 * 60);
    let changes = store
        .record_status(
            &id,
            &ReportedStatus {
                at: long_ago,
                ..report(Some(1), ChargePointStatus::Available, 0)
            },
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].state.status_seq, 1);
    assert_eq!(changes[0].state.changed_at, long_ago);
}

pub async fn connector_zero_status_fans_out<S: Store>(store: S) {
    seed(&store, &network(1, 2, 3)).await;
    let id = charger_id(&network_charger(1, 1));
    store
        .record_status(&id, &report(Some(2), ChargePointStatus::Faulted, 1))
        .await
        .unwrap();
    let changes = store
        .record_status(&id, &report(None, ChargePointStatus::Faulted, 2))
        .await
        .unwrap();
    // Connector 2 was faulted already: only 1 and 3 change, in connector order.
    assert_eq!(ids(&changes), [format!("{id}-1"), format!("{id}-3")]);
    assert!(
        changes
            .iter()
            .all(|c| c.previous == ConnectorStatus::Offline
                && c.state.status == ConnectorStatus::Faulted
                && c.state.status_seq == 1)
    );
    for n in 1..=3 {
        let v = store
            .get_connector(&connector_id(&format!("{id}-{n}")))
            .await
            .unwrap();
        assert_eq!(v.state.status, ConnectorStatus::Faulted);
    }
    // The other charger's connectors are not touched.
    let other = store
        .get_connector(&connector_id(&format!("{}-1", network_charger(1, 2))))
        .await
        .unwrap();
    assert_eq!(other.state.status, ConnectorStatus::Offline);
}

pub async fn status_for_unknown_connector_or_charger_is_not_found<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let id = charger_id(&network_charger(1, 1));
    assert_not_found(
        store
            .record_status(&id, &report(Some(3), ChargePointStatus::Available, 1))
            .await,
    );
    assert_not_found(
        store
            .record_status(
                &charger_id("NOPE"),
                &report(Some(1), ChargePointStatus::Available, 1),
            )
            .await,
    );
    assert_not_found(
        store
            .record_status(
                &charger_id("NOPE"),
                &report(None, ChargePointStatus::Available, 1),
            )
            .await,
    );
}

pub async fn status_of_retired_connector_is_ignored<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let id = charger_id(&network_charger(1, 1));
    let retired = connector_id(&format!("{id}-1"));
    store.retire_connector(&retired, at(0)).await.unwrap();
    let changes = store
        .record_status(&id, &report(None, ChargePointStatus::Available, 1))
        .await
        .unwrap();
    assert_eq!(ids(&changes), [format!("{id}-2")]);
    let changes = store
        .record_status(&id, &report(Some(1), ChargePointStatus::Charging, 2))
        .await
        .unwrap();
    assert!(changes.is_empty());
    assert_eq!(
        store.get_connector(&retired).await.unwrap().state.status,
        ConnectorStatus::Offline
    );
}

pub async fn mark_offline_turns_every_connector_offline<S: Store>(store: S) {
    seed(&store, &network(1, 2, 2)).await;
    let id = charger_id(&network_charger(1, 1));
    // Nothing to report for connectors that are offline already.
    assert!(store.mark_offline(&id, at(0)).await.unwrap().is_empty());
    store
        .record_status(&id, &report(None, ChargePointStatus::Available, 1))
        .await
        .unwrap();
    store
        .record_status(&id, &report(Some(2), ChargePointStatus::Charging, 2))
        .await
        .unwrap();
    let changes = store.mark_offline(&id, at(3)).await.unwrap();
    assert_eq!(ids(&changes), [format!("{id}-1"), format!("{id}-2")]);
    assert_eq!(changes[0].previous, ConnectorStatus::Available);
    assert_eq!(changes[0].state.status_seq, 2);
    assert_eq!(changes[1].previous, ConnectorStatus::Charging);
    assert_eq!(changes[1].state.status_seq, 3);
    for c in &changes {
        assert_eq!(c.state.status, ConnectorStatus::Offline);
        assert_eq!(c.state.ocpp_status, None);
        assert_eq!(c.state.changed_at, at(3));
        assert_eq!(
            store.get_connector(&c.connector_id).await.unwrap().state,
            c.state
        );
    }
    assert!(store.mark_offline(&id, at(4)).await.unwrap().is_empty());
    // Back online: the next report is a change again.
    let back = store
        .record_status(&id, &report(Some(1), ChargePointStatus::Available, 5))
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].previous, ConnectorStatus::Offline);
    assert_eq!(back[0].state.status_seq, 3);
}

pub async fn mark_offline_of_unknown_charger_is_not_found<S: Store>(store: S) {
    assert_not_found(store.mark_offline(&charger_id("NOPE"), at(0)).await);
}

pub async fn mark_all_offline_covers_every_charger<S: Store>(store: S) {
    seed(&store, &network(2, 2, 1)).await;
    let mut online = Vec::new();
    for (i, j) in [(1, 1), (1, 2), (2, 2)] {
        let id = charger_id(&network_charger(i, j));
        store
            .record_status(&id, &report(None, ChargePointStatus::Available, 1))
            .await
            .unwrap();
        online.push(format!("{id}-1"));
    }
    let changes = store.mark_all_offline(at(2)).await.unwrap();
    let mut got = ids(&changes);
    got.sort();
    assert_eq!(got, online);
    assert!(
        changes
            .iter()
            .all(|c| c.state.status == ConnectorStatus::Offline && c.state.status_seq == 2)
    );
    let s2 = changes
        .iter()
        .find(|c| c.charger_id.as_str() == network_charger(2, 2))
        .unwrap();
    assert_eq!(s2.station_id, station_id("S002"));
    assert!(store.mark_all_offline(at(3)).await.unwrap().is_empty());
}

pub async fn concurrent_status_reports_all_apply<S: Store>(store: S) {
    seed(&store, &network(1, 8, 1)).await;
    let reports: Vec<_> = (1..=8)
        .map(|j| {
            let store = &store;
            async move {
                let id = charger_id(&network_charger(1, j));
                store
                    .record_status(&id, &report(Some(1), ChargePointStatus::Available, 1))
                    .await
            }
        })
        .collect();
    // Polled together, so a store with a pool really runs them at once.
    for r in futures_util::future::join_all(reports).await {
        assert_eq!(r.unwrap().len(), 1);
    }
    for j in 1..=8 {
        let v = store
            .get_connector(&connector_id(&format!("{}-1", network_charger(1, j))))
            .await
            .unwrap();
        assert_eq!(v.state.status, ConnectorStatus::Available);
        assert_eq!(v.state.status_seq, 1);
    }
}
