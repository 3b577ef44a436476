//! The charger simulator (`openpile-sim`) against the real server over real WebSockets: the
//! demo fleet boots, and one simulated charger at a time goes through remote start and stop,
//! an offline period with queued transaction messages, a fault, a remote start that never
//! gets a cable, and a reset, each checked against what the server stored.
//!
//! Remote commands go through the server's `ChargerGateway`, as every face sends them, so the
//! server is built here with `Application` directly (the test kit does not hand the gateway
//! out).

use std::sync::Arc;
use std::time::Duration;

use openpile_core::charging::{LocalIdTag, StopReason, TagStatus, TransactionId};
use openpile_core::ids::{ChargerId, ConnectorNumber};
use openpile_core::page::PageRequest;
use openpile_core::ports::{ChargerCommand, ChargerGateway, CommandReply, ConnectorFilter};
use openpile_core::status::ConnectorStatus;
use openpile_server::config::Config;
use openpile_server::startup::{Application, Stores};
use openpile_sim::{
    Behaviour, BootStatus, Fleet, FleetCharger, SimCharger, SimEvent, SimHandle,
    chargers_from_network_json,
};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(15);
const DEMO_NETWORK: &str = include_str!("../../../../demo/network.json");
pub const TAG: &str = "SIM-TAG-1";

/// A server on 127.0.0.1:0 with a fresh SQLite file and the demo network, its store ports
/// and its gateway. Stops when dropped.
pub struct Server {
    pub ocpp_url: String,
    pub stores: Stores,
    pub gateway: Arc<dyn ChargerGateway>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::defaults();
        config.http.addr = ([127, 0, 0, 1], 0).into();
        config.db.url = format!("sqlite://{}", dir.path().join("openpile.db").display()).into();
        config.validate().expect("a valid configuration");
        let app = Application::build(config).await.expect("the server starts");
        let shared = app.shared().clone();
        openpile_server::demo::import_network(&shared.stores)
            .await
            .expect("the demo network imports");
        shared
            .stores
            .transactions
            .put_local_id_tag(&LocalIdTag {
                id_tag: TAG.into(),
                status: TagStatus::Accepted,
                expires_at: None,
                parent_id_tag: None,
            })
            .await
            .expect("a local id tag");
        let ocpp_url = format!("ws://{}/ocpp", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Server {
            ocpp_url,
            stores: shared.stores,
            gateway: shared.gateway,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The partner-visible status of every connector of `charger`, by number.
    pub async fn statuses(&self, charger: &str) -> Vec<ConnectorStatus> {
        let filter = ConnectorFilter {
            charger_id: Some(ChargerId::parse(charger).expect("a charger id")),
            ..ConnectorFilter::default()
        };
        let page = self
            .stores
            .network
            .list_connectors(&filter, &PageRequest::first(100))
            .await
            .expect("connectors listed");
        let mut items = page.items;
        items.sort_by_key(|c| c.connector.number.get());
        items.into_iter().map(|c| c.state.status).collect()
    }

    /// Waits (a bounded time) until `charger`'s connectors have `want`.
    pub async fn wait_statuses(&self, charger: &str, want: &[ConnectorStatus]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.statuses(charger).await;
            if now == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{charger}: statuses {now:?}, expected {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn command(&self, charger: &str, command: ChargerCommand) -> CommandReply {
        let id = ChargerId::parse(charger).expect("a charger id");
        self.gateway
            .send(&id, command)
            .await
            .expect("the charger answers")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A demo charger (id, password and connectors from demo/network.json).
pub fn demo_charger(id: &str) -> FleetCharger {
    chargers_from_network_json(DEMO_NETWORK)
        .expect("the demo network parses")
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no demo charger {id}"))
}

fn fast() -> Behaviour {
    Behaviour {
        meter_interval: Duration::from_millis(200),
        reconnect_delay: Duration::from_millis(50),
        reboot_delay: Duration::from_millis(50),
        ..Behaviour::default()
    }
}

/// Starts one simulated demo charger and waits until its boot and statuses are answered.
async fn simulate(server: &Server, id: &str, b: Behaviour) -> SimHandle {
    let c = demo_charger(id);
    let h = SimCharger::spawn(
        &server.ocpp_url,
        &c.id,
        c.password.as_deref(),
        c.connectors,
        b,
    )
    .expect("the simulator starts");
    settled(&h).await;
    h
}

/// Waits until the charger is booted, online and every CALL it sent was answered.
async fn settled(h: &SimHandle) {
    h.wait_until("settled", WAIT, |s| {
        s.connected
            && s.boot == BootStatus::Accepted
            && s.calls_sent == s.results_received
            && s.queued_transaction_messages == 0
    })
    .await
    .expect("the charger settles");
}

fn connector(n: u32) -> ConnectorNumber {
    ConnectorNumber::new(n).expect("a connector number")
}

#[tokio::test]
async fn the_demo_fleet_connects_boots_and_every_connector_turns_available() {
    let server = Server::start().await;
    let chargers = chargers_from_network_json(DEMO_NETWORK).expect("the demo network parses");
    let fleet =
        Fleet::spawn(&server.ocpp_url, chargers.clone(), &fast(), None).expect("the fleet starts");
    fleet
        .wait_all_booted(WAIT)
        .await
        .expect("every charger boots");
    for h in fleet.handles() {
        settled(h).await;
    }
    for c in &chargers {
        server
            .wait_statuses(&c.id, &vec![ConnectorStatus::Available; c.connectors.len()])
            .await;
        let view = server
            .stores
            .network
            .get_charger(&ChargerId::parse(&c.id).expect("an id"))
            .await
            .expect("the charger");
        assert!(view.last_boot_at.is_some(), "{} has no boot recorded", c.id);
        assert_eq!(view.charger.model, "SimCharger");
        assert!(server.gateway.is_connected(&view.charger.id));
    }
    let summary = fleet.summary();
    assert_eq!(summary.booted, chargers.len());
    for h in fleet.handles() {
        assert_eq!(
            h.snapshot().invalid_replies,
            0,
            "{} got invalid replies",
            h.id()
        );
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_remote_session_is_started_metered_stopped_and_stored() {
    let server = Server::start().await;
    let h = simulate(&server, "SH0101-01", fast()).await;
    let reply = server
        .command(
            "SH0101-01",
            ChargerCommand::RemoteStartTransaction {
                connector: connector(2),
                id_tag: TAG.into(),
            },
        )
        .await;
    assert_eq!(reply, CommandReply::Status("Accepted".into()));
    let snap = h
        .wait_until("three meter readings", WAIT, |s| {
            let c = &s.connectors[1];
            c.transaction_id.is_some() && c.meter_wh > 1_000_000 && s.calls_sent >= 8
        })
        .await
        .expect("the session runs");
    let tx = snap.connectors[1].transaction_id.expect("a transaction id");
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Charging],
        )
        .await;

    let reply = server
        .command(
            "SH0101-01",
            ChargerCommand::RemoteStopTransaction { transaction_id: tx },
        )
        .await;
    assert_eq!(reply, CommandReply::Status("Accepted".into()));
    let snap = h
        .wait_until("the stop answered", WAIT, |s| {
            s.completed_transactions.contains(&tx) && s.calls_sent == s.results_received
        })
        .await
        .expect("the stop is delivered");
    let id = TransactionId::new(tx).expect("a transaction id");
    let stored = server
        .stores
        .transactions
        .get_transaction(id)
        .await
        .expect("the transaction is stored");
    assert_eq!(stored.id_tag, TAG);
    assert_eq!(stored.tag_status, TagStatus::Accepted);
    assert_eq!(stored.connector, Some(connector(2)));
    assert_eq!(stored.meter_start.0, 1_000_000);
    assert_eq!(stored.stop_reason, Some(StopReason::Remote));
    let meter_stop = stored.meter_stop.expect("a meter stop").0;
    assert_eq!(
        u64::try_from(meter_stop).ok(),
        Some(snap.connectors[1].meter_wh)
    );
    let samples = server
        .stores
        .transactions
        .transaction_samples(id)
        .await
        .expect("samples");
    assert!(samples.len() >= 5, "{samples:?}");
    assert!(
        samples.windows(2).all(|w| w[0].at <= w[1].at),
        "samples in time order"
    );
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Available],
        )
        .await;
    assert_eq!(snap.invalid_replies, 0);
    h.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn an_offline_charger_comes_back_with_its_queued_session_in_order() {
    let server = Server::start().await;
    let h = simulate(&server, "SH0101-01", fast()).await;
    h.go_offline().await.expect("offline");
    // The server notices the dropped connection.
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Offline, ConnectorStatus::Offline],
        )
        .await;
    h.start_local(1, TAG).await.expect("a local start");
    h.wait_until("queued readings", WAIT, |s| {
        s.queued_transaction_messages >= 4
    })
    .await
    .expect("readings are queued");
    h.stop_local(1).await.expect("a local stop");
    let queued = h.snapshot().queued_transaction_messages;

    h.come_online().await.expect("online");
    let snap = h
        .wait_until("queue delivered", WAIT, |s| {
            s.queued_transaction_messages == 0
                && !s.completed_transactions.is_empty()
                && s.calls_sent == s.results_received
        })
        .await
        .expect("the queue is delivered");
    assert_eq!(snap.connects, 2);
    let tx = snap.completed_transactions[0];
    let id = TransactionId::new(tx).expect("a transaction id");
    let stored = server
        .stores
        .transactions
        .get_transaction(id)
        .await
        .expect("stored");
    assert_eq!(stored.stop_reason, Some(StopReason::Local));
    assert!(stored.stopped_at.expect("stopped") > stored.started_at);
    let samples = server
        .stores
        .transactions
        .transaction_samples(id)
        .await
        .expect("samples");
    // Start, every periodic reading taken offline, the stop's data: nothing lost.
    assert!(
        samples.len() >= queued - 2,
        "{} samples for {queued} messages",
        samples.len()
    );
    assert!(samples.windows(2).all(|w| w[0].at <= w[1].at));
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Available],
        )
        .await;
    h.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn a_fault_and_its_recovery_reach_the_store() {
    let server = Server::start().await;
    let h = simulate(&server, "SH0101-01", fast()).await;
    h.fault(2, "GroundFailure").await.expect("a fault");
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Faulted],
        )
        .await;
    h.clear_fault(2).await.expect("recovered");
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Available],
        )
        .await;
    h.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn a_remote_start_that_never_gets_a_cable_returns_to_available_without_a_transaction() {
    let server = Server::start().await;
    let b = Behaviour {
        plug_on_remote_start: false,
        connection_timeout: Duration::from_millis(500),
        ..fast()
    };
    let h = simulate(&server, "SH0101-01", b).await;
    let mut events = h.subscribe();
    let reply = server
        .command(
            "SH0101-01",
            ChargerCommand::RemoteStartTransaction {
                connector: connector(1),
                id_tag: TAG.into(),
            },
        )
        .await;
    assert_eq!(reply, CommandReply::Status("Accepted".into()));
    // Preparing (occupied) while it waits, then Available again after ConnectionTimeOut.
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Occupied, ConnectorStatus::Available],
        )
        .await;
    server
        .wait_statuses(
            "SH0101-01",
            &[ConnectorStatus::Available, ConnectorStatus::Available],
        )
        .await;
    let open = server
        .stores
        .transactions
        .open_transactions(&ChargerId::parse("SH0101-01").expect("an id"))
        .await
        .expect("open transactions");
    assert!(open.is_empty(), "{open:?}");
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(
                e,
                SimEvent::CallSent {
                    action: "StartTransaction"
                }
            ),
            "no StartTransaction without a cable"
        );
    }
    h.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn rejected_and_unanswered_remote_starts_are_reported_to_the_caller() {
    let server = Server::start().await;
    let h = simulate(&server, "SH0101-01", fast()).await;
    h.set_remote_start_policy(openpile_sim::RemoteStartPolicy::Reject)
        .await
        .expect("policy");
    let start = ChargerCommand::RemoteStartTransaction {
        connector: connector(1),
        id_tag: TAG.into(),
    };
    let reply = server.command("SH0101-01", start.clone()).await;
    assert_eq!(reply, CommandReply::Status("Rejected".into()));
    h.shutdown().await.expect("shut down");
    let id = ChargerId::parse("SH0101-01").expect("an id");
    // Gone: the gateway says so at once.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.gateway.is_connected(&id) {
        assert!(tokio::time::Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = server.gateway.send(&id, start).await.expect_err("offline");
    assert_eq!(err, openpile_core::ports::GatewayError::Offline);
}

#[tokio::test]
async fn a_reset_reboots_the_charger_which_boots_again() {
    let server = Server::start().await;
    let h = simulate(&server, "SH0101-01", fast()).await;
    let id = ChargerId::parse("SH0101-01").expect("an id");
    let first_boot = server
        .stores
        .network
        .get_charger(&id)
        .await
        .expect("charger")
        .last_boot_at
        .expect("booted");
    let reply = server
        .command("SH0101-01", ChargerCommand::Reset { hard: false })
        .await;
    assert_eq!(reply, CommandReply::Status("Accepted".into()));
    h.wait_until("second boot", WAIT, |s| {
        s.connects == 2 && s.boot == BootStatus::Accepted && s.calls_sent == s.results_received
    })
    .await
    .expect("the charger boots again");
    let second_boot = server
        .stores
        .network
        .get_charger(&id)
        .await
        .expect("charger")
        .last_boot_at
        .expect("booted");
    assert!(second_boot > first_boot);
    h.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_the_upgrade() {
    let server = Server::start().await;
    let c = demo_charger("SH0101-01");
    let h = SimCharger::spawn(
        &server.ocpp_url,
        &c.id,
        Some("not-the-password"),
        c.connectors,
        fast(),
    )
    .expect("the simulator starts");
    let mut events = h.subscribe();
    let why = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(SimEvent::ConnectFailed(why)) = events.recv().await {
                return why;
            }
        }
    })
    .await
    .expect("a refused connection");
    assert!(why.contains("401"), "{why}");
    h.shutdown().await.expect("shut down");
}
