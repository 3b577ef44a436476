//! A validated import: core types only, plus each charger's plaintext OCPP password until the
//! server hashes it. An [`ImportDocument`] exists only when the whole file was valid, so the
//! store receives all of it or, if its own checks fail, none of it.

use std::collections::{HashMap, HashSet};
use std::fmt;

use openpile_core::error::ValidationError;
use openpile_core::ids::{ChargerId, StationId, TariffId};
use openpile_core::network::{Charger, Connector, Station};
use openpile_core::ports::{ImportSummary, NetworkBatch};
use openpile_core::tariff::Tariff;

use crate::error::{Errors, ImportError, ImportErrors};

/// A charger's OCPP 1.6 Basic-auth password (security profile 1) in plaintext, as the operator
/// typed it. Its `Debug` is redacted and it has no `Display`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct OcppPassword(String);

impl OcppPassword {
    pub const MIN_LEN: usize = 8;
    /// The OCPP 1.6 security whitepaper's AuthorizationKey is at most 40 bytes; a longer password
    /// could not be set on the charger with ChangeConfiguration.
    pub const MAX_LEN: usize = 40;

    /// Accepts 8 to 40 printable ASCII characters without spaces: what every charger firmware
    /// can store and send in an HTTP Basic header, with no whitespace a CSV editor could trim.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let n = s.len();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&n) || !s.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ValidationError::new(
                "ocpp_password",
                format!(
                    "must be {} to {} printable ASCII characters without spaces",
                    Self::MIN_LEN,
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The plaintext, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OcppPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OcppPassword(<redacted>)")
    }
}

/// A charger as imported, with the OCPP password the file set for it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerImport {
    pub charger: Charger,
    pub ocpp_password: Option<OcppPassword>,
}

/// What a record points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReferenceTarget {
    Tariff(TariffId),
    Station(StationId),
    Charger(ChargerId),
}

impl fmt::Display for ReferenceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tariff(id) => write!(f, "tariff {id}"),
            Self::Station(id) => write!(f, "station {id}"),
            Self::Charger(id) => write!(f, "charger {id}"),
        }
    }
}

/// A reference from a record of the document to a tariff, station or charger that the document
/// does not define. It is valid only if the store already has the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub target: ReferenceTarget,
    /// The referring record, as [`ImportError::location`] spells it.
    pub location: String,
    /// The referring field (`tariff_id`, `station_id`, `charger_id`).
    pub field: String,
}

impl Reference {
    /// The error to report when the store does not have the target either.
    pub fn not_found(&self) -> ImportError {
        ImportError::new(
            &self.location,
            &self.field,
            format!("{} is neither in the import nor in the store", self.target),
        )
    }
}

/// The targets of [`ImportDocument::missing_references`] that the store has. The server fills it
/// by looking each reference up, then calls [`ImportDocument::verify_references`].
#[derive(Debug, Clone, Default)]
pub struct ExistingNetwork {
    pub tariffs: HashSet<TariffId>,
    pub stations: HashSet<StationId>,
    /// Stored chargers in full: connectors imported onto them are checked against them.
    pub chargers: HashMap<ChargerId, Charger>,
}

/// A whole import, validated. Built only by [`crate::parse_json`] and [`crate::parse_csv`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportDocument {
    pub(crate) tariffs: Vec<Tariff>,
    pub(crate) stations: Vec<Station>,
    pub(crate) chargers: Vec<ChargerImport>,
    pub(crate) connectors: Vec<Connector>,
    /// Where each connector is in the file (same order as `connectors`), to report problems found
    /// against stored chargers.
    pub(crate) connector_locations: Vec<String>,
    pub(crate) references: Vec<Reference>,
}

impl ImportDocument {
    /// Tariff versions, in file order.
    pub fn tariffs(&self) -> &[Tariff] {
        &self.tariffs
    }

    pub fn stations(&self) -> &[Station] {
        &self.stations
    }

    pub fn chargers(&self) -> &[ChargerImport] {
        &self.chargers
    }

    pub fn connectors(&self) -> &[Connector] {
        &self.connectors
    }

    /// How many records of each kind the import holds.
    pub fn summary(&self) -> ImportSummary {
        ImportSummary {
            tariffs: self.tariffs.len(),
            stations: self.stations.len(),
            chargers: self.chargers.len(),
            connectors: self.connectors.len(),
        }
    }

    /// Tariffs, stations and chargers that records refer to but the document does not define,
    /// one entry per referring record. The import is valid only if the store has every target:
    /// look them up, then call [`Self::verify_references`]. Empty for a self-contained file.
    pub fn missing_references(&self) -> Vec<Reference> {
        self.references.clone()
    }

    /// Checks the references the document leaves open against what the store has: each target
    /// must exist, and connectors added to a stored charger must fit it (current type, power).
    /// Every problem is reported, like the document's own.
    pub fn verify_references(&self, existing: &ExistingNetwork) -> Result<(), ImportErrors> {
        let mut errs = Errors::default();
        for r in &self.references {
            let found = match &r.target {
                ReferenceTarget::Tariff(id) => existing.tariffs.contains(id),
                ReferenceTarget::Station(id) => existing.stations.contains(id),
                ReferenceTarget::Charger(id) => existing.chargers.contains_key(id),
            };
            if !found {
                errs.add(r.not_found());
            }
        }
        // Connectors on stored chargers were checked only on their own while parsing. A charger
        // the import defines wins over the stored one, which it is about to replace.
        let defined: HashSet<&ChargerId> = self.chargers.iter().map(|c| &c.charger.id).collect();
        for (connector, location) in self.connectors.iter().zip(&self.connector_locations) {
            if !defined.contains(&connector.charger_id)
                && let Some(charger) = existing.chargers.get(&connector.charger_id)
                && let Err(e) = connector.validate(charger)
            {
                errs.push(location, &e.field, e.reason);
            }
        }
        errs.into_result()
    }

    /// The batch for [`openpile_core::ports::NetworkStore::import_network`], with each OCPP
    /// password replaced by `hash(password)` (the server passes argon2). The plaintext is dropped
    /// here.
    pub fn into_batch(self, mut hash: impl FnMut(&str) -> String) -> NetworkBatch {
        match self.try_into_batch(|p| Ok::<_, std::convert::Infallible>(hash(p))) {
            Ok(batch) => batch,
            Err(never) => match never {},
        }
    }

    /// [`Self::into_batch`] with a hash function that can fail: the first failure is returned
    /// and no batch is built. Argon2 is slow on purpose, so call this off the async workers
    /// (`spawn_blocking(move || doc.try_into_batch(..))`).
    pub fn try_into_batch<E>(
        self,
        mut hash: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<NetworkBatch, E> {
        let chargers = self
            .chargers
            .into_iter()
            .map(|c| {
                let hashed = c
                    .ocpp_password
                    .as_ref()
                    .map(|p| hash(p.expose()))
                    .transpose()?;
                Ok((c.charger, hashed))
            })
            .collect::<Result<_, E>>()?;
        Ok(NetworkBatch {
            tariffs: self.tariffs,
            stations: self.stations,
            chargers,
            connectors: self.connectors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_8_to_40_printable_ascii() {
        assert!(OcppPassword::parse("demo-SH0101-01-pw").is_ok());
        assert!(OcppPassword::parse(&"x".repeat(8)).is_ok());
        assert!(OcppPassword::parse(&"x".repeat(40)).is_ok());
        for bad in [
            "short",
            "seven77",
            &"x".repeat(41),
            "has space inside",
            "密码密码密码密码",
            "tab\there!",
        ] {
            let e = OcppPassword::parse(bad).unwrap_err();
            assert_eq!(e.field, "ocpp_password", "{bad}");
        }
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let p = OcppPassword::parse("s3cret-pass").unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(p.expose(), "s3cret-pass");
    }
}
