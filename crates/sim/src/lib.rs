//! The charger simulator: each simulated charger is a real OCPP 1.6J client (WebSocket,
//! subprotocol `ocpp1.6`, HTTP Basic auth) that boots, reports its connectors, heartbeats,
//! answers the central system's commands (remote start/stop, reservations, availability,
//! reset, trigger, configuration, unlock) and runs charging sessions with MeterValues.
//! Tests and the demo steer it through a [`SimHandle`]: plug or unplug a car, fault a
//! connector, refuse or ignore remote starts, go offline and come back with queued
//! transaction messages.
//!
//! It knows nothing of the server's internals: it talks to any central system by URL, and
//! writes and reads the OCPP wire format itself (see `wire.rs` for why).
//!
//! Layout: `config` (what a charger is and how it behaves), `machine` (the protocol state
//! machine, no I/O), `charger` (the task that owns the socket), `handle` (control and
//! observation), `fleet` (many chargers), `cli` (`openpile sim`).

pub mod cli;
pub mod config;
pub mod error;
pub mod fleet;
pub mod handle;

mod charger;
mod machine;
mod wire;

pub use charger::SimCharger;
pub use cli::{SimArgs, run_cli};
pub use config::{
    Behaviour, RemoteStartPolicy, RemoteStopPolicy, SimConnector, uniform_connectors,
};
pub use error::SimError;
pub use fleet::{
    Fleet, FleetCharger, FleetSummary, chargers_from_network_json, spawn_demo_fleet,
    spawn_demo_fleet_tls,
};
pub use handle::{BootStatus, ConnectorSnapshot, SimEvent, SimHandle, SimSnapshot};
