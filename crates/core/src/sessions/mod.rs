//! Charging sessions and reservations for partners: the use cases (start, watch, stop,
//! reserve, cancel), the reactions to what chargers report (transaction started, metered and
//! stopped, connectors faulted, chargers gone and back), the timers (start timeout, connection
//! lost, limits, reservation expiry) and recovery after a restart (docs/design.md, flows 2–5).
//!
//! - [`model`]: the session and reservation records and their pure rules (limits, deadlines).
//! - [`ports`]: the store port `SessionStore` (one method = one transaction, events written
//!   in it) and `Runtime` (spawning and sleeping, provided by the server).
//! - [`service`]: [`service::SessionService`], the use cases and reactions.
//! - [`observe`]: decorators of the charger-facing store ports through which the OCPP face's
//!   messages reach the service, without the face knowing about sessions.
//! - [`events`]: the catalogue events sessions and reservations cause.
//! - [`watch`]: in-process notification of session changes (for `wait_s`).
//!
//! Chargers are reached only through [`crate::ports::ChargerGateway`]; nothing here speaks
//! OCPP, HTTP or SQL.

pub mod events;
pub mod model;
pub mod observe;
pub mod ports;
pub mod service;
pub mod watch;
