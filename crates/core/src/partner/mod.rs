//! Partners: how a third-party platform applies, is reviewed, gets credentials and tokens, and
//! what it may see of the network.
//!
//! - [`application`]: the application form with its validated fields (unified social credit
//!   code, mainland mobile), revisions and review decisions.
//! - [`contract`]: the terms an approval sets (station scope, revenue share, rate limit,
//!   settlement cycle, scopes).
//! - [`credential`]: environments, OAuth2 scopes, client credentials, secrets and access tokens.
//! - [`notification`]: what we tell applicants, and the optional mail port.
//! - [`ports`]: the store port, the station-catalog read port and the crypto port.
//! - [`service`]: the use cases (apply, resubmit, approve, reject, suspend, rotate, revoke, issue
//!   and check tokens).
//! - [`catalog`]: the in-memory view of the network that partner reads are answered from.
//!
//! Nothing here hashes, draws random numbers or speaks HTTP: hashing and randomness come
//! through [`ports::CredentialCrypto`], implemented by a face.

pub mod application;
pub mod catalog;
pub mod contract;
pub mod credential;
pub mod notification;
pub mod ports;
pub mod service;
pub mod uscc;
