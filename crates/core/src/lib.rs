//! OpenPile's domain core: the types and pure state machines the whole platform shares, and the
//! ports through which use cases reach stores and chargers. It knows no HTTP, SQL or WebSocket;
//! faces and stores depend on it, never the other way round.

pub mod charging;
pub mod clock;
pub mod energy;
pub mod error;
pub mod event;
pub mod geo;
pub mod ids;
pub mod money;
pub mod network;
pub mod operator;
pub mod ops;
pub mod page;
pub mod partner;
pub mod ports;
pub mod pricing;
pub mod reservation;
pub mod session;
pub mod sessions;
pub mod settlement;
pub mod status;
pub mod tariff;
pub mod webhook_target;
