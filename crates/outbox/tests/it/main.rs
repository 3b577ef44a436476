//! Integration tests of the webhook delivery worker: the real SQLite store (a temporary file),
//! events written by the real charger-facing port, and receivers that are small axum servers
//! on 127.0.0.1:0 behaving as each test needs.

// Test helpers outside `#[test]` functions panic on purpose too.
#![allow(clippy::unwrap_used)]

mod delivery;
mod support;
