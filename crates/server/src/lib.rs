//! The `openpile` binary's library: configuration, logging, the command line, and the wiring
//! that turns the core, a store and the faces into one running server. `main.rs` only calls
//! [`cli::run`]; tests and the test kit use [`startup::Application`] directly.

pub mod charging;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod import;
pub mod openapi;
pub mod startup;
pub mod telemetry;
