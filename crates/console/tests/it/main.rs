//! Integration tests of the console: routes in process, and a real browser.

// Test helpers outside `#[test]` functions panic on purpose when a fixture breaks.
#![allow(clippy::unwrap_used)]

mod browser;
mod partners;
mod portal_browser;
mod portal_screens;
mod routes;
mod support;
