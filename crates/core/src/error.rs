//! Errors of the domain: validation of values (naming the field), illegal state transitions,
//! and the error type services return to faces. Faces map these to their own envelopes.

use std::fmt;

/// A value that failed validation, naming the field (as the faces spell it) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// Dotted path of the offending field, e.g. `connectors[1].max_power_kw`.
    pub field: String,
    /// What is wrong, in words a partner or operator can act on.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, nested under a parent field (`parent.field`, or `parent[i].field`).
    #[must_use]
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        let parent = parent.to_string();
        self.field = if self.field.is_empty() {
            parent
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// A transition that the lifecycle of a session, reservation or statement does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entity} cannot go from {from} on {event}")]
pub struct TransitionError {
    pub entity: &'static str,
    pub from: &'static str,
    pub event: &'static str,
}

/// What a store port can fail with. Constraint names are the ones given in the migrations, so
/// every backend reports the same name.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict on constraint {constraint}")]
    Conflict { constraint: String },
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("store error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The error services hand to faces.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    InvalidState(#[from] TransitionError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("forbidden")]
    Forbidden,
    #[error("unauthorized")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}
