//! Integration tests of the import formats: the shipped demo network and CSV example, and a
//! table of bad inputs with the exact location and field each must be reported at.

// Helpers and case tables outside `#[test]` functions unwrap too; a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod csv_files;
mod demo;
mod json_document;

use openpile_import::ImportErrors;

/// (location, field) of every error, in the order reported.
pub fn places(errors: &ImportErrors) -> Vec<(String, String)> {
    errors
        .errors()
        .iter()
        .map(|e| (e.location.clone(), e.field.clone()))
        .collect()
}

/// The repository root, where `demo/` lives.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
