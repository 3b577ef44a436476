//! Delivers OpenPile's events to partner webhooks (issue 6, docs/design.md "outbox").
//!
//! Stores write each event and its deliveries in the transaction of the state change that
//! causes it; this crate only moves what the store holds: a [`worker::Worker`] claims due
//! deliveries with a lease, POSTs each one signed per the Standard Webhooks specification,
//! and records the attempt — delivered, retried later with exponential backoff and jitter, or
//! dead after the retry window. All state is in the database, so a killed process loses
//! nothing: a claim it held comes back when its lease runs out. [`housekeeping`] disables
//! endpoints that keep failing (telling the partner with a `webhook.disabled` event) and
//! purges events past their retention.
//!
//! Guarantees and where they come from:
//! - order: the store hands out only the oldest pending delivery of each (webhook, subject),
//!   so a later status of a connector never overtakes an earlier one to the same endpoint;
//! - isolation: at most `per_endpoint` deliveries of one webhook are in flight, out of a
//!   global pool of `concurrency`, each bounded in time and response size, so a slow or dead
//!   endpoint cannot starve the others (and the charger-facing path never waits on any);
//! - server-side request forgery: [`target`] refuses loopback, private, link-local,
//!   unique-local, multicast and unspecified addresses at connect time (the addresses the
//!   connection really uses, so DNS rebinding cannot slip through), unless configured.
//!
//! It knows nothing of SQL or of the partner API: it talks to core's [`EventStore`] port.
//!
//! [`EventStore`]: openpile_core::event::EventStore

pub mod config;
pub mod housekeeping;
pub mod message;
pub mod target;
pub mod worker;
