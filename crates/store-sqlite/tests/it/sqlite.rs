//! What the contract cannot say because it is SQLite's own: connection settings, the accepted
//! URL forms, migrations on reopen, and many writers at once without SQLITE_BUSY.

use openpile_core::page::PageRequest;
use openpile_core::ports::{ChargerStore, ConnectorFilter, NetworkStore, ReportedStatus};
use openpile_core::status::{ChargePointStatus, ConnectorStatus};
use openpile_store_contract::fixtures::{
    self, at, charger_id, network, network_charger, network_station, seed, station_id,
};
use openpile_store_sqlite::SqliteStore;

use crate::fresh_store;

#[tokio::test]
async fn connections_run_in_wal_with_foreign_keys_and_a_busy_timeout() {
    let (store, _dir) = fresh_store().await;
    let settings = store.connection_settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert!(settings.foreign_keys);
    assert_eq!(settings.synchronous, "normal");
    assert_eq!(settings.busy_timeout_ms, 5000);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn every_url_form_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in [
        (
            "a.db",
            format!("sqlite://{}", dir.path().join("a.db").display()),
        ),
        (
            "b.db",
            format!("sqlite:{}", dir.path().join("b.db").display()),
        ),
        ("c.db", dir.path().join("c.db").display().to_string()),
    ] {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.ping().await.unwrap();
        assert!(dir.path().join(name).exists(), "{url}");
        store.close().await;
    }
}

#[tokio::test]
async fn an_in_memory_store_keeps_its_data_between_calls() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(
        store.connection_settings().await.unwrap().journal_mode,
        "memory"
    );
    seed(&store, &network(2, 1, 1)).await;
    let page = store
        .list_stations(&PageRequest::first(10), false)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

#[tokio::test]
async fn a_bad_url_is_an_error_not_a_panic() {
    let err = SqliteStore::connect("sqlite://x.db?mode=sideways")
        .await
        .unwrap_err();
    assert!(
        matches!(err, openpile_core::error::StoreError::Other(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("no/such/dir/x.db").display().to_string();
    assert!(SqliteStore::connect(&url).await.is_err());
}

#[tokio::test]
async fn migrations_run_once_and_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("openpile.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    seed(&store, &network(1, 1, 1)).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;

    let reopened = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(
        reopened
            .get_station(&station_id(&network_station(1)))
            .await
            .unwrap(),
        fixtures::station(&network_station(1))
    );
    assert!(reopened.ping().await.is_ok());
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let (store, _dir) = fresh_store().await;
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(
        matches!(err, openpile_core::error::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

/// Eight chargers report at once, over and over, from a multi-threaded runtime, while readers
/// list connectors: every write must wait its turn (BEGIN IMMEDIATE + busy timeout), none may
/// fail with SQLITE_BUSY, and no change may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_do_not_hit_sqlite_busy() {
    let (store, _dir) = fresh_store().await;
    seed(&store, &network(1, 8, 2)).await;
    const ROUNDS: i64 = 20;
    let mut tasks = Vec::new();
    for j in 1..=8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = charger_id(&network_charger(1, j));
            for round in 0..ROUNDS {
                let status = if round % 2 == 0 {
                    ChargePointStatus::Charging
                } else {
                    ChargePointStatus::Available
                };
                let changes = store
                    .record_status(
                        &id,
                        &ReportedStatus {
                            connector: None,
                            status,
                            error: None,
                            at: at(round),
                        },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{id} round {round}: {e:?}"));
                assert_eq!(changes.len(), 2);
                store.record_seen(&id, at(round)).await.unwrap();
            }
        }));
    }
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let page = store
                    .list_connectors(&ConnectorFilter::default(), &PageRequest::first(100))
                    .await
                    .unwrap();
                assert_eq!(page.items.len(), 16);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let page = store
        .list_connectors(&ConnectorFilter::default(), &PageRequest::first(100))
        .await
        .unwrap();
    for v in page.items {
        assert_eq!(v.state.status_seq, ROUNDS);
        assert_eq!(v.state.status, ConnectorStatus::Available);
    }
}
