//! The operator's own staff: accounts, roles and the audit trail of what they do.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// What an operator account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// Everything, including accounts.
    Admin,
    /// Reviews partner applications.
    Reviewer,
    /// Runs the network: stations, chargers, tariffs, remote commands.
    Operations,
    /// Statements and settlement.
    Finance,
}

impl OperatorRole {
    pub const ALL: [OperatorRole; 4] =
        [Self::Admin, Self::Reviewer, Self::Operations, Self::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Reviewer => "reviewer",
            Self::Operations => "operations",
            Self::Finance => "finance",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "role",
                    "must be one of admin, reviewer, operations, finance",
                )
            })
    }

    /// May change stations, chargers, connectors and tariffs, and send charger commands.
    pub fn manages_network(self) -> bool {
        matches!(self, Self::Admin | Self::Operations)
    }
}

/// A normalised e-mail address (trimmed, lower-case), checked for a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim().to_lowercase();
        let err = || ValidationError::new("email", "is not a valid e-mail address");
        let (local, domain) = s.split_once('@').ok_or_else(err)?;
        let ok = !local.is_empty()
            && s.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if !ok {
            return Err(err());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password: long enough to resist guessing; no composition rules (NIST 800-63B).
pub fn validate_password(field: &str, password: &str) -> Result<(), ValidationError> {
    let n = password.chars().count();
    if n < 12 {
        return Err(ValidationError::new(
            field,
            "must be at least 12 characters",
        ));
    }
    if n > 256 {
        return Err(ValidationError::new(
            field,
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

/// An operator account as stored. The password is only ever held as an argon2 PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAccount {
    pub id: String,
    pub email: Email,
    pub role: OperatorRole,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// One line of the audit trail: who did what to which object, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `operator:<id>`, `partner:<id>` or `system`.
    pub actor: String,
    /// e.g. `station.update`, `charger.password_reset`.
    pub action: String,
    /// e.g. `station:SH-0001`.
    pub object: String,
    /// Free-form JSON text with the relevant details (never secrets).
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ops@Example.COM ").unwrap().as_str(),
            "ops@example.com"
        );
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@.com",
            "a@b.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(validate_password("password", "short").is_err());
        assert!(validate_password("password", "correct horse battery").is_ok());
    }

    #[test]
    fn roles_parse() {
        for r in OperatorRole::ALL {
            assert_eq!(OperatorRole::parse(r.as_str()).unwrap(), r);
        }
        assert!(OperatorRole::parse("root").is_err());
        assert!(OperatorRole::Operations.manages_network());
        assert!(!OperatorRole::Finance.manages_network());
    }
}
