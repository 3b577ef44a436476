//! Integration tests of the simulator against a fake central system over real WebSockets.

// Test helpers: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod fake_csms;
mod flows;
