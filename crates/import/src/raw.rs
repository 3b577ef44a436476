//! The records of an import before validation, the same for both formats: each JSON object or
//! CSV row becomes [`Fields`] (its location plus the raw values by field name), arranged as
//! tariffs, stations, chargers and connectors. The readers know the file formats; the builder
//! (`build.rs`) knows the domain. Nothing here interprets a value.

use std::collections::BTreeMap;

/// A raw value as the file gave it.
#[derive(Debug, Clone)]
pub(crate) enum Scalar {
    /// A JSON string.
    Text(String),
    /// A JSON number, kept as serde_json holds it (its text is read for decimals).
    Number(serde_json::Number),
    /// A JSON boolean.
    Bool(bool),
    /// A non-empty CSV cell: text that may stand for any type.
    Cell(String),
    /// A value the reader has already reported as wrongly shaped (an array where a string
    /// belongs); the builder skips it without reporting it again.
    Reported,
}

/// One record (JSON object or CSV row) by field name.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    /// Where the record is, as errors show it.
    pub(crate) loc: String,
    values: BTreeMap<&'static str, Scalar>,
    /// Field names as the file spells them, where they differ from the builder's names (a CSV
    /// station's own id is the column `station_id`; in JSON it is `id`).
    spelled: &'static [(&'static str, &'static str)],
}

impl Fields {
    pub(crate) fn new(loc: String, spelled: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            loc,
            values: BTreeMap::new(),
            spelled,
        }
    }

    pub(crate) fn insert(&mut self, key: &'static str, value: Scalar) {
        self.values.insert(key, value);
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Scalar> {
        self.values.get(key)
    }

    /// The name of `key` as the file spells it, for error messages.
    pub(crate) fn spelled(&self, key: &'static str) -> &'static str {
        self.spelled
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(key, |(_, s)| s)
    }
}

/// Which record a charger or connector belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    /// Nested inside the record with this index (JSON).
    Nested(usize),
    /// Named by a field of its own (`station_id`, `charger_id` in CSV).
    ByField,
}

#[derive(Debug, Clone)]
pub(crate) struct RawTariff {
    /// The tariff as a whole (JSON `tariffs[0]`, CSV `tariffs.csv rows 2-5`).
    pub(crate) loc: String,
    /// id, name, version, effective_from.
    pub(crate) fields: Fields,
    /// start, end, label, electricity_price, service_price.
    pub(crate) segments: Vec<Fields>,
    /// price_per_minute, grace_minutes.
    pub(crate) idle_fee: Option<Fields>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawStation {
    pub(crate) fields: Fields,
    pub(crate) photos: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawCharger {
    pub(crate) fields: Fields,
    /// The station, when it is not a `station_id` field.
    pub(crate) station: Parent,
}

#[derive(Debug, Clone)]
pub(crate) struct RawConnector {
    pub(crate) fields: Fields,
    /// The charger, when it is not a `charger_id` field.
    pub(crate) charger: Parent,
}

/// Everything a file (or set of CSV files) held.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawDocument {
    pub(crate) tariffs: Vec<RawTariff>,
    pub(crate) stations: Vec<RawStation>,
    pub(crate) chargers: Vec<RawCharger>,
    pub(crate) connectors: Vec<RawConnector>,
    /// Some connector record could not be read at all (already reported), so a charger that
    /// seems to have no connector may well have one: that check is skipped rather than adding
    /// a misleading error.
    pub(crate) unread_connectors: bool,
}
