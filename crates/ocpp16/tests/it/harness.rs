//! A running central system on 127.0.0.1:0 with a fresh SQLite store seeded with one station of
//! two chargers (`S001-C1`, `S001-C2`), two connectors each, password [`PASSWORD`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, Version};
use openpile_core::clock::SystemClock;
use openpile_core::ids::{ChargerId, ConnectorId};
use openpile_core::ports::NetworkStore;
use openpile_core::status::{ConnectorState, ConnectorStatus};
use openpile_ocpp16::{CentralSystem, Ocpp16Config, router};
use openpile_store_contract::fixtures;
use openpile_store_sqlite::SqliteStore;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const CP1: &str = "S001-C1";
pub const CP2: &str = "S001-C2";
pub const PASSWORD: &str = "correct horse battery";

/// An argon2 hash cheap enough for debug-build tests (the PHC string carries its parameters).
pub fn hash(password: &[u8]) -> String {
    let params = Params::new(1024, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password)
        .unwrap()
        .to_string()
}

/// Times short enough for tests.
pub fn test_config() -> Ocpp16Config {
    Ocpp16Config {
        call_timeout: Duration::from_secs(5),
        ..Ocpp16Config::default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub cs: CentralSystem,
    pub store: SqliteStore,
    _dir: TempDir,
    _shutdown: oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Ocpp16Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ocpp.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        fixtures::seed(&store, &fixtures::network(1, 2, 2)).await;
        let h = hash(PASSWORD.as_bytes());
        for id in [CP1, CP2] {
            store.set_charger_password(&cid(id), &h).await.unwrap();
        }
        let cs = CentralSystem::new(
            config,
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(SystemClock),
        );
        // Bind first, then serve: clients connect to a listener that already exists.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(cs.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let sweeper = cs.clone();
        tokio::spawn(sweeper.run_liveness_sweeper(std::future::pending()));
        TestServer {
            addr,
            cs,
            store,
            _dir: dir,
            _shutdown: tx,
        }
    }

    pub fn url(&self, identity: &str) -> String {
        format!("ws://{}/ocpp/{identity}", self.addr)
    }

    pub async fn connector(&self, charger: &str, n: u32) -> ConnectorState {
        let id = ConnectorId::parse(format!("{charger}-{n}")).unwrap();
        self.store.get_connector(&id).await.unwrap().state
    }

    /// Waits (polling the store, at most 5 s) until connector `n` of `charger` has `status`.
    pub async fn wait_for_status(
        &self,
        charger: &str,
        n: u32,
        status: ConnectorStatus,
    ) -> ConnectorState {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let state = self.connector(charger, n).await;
            if state.status == status {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{charger}-{n} stayed {:?}, expected {status:?}",
                state.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most 5 s) until the registry's view of `charger` is `connected`.
    pub async fn wait_connected(&self, charger: &str, connected: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.cs.is_connected(&cid(charger)) != connected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{charger} connected != {connected}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn cid(id: &str) -> ChargerId {
    ChargerId::parse(id).unwrap()
}
