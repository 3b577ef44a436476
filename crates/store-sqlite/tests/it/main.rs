//! Integration tests of the SQLite store: the shared store contract against a real database
//! file (one per test, in a temporary directory), and what only SQLite has (`sqlite.rs`).

mod sqlite;

use openpile_store_sqlite::SqliteStore;
use tempfile::TempDir;

/// A migrated, empty store in a fresh file; the directory lives as long as the returned guard.
pub async fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("openpile.db").display());
    let store = SqliteStore::connect(&url).await.expect("the store opens");
    (store, dir)
}

openpile_store_contract::store_contract_tests!(fresh_store().await);
