//! Bulk import of an operator's network — tariffs, stations, chargers and connectors — from a
//! nested JSON document ([`parse_json`]) or a set of CSV files ([`parse_csv`]). This is how an
//! operator brings an existing network, and the format of the shipped demo network
//! (`demo/network.json`, `demo/csv/`).
//!
//! Every value goes through the core's own types and `validate` methods, so an import accepts
//! exactly what the admin API accepts. Every problem in the input is collected and reported with
//! its location and field; a document is returned only when there is none, and nothing half-read
//! ever reaches the store. This crate reads text and knows no store, HTTP or password hashing:
//! the server looks up [`ImportDocument::missing_references`] in the store and hashes OCPP
//! passwords in [`ImportDocument::into_batch`].

mod build;
pub mod document;
pub mod error;
mod json;
mod raw;
mod table;

pub use document::{
    ChargerImport, ExistingNetwork, ImportDocument, OcppPassword, Reference, ReferenceTarget,
};
pub use error::{ImportError, ImportErrors};

/// Reads the JSON format:
/// `{"tariffs": [{id, name, version?, effective_from, segments: [{start, end, label?,
/// electricity_price, service_price}], idle_fee?: {price_per_minute, grace_minutes}}],
/// "stations": [{id, name, address, area_code, province, city, district, lat, lng, datum?,
/// opening_hours, parking?, service_phone, photos?, status?, tariff_id, sandbox?, chargers:
/// [{id, vendor, model, serial?, current_type, max_power_kw, firmware?, ocpp_password?,
/// connectors: [{number, id?, standard, max_power_kw, voltage_v, current_a}]}]}]}`.
///
/// Prices and powers may be strings (`"0.3500"`) or numbers; unknown fields are errors.
/// Locations are JSON paths (`stations[3].chargers[0].connectors[1]`), or `line L, column C`
/// when the text is not JSON at all.
pub fn parse_json(text: &str) -> Result<ImportDocument, ImportErrors> {
    let mut errs = error::Errors::default();
    let raw = json::read(text, &mut errs).map_err(ImportErrors::single)?;
    build::build(&raw, errs)
}

/// Reads the CSV format from `(file name, content)` pairs. Each file's kind comes from its
/// header row: tariffs (`tariff_id, name, version, effective_from, start, end, label,
/// electricity_price, service_price, idle_price_per_minute, idle_grace_minutes`, one row per
/// segment), stations (`station_id, name, address, area_code, province, city, district, lat,
/// lng, datum, opening_hours, parking, service_phone, photos, status, tariff_id, sandbox`;
/// photos separated by spaces), chargers (`charger_id, station_id, vendor, model, serial,
/// current_type, max_power_kw, firmware, ocpp_password`) and connectors (`charger_id, number,
/// connector_id, standard, max_power_kw, voltage_v, current_a`). Optional columns may be left
/// out; empty cells are absent values. Locations are `<file name> row <n>` with the header as
/// row 1, as a spreadsheet shows it.
pub fn parse_csv(files: &[(String, String)]) -> Result<ImportDocument, ImportErrors> {
    let mut errs = error::Errors::default();
    let raw = table::read(files, &mut errs);
    build::build(&raw, errs)
}
