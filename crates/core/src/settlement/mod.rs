//! Settlement: what happens to money after charging (design flow 6).
//!
//! - [`cdr`]: the immutable charge detail record of a completed session, and credit CDRs.
pub mod cdr;
pub mod dispute;
pub mod period;
pub mod reconcile;
pub mod report;
pub mod statement;
pub mod terms;
pub mod events;
pub mod ports;
pub mod service;
