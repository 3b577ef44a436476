//! Settlement: what happens to money after charging (design flow 6, issue 7).
//!
//! - [`cdr`]: the immutable charge detail record of a completed session, and credit CDRs (the
//!   only way to correct one).
//! - [`terms`]: revenue-share terms (the partner's commission per fee) with effective dates,
//!   extending the onboarding contract.
//! - [`period`]: statement periods — local days, weeks or months.
//! - [`statement`]: statement lines and totals, and the statement lifecycle (a pure state
//!   machine: draft → reported → reconciled | disputed → confirmed → settled).
//! - [`report`]: the partner's settlement report, validated line by line.
//! - [`reconcile`]: the order-by-order comparison of a statement with a report (pure).
//! - [`dispute`]: what resolving a discrepancy does (pure).
//! - [`events`]: the `statement.*` event payloads and the cost breakdown of `session.completed`.
//! - [`ports`]: the store port, [`ports::SettlementStore`].
//! - [`service`]: the use cases for the partner and operator faces.
//!
//! Every amount is rounded by [`crate::money::Money::round`] once, where it is billed (a CDR's
//! line, a statement line's commission); every total is a sum of rounded lines.

pub mod cdr;
pub mod dispute;
pub mod events;
pub mod period;
pub mod ports;
pub mod reconcile;
pub mod report;
pub mod report_csv;
pub mod service;
pub mod statement;
pub mod terms;
