//! Partner accounts and their OAuth2 client credentials: environments, scopes (RFC 6749 §3.3),
//! client ids, hashed secrets with rotation grace, and access tokens (stored by SHA-256 only).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::PartnerId;
use crate::operator::Email;
use crate::partner::contract::Contract;

/// Which network a credential reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Only stations marked `sandbox` (served by simulated chargers). Every applicant gets one
    /// at once, so integrations can be built before approval.
    Sandbox,
    /// The stations of the partner's contract. Issued on approval.
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sandbox, Self::Production]
            .into_iter()
            .find(|e| e.as_str() == s)
    }

    /// The client id prefix, so a glance tells which environment a credential is for.
    fn client_id_prefix(self) -> &'static str {
        match self {
            Self::Sandbox => "sbx_",
            Self::Production => "prd_",
        }
    }
}

/// An OAuth2 scope of the Open API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Stations, connectors, statuses, tariffs.
    #[serde(rename = "stations:read")]
    StationsRead,
    /// Start and stop sessions, reservations.
    #[serde(rename = "charging:write")]
    ChargingWrite,
    /// Webhooks, the event stream and feed.
    #[serde(rename = "events:read")]
    EventsRead,
    /// Report collections and confirm statements.
    #[serde(rename = "settlement:write")]
    SettlementWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Self::StationsRead,
        Self::ChargingWrite,
        Self::EventsRead,
        Self::SettlementWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StationsRead => "stations:read",
            Self::ChargingWrite => "charging:write",
            Self::EventsRead => "events:read",
            Self::SettlementWrite => "settlement:write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes. Printed space-delimited as RFC 6749 §3.3 writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u8);

/// A `scope` parameter naming something we do not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl ScopeSet {
    pub const EMPTY: ScopeSet = ScopeSet(0);

    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    /// Reads an RFC 6749 §3.3 `scope` value: space-delimited, case-sensitive tokens. Repeated
    /// tokens are harmless; an empty value is the empty set.
    pub fn parse_delimited(s: &str) -> Result<Self, UnknownScope> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| Scope::parse(t).ok_or_else(|| UnknownScope(t.to_string())))
            .collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Validates a list given by an operator (names the field).
    pub fn from_names(field: &str, names: &[String]) -> Result<Self, ValidationError> {
        let set = names
            .iter()
            .map(|n| {
                Scope::parse(n).ok_or_else(|| {
                    ValidationError::new(
                        field,
                        format!(
                            "unknown scope {n:?} (stations:read, charging:write, events:read, settlement:write)"
                        ),
                    )
                })
            })
            .collect::<Result<ScopeSet, _>>()?;
        if set.is_empty() {
            return Err(ValidationError::new(field, "must grant at least one scope"));
        }
        Ok(set)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<Scope>::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

/// An OAuth2 client id: `sbx_` or `prd_` and 32 lower-case hex digits. Not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// A new client id for `environment` from a fresh id (dashes dropped).
    pub fn generate(environment: Environment, fresh_id: &str) -> Self {
        let body: String = fresh_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Self(format!("{}{body}", environment.client_id_prefix()))
    }

    /// Checks the shape only (the store says whether it exists).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = (s.starts_with("sbx_") || s.starts_with("prd_"))
            && (5..=64).contains(&s.len())
            && s[4..].chars().all(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(ValidationError::new("client_id", "is not a client id"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The environment the prefix names.
    pub fn environment(&self) -> Environment {
        if self.0.starts_with("prd_") {
            Environment::Production
        } else {
            Environment::Sandbox
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a partner account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Applied, not approved yet: sandbox only.
    Applicant,
    /// Approved, with a contract and production credentials.
    Active,
    /// Stopped by the operator: every token dies at once, no new ones are issued.
    Suspended,
}

impl PartnerStatus {
    pub const ALL: [PartnerStatus; 3] = [Self::Applicant, Self::Active, Self::Suspended];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A partner platform (from its application on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partner {
    pub id: PartnerId,
    /// The company name of the latest application revision.
    pub name: String,
    /// The application the partner came from.
    pub application_id: String,
    /// The applicant account's e-mail: where notifications go.
    pub email: Email,
    pub status: PartnerStatus,
    /// Set on approval.
    pub contract: Option<Contract>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspension_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One secret of a credential, held only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientSecret {
    pub id: String,
    #[serde(skip)]
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// Set when a rotation replaced it: it stays valid until then (the grace period).
    pub expires_at: Option<DateTime<Utc>>,
    /// Set by revocation: dead at once, with every token issued with it.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ClientSecret {
    /// Whether a client may authenticate with it at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A client id with its secrets (at most two live ones: the current and, during a rotation's
/// grace period, the previous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub client_id: ClientId,
    pub partner_id: PartnerId,
    pub environment: Environment,
    pub scopes: ScopeSet,
    pub created_at: DateTime<Utc>,
    /// Newest first.
    pub secrets: Vec<ClientSecret>,
}

impl Credential {
    /// The secrets a client may authenticate with now, newest first.
    pub fn live_secrets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &ClientSecret> {
        self.secrets.iter().filter(move |s| s.is_live(now))
    }
}

/// An access token as stored: by the SHA-256 of its value, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token_sha256: String,
    pub client_id: ClientId,
    pub secret_id: String,
    pub partner_id: PartnerId,
    pub environment: Environment,
    pub scopes: ScopeSet,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored token with what decides whether it still works, read in one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token: AccessToken,
    /// Set when its partner was suspended.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret it was issued with: a rotation's grace end, and revocation.
    pub secret_expires_at: Option<DateTime<Utc>>,
    pub secret_revoked_at: Option<DateTime<Utc>>,
    pub partner_status: PartnerStatus,
    pub contract: Option<Contract>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scopes_parse_as_rfc6749_space_delimited_lists() {
        let s = ScopeSet::parse_delimited("stations:read  events:read").unwrap();
        assert!(s.contains(Scope::StationsRead));
        assert!(s.contains(Scope::EventsRead));
        assert!(!s.contains(Scope::ChargingWrite));
        assert_eq!(s.to_string(), "stations:read events:read");
        assert_eq!(
            ScopeSet::parse_delimited("stations:read Stations:Read").unwrap_err(),
            UnknownScope("Stations:Read".into())
        );
        assert!(ScopeSet::parse_delimited("").unwrap().is_empty());
        assert!(s.is_subset_of(ScopeSet::all()));
        assert!(!ScopeSet::all().is_subset_of(s));
    }

    #[test]
    fn scope_sets_serialize_as_name_lists() {
        let s: ScopeSet = [Scope::ChargingWrite, Scope::StationsRead]
            .into_iter()
            .collect();
        let json = serde_json_like(&s);
        assert_eq!(json, "[stations:read,charging:write]");
    }

    fn serde_json_like(s: &ScopeSet) -> String {
        format!(
            "[{}]",
            s.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
        )
    }

    #[test]
    fn client_ids_carry_their_environment() {
        let id = ClientId::generate(
            Environment::Production,
            "01890a5d-ac96-774b-bcce-b302099a8057",
        );
        assert_eq!(id.as_str(), "prd_01890a5dac96774bbcceb302099a8057");
        assert_eq!(id.environment(), Environment::Production);
        assert_eq!(ClientId::parse(id.as_str()).unwrap(), id);
        assert!(ClientId::parse("xyz_123").is_err());
        assert!(ClientId::parse("sbx_a b").is_err());
    }

    #[test]
    fn secrets_live_until_revoked_or_past_their_grace() {
        let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        let mut secret = ClientSecret {
            id: "s1".into(),
            hash: "h".into(),
            created_at: t(0),
            expires_at: None,
            revoked_at: None,
        };
        assert!(secret.is_live(t(10)));
        secret.expires_at = Some(t(100));
        assert!(secret.is_live(t(99)));
        assert!(!secret.is_live(t(100)));
        secret.expires_at = None;
        secret.revoked_at = Some(t(5));
        assert!(!secret.is_live(t(6)));
    }
}
