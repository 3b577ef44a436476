//! Bulk import into the store: read the files, parse them with `openpile-import`, check what they
//! refer to against the store, hash OCPP passwords and write everything in one transaction.
//! Used by `openpile import`, by `openpile demo` and by the test kit. Nothing is written unless
//! every record is valid.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use openpile_core::error::StoreError;
use openpile_core::ports::ImportSummary;
use openpile_import::{ExistingNetwork, ImportDocument, ImportErrors, ReferenceTarget};
use openpile_secrets::{self as secrets, HashCost, HashError};

use crate::startup::Stores;

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error("{0}")]
    Files(String),
    #[error("{0}")]
    Invalid(ImportErrors),
    #[error("the store refused the import")]
    Store(#[source] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Reads one JSON file, or a set of CSV files (their kinds come from their header rows).
pub fn read_files(paths: &[PathBuf]) -> Result<ImportDocument, ImportFailure> {
    let is = |p: &Path, ext: &str| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| ImportFailure::Files(format!("cannot read {}: {e}", p.display())))
    };
    match paths {
        [] => Err(ImportFailure::Files("no file given".into())),
        [one] if is(one, "json") => {
            openpile_import::parse_json(&read(one)?).map_err(ImportFailure::Invalid)
        }
        _ if paths.iter().all(|p| is(p, "csv")) => {
            let files = paths
                .iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into());
                    Ok((name, read(p)?))
                })
                .collect::<Result<Vec<_>, ImportFailure>>()?;
            openpile_import::parse_csv(&files).map_err(ImportFailure::Invalid)
        }
        _ => Err(ImportFailure::Files(
            "give one .json file, or one or more .csv files (tariffs, stations, chargers, connectors)"
                .into(),
        )),
    }
}

/// Checks `doc` against the store and writes it in one transaction.
pub async fn import(
    stores: &Stores,
    doc: ImportDocument,
    cost: HashCost,
) -> Result<ImportSummary, ImportFailure> {
    let existing = existing_targets(stores, &doc).await?;
    doc.verify_references(&existing)
        .map_err(ImportFailure::Invalid)?;

    // Hash before building the batch: hashing can fail, the batch builder cannot. Argon2 is
    // slow on purpose, so it runs off the async workers.
    let passwords: Vec<String> = doc
        .chargers()
        .iter()
        .filter_map(|c| c.ocpp_password.as_ref().map(|p| p.expose().to_owned()))
        .collect();
    let hashed = tokio::task::spawn_blocking(move || {
        let mut by_password: HashMap<String, VecDeque<String>> = HashMap::new();
        for p in passwords {
            let h = secrets::hash_password_with(&p, cost)?;
            by_password.entry(p).or_default().push_back(h);
        }
        Ok::<_, HashError>(by_password)
    })
    .await
    .map_err(|e| ImportFailure::Files(format!("hashing was interrupted: {e}")))??;
    // Each charger gets its own salted hash, even when two share a password.
    let hashed = Mutex::new(hashed);
    let batch = doc.into_batch(|plain| {
        hashed
            .lock()
            .ok()
            .and_then(|mut m| m.get_mut(plain).and_then(VecDeque::pop_front))
            .unwrap_or_default()
    });
    if batch.chargers.iter().any(|(_, h)| h.as_deref() == Some("")) {
        return Err(ImportFailure::Files(
            "internal error: a password was not hashed".into(),
        ));
    }
    stores
        .network
        .import_network(&batch)
        .await
        .map_err(ImportFailure::Store)
}

/// Looks up, in the store, what the document refers to without defining it.
async fn existing_targets(
    stores: &Stores,
    doc: &ImportDocument,
) -> Result<ExistingNetwork, ImportFailure> {
    let mut existing = ExistingNetwork::default();
    for reference in doc.missing_references() {
        match reference.target {
            ReferenceTarget::Tariff(id) => {
                if existing.tariffs.contains(&id) {
                    continue;
                }
                match stores.network.tariff_versions(&id).await {
                    Ok(v) if !v.is_empty() => {
                        existing.tariffs.insert(id);
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(ImportFailure::Store(e)),
                }
            }
            ReferenceTarget::Station(id) => {
                if existing.stations.contains(&id) {
                    continue;
                }
                match stores.network.get_station(&id).await {
                    Ok(s) if s.retired_at.is_none() => {
                        existing.stations.insert(id);
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(ImportFailure::Store(e)),
                }
            }
            ReferenceTarget::Charger(id) => {
                if existing.chargers.contains_key(&id) {
                    continue;
                }
                match stores.network.get_charger(&id).await {
                    Ok(v) if v.charger.retired_at.is_none() => {
                        existing.chargers.insert(id, v.charger);
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(ImportFailure::Store(e)),
                }
            }
        }
    }
    Ok(existing)
}
