//! Integration tests of the OCPP 1.6J face over real WebSockets on 127.0.0.1:0, against a
//! SQLite store in a temporary file; plus the schema agreement suite and property tests of the
//! RPC layer.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod charger;
mod gateway;
mod handshake;
mod harness;
mod liveness;
mod messages;
mod rpc_props;
mod schema;
mod tls;
mod transactions;
