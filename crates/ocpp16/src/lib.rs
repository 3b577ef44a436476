//! The OCPP 1.6J face: the WebSocket endpoint our chargers connect to, the RPC layer, the typed
//! messages, the handlers of charger-initiated messages, and the [`ChargerGateway`]
//! implementation through which the rest of OpenPile sends commands to chargers without
//! knowing about WebSockets.
//!
//! Wiring, for the server:
//! ```ignore
//! let cs = CentralSystem::new(Ocpp16Config::default(), charger_store, transaction_store, clock);
//! let app = Router::new().merge(openpile_ocpp16::router(cs.clone()));   // GET /ocpp/{id}
//! tokio::spawn(cs.clone().run_liveness_sweeper(shutdown_signal()));
//! // plain (profile 1): axum::serve(tcp, app);  TLS (profile 2): tls::serve_tls(tcp, cfg, app, ..)
//! // at shutdown: cs.close_all();
//! ```
//!
//! [`ChargerGateway`]: openpile_core::ports::ChargerGateway

mod auth;
mod central;
mod commands;
mod config;
mod connection;
mod endpoint;
mod handlers;
pub mod messages;
mod meter;
pub mod tls;

pub use auth::BasicCredentials;
pub use central::{CentralSystem, ConnectedCharger};
pub use config::Ocpp16Config;
pub use endpoint::{SUBPROTOCOL, router};
