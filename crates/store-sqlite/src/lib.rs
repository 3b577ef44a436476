//! The embedded SQLite store: one database file in WAL mode, implementing the core's store ports
//! with sqlx (one port method = one transaction). This module owns opening the pool, running the
//! embedded migrations, beginning transactions and turning sqlx errors into [`StoreError`]s;
//! one module per port holds the SQL. Nothing outside this crate sees SQL or sqlx types.

mod catalog;
mod chargers;
mod columns;
mod network;
mod operators;
mod outbox;
mod partners;
mod sessions;
mod settlement;
mod transactions;

use std::str::FromStr;
use std::time::Duration;

use openpile_core::error::StoreError;
use openpile_core::page::{Page, PageRequest};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

/// How long a connection waits for another one's write lock before SQLite gives up with
/// SQLITE_BUSY. Writes are short, so this is only reached when something is badly wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite runs one writer at a time whatever the pool size, but WAL lets readers proceed next to
/// it; a handful of connections keeps reads from queueing behind writes on a small machine.
const MAX_CONNECTIONS: u32 = 8;

/// The store. Cheap to clone: clones share one pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writes go through one connection. SQLite admits one writer at a time anyway, and a
    /// writer that loses the race for the lock sleeps in growing steps (up to 100 ms) instead of
    /// taking it when it frees; queueing writers in-process keeps write latency flat under load
    /// (measured: p99 of status-to-webhook 15 s → tens of ms at hundreds of changes a second).
    writer: SqlitePool,
}

/// What [`SqliteStore::connection_settings`] reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `wal` for a file, `memory` for `sqlite::memory:`.
    pub journal_mode: String,
    pub foreign_keys: bool,
    pub synchronous: &'static str,
    pub busy_timeout_ms: i64,
}

/// The connection string could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid SQLite database URL {url:?}: {reason}")]
pub struct InvalidUrl {
    url: String,
    reason: String,
}

/// A stored value that does not decode into its domain type: the database was edited by hand or
/// by a newer version. Never expected; reported as [`StoreError::Other`].
#[derive(Debug, thiserror::Error)]
#[error("stored {column} is invalid: {reason}")]
pub(crate) struct CorruptValue {
    pub(crate) column: &'static str,
    pub(crate) reason: String,
}

impl CorruptValue {
    /// The [`StoreError`] carrying it: the only thing a row decoder needs. Takes the reason by
    /// value so call sites can pass any error or value without borrowing.
    #[allow(clippy::new_ret_no_self, clippy::needless_pass_by_value)]
    pub(crate) fn new(column: &'static str, reason: impl ToString) -> StoreError {
        StoreError::Other(Box::new(Self {
            column,
            reason: reason.to_string(),
        }))
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` — `sqlite://path`, `sqlite:path`, a plain
    /// file path, or `sqlite::memory:` for a private in-memory database — and migrates it.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Other(Box::new(InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                }))
            })?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // NORMAL is durable across application crashes in WAL mode; only an OS crash or
            // power loss can lose the last commits, which is the usual trade for WAL.
            .synchronous(SqliteSynchronous::Normal)
            // Sorts and temporary b-trees stay in memory instead of a file made and deleted for
            // every statement that needs one.
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (pool, writer) = if in_memory {
            // Every connection to a shared-cache memory database sees the same data, but
            // shared-cache locking does not honour busy_timeout; one connection that never
            // closes keeps both the data and the locking simple.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.journal_mode(SqliteJournalMode::Memory))
                .await
                .map(|pool| (pool.clone(), pool))
        } else {
            let options = options.journal_mode(SqliteJournalMode::Wal);
            let readers = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await;
            match readers {
                Ok(readers) => SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map(|writer| (readers, writer)),
                Err(e) => Err(e),
            }
        }
        .map_err(db_error)?;
        let store = SqliteStore { pool, writer };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations that have not run yet. Safe to call again.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!()
            .run(&self.pool)
            .await
            .map_err(|e| db_error(sqlx::Error::from(e)))
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    /// The settings a pooled connection actually runs with, read back from SQLite, so start-up
    /// logs and tests can confirm them rather than trust the options.
    pub async fn connection_settings(&self) -> Result<ConnectionSettings, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(ConnectionSettings {
            journal_mode,
            foreign_keys: foreign_keys == 1,
            // https://www.sqlite.org/pragma.html#pragma_synchronous
            synchronous: match synchronous {
                0 => "off",
                1 => "normal",
                2 => "full",
                3 => "extra",
                _ => "unknown",
            },
            busy_timeout_ms,
        })
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// The pool, for this crate's port modules.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Begins a transaction that will write. `BEGIN IMMEDIATE` takes the write lock up front:
    /// a deferred transaction that reads first and writes later cannot be granted the lock
    /// while another writer holds it, and SQLite then fails it with SQLITE_BUSY at once instead
    /// of waiting out the busy timeout.
    pub(crate) async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    /// Begins a read-only transaction, so a multi-statement read sees one snapshot.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin().await.map_err(db_error)
    }
}

/// UNIQUE and PRIMARY KEY constraints by the column list SQLite names in its error message
/// ("UNIQUE constraint failed: connectors.charger_id, connectors.number"). The names are the
/// ones the migrations declare (and the PostgreSQL store reports); add a line with each new
/// unique constraint.
const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    ("tariffs.id, tariffs.version", "tariffs_id_version_key"),
    ("stations.id", "stations_pkey"),
    ("chargers.id", "chargers_pkey"),
    ("connectors.id", "connectors_pkey"),
    (
        "connectors.charger_id, connectors.number",
        "connectors_charger_number_key",
    ),
    ("operators.id", "operators_pkey"),
    ("operators.email", "operators_email_key"),
    ("operator_tokens.token_sha256", "operator_tokens_pkey"),
    ("audit_log.id", "audit_log_pkey"),
    // 0002_ocpp_transactions.sql
    (
        "ocpp_orphan_stops.charger_id, ocpp_orphan_stops.transaction_id, \
         ocpp_orphan_stops.stopped_at, ocpp_orphan_stops.meter_stop_wh",
        "ocpp_orphan_stops_key",
    ),
    ("id_tag_bindings.id_tag", "id_tag_bindings_pkey"),
    ("id_tag_bindings.session_id", "id_tag_bindings_session_key"),
    ("local_id_tags.id_tag", "local_id_tags_pkey"),
];

/// The SQLite extended result codes that mean "try again later" rather than "wrong request".
const BUSY_CODES: &[&str] = &[
    "5",   // SQLITE_BUSY
    "6",   // SQLITE_LOCKED
    "261", // SQLITE_BUSY_RECOVERY
    "262", // SQLITE_LOCKED_SHAREDCACHE
    "517", // SQLITE_BUSY_SNAPSHOT
    "773", // SQLITE_BUSY_TIMEOUT
];

/// SQLITE_CONSTRAINT_TRIGGER: a trigger's `RAISE(ABORT, '<constraint name>')`.
const TRIGGER_CONSTRAINT_CODE: &str = "1811";

/// The name of the UNIQUE constraint behind a SQLite "UNIQUE constraint failed: …" message.
fn unique_constraint_name(message: &str) -> String {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message)
        .trim();
    if let Some((_, name)) = UNIQUE_CONSTRAINTS.iter().find(|(c, _)| *c == columns) {
        return (*name).to_string();
    }
    // Not in the table: fall back to PostgreSQL's default name for an unnamed unique
    // constraint (`<table>_<col>_<col>_key`), which is what a missing line most likely meant.
    let mut table = "";
    let mut cols = Vec::new();
    for qualified in columns.split(", ") {
        let (t, c) = qualified.split_once('.').unwrap_or(("", qualified));
        table = t;
        cols.push(c);
    }
    let name = format!("{table}_{}_key", cols.join("_"));
    tracing::warn!(%columns, %name, "unique constraint missing from UNIQUE_CONSTRAINTS");
    name
}

/// Turns a sqlx error into the port's error: missing rows, named constraint violations,
/// unavailability (pool exhausted or closed, I/O, lock contention), or anything else.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Io(_) => StoreError::Unavailable(Box::new(e)),
        sqlx::Error::Database(ref db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                StoreError::Conflict {
                    constraint: unique_constraint_name(db.message()),
                }
            } else if code == TRIGGER_CONSTRAINT_CODE {
                StoreError::Conflict {
                    constraint: db.message().to_string(),
                }
            } else if db.is_check_violation() {
                // Named CHECK constraints are reported as "CHECK constraint failed: <name>".
                let name = db
                    .message()
                    .strip_prefix("CHECK constraint failed: ")
                    .unwrap_or(db.message());
                StoreError::Conflict {
                    constraint: name.to_string(),
                }
            } else if BUSY_CODES.contains(&code.as_str()) {
                StoreError::Unavailable(Box::new(e))
            } else {
                StoreError::Other(Box::new(e))
            }
        }
        other => StoreError::Other(Box::new(other)),
    }
}

/// The page size a request may have.
pub(crate) fn page_limit(page: &PageRequest) -> u32 {
    page.limit.clamp(1, PageRequest::MAX_LIMIT)
}

/// Builds a page from rows fetched with `LIMIT limit + 1`: the extra row only tells that there
/// is a next page, whose cursor is the key of the last item kept.
pub(crate) fn into_page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_named_by_their_columns() {
        assert_eq!(
            unique_constraint_name(
                "UNIQUE constraint failed: connectors.charger_id, connectors.number"
            ),
            "connectors_charger_number_key"
        );
        assert_eq!(
            unique_constraint_name("UNIQUE constraint failed: operators.email"),
            "operators_email_key"
        );
        assert_eq!(
            unique_constraint_name(
                "UNIQUE constraint failed: ocpp_orphan_stops.charger_id, \
                 ocpp_orphan_stops.transaction_id, ocpp_orphan_stops.stopped_at, \
                 ocpp_orphan_stops.meter_stop_wh"
            ),
            "ocpp_orphan_stops_key"
        );
    }

    #[test]
    fn unknown_unique_violations_get_the_postgres_default_name() {
        assert_eq!(
            unique_constraint_name("UNIQUE constraint failed: partners.country, partners.party"),
            "partners_country_party_key"
        );
    }

    /// A raw write the ports would have refused earlier, to see what SQLite itself reports.
    async fn raw(store: &SqliteStore, sql: &'static str) -> StoreError {
        sqlx::query(sql)
            .execute(store.pool())
            .await
            .map(|_| ())
            .map_err(db_error)
            .unwrap_err()
    }

    #[tokio::test]
    async fn the_database_itself_names_its_violations() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let station = "INSERT INTO stations (id, name, address, area_code, province, city, \
             district, lat, lng, opening_hours, service_phone, status, tariff_id) VALUES \
             ('S1', 'n', 'a', '310115', 'p', 'c', 'd', 31.2, 121.5, '{\"kind\":\"always_open\"}', \
             '400', 'operational', 'T-NONE')";
        // The trigger standing in for a foreign key to a non-unique tariff id.
        assert!(matches!(
            raw(&store, station).await,
            StoreError::Conflict { constraint } if constraint == "stations_tariff_fk"
        ));
        // Named CHECK constraints.
        let bad_status = "INSERT INTO operators (id, email, role, password_hash, created_at, \
             updated_at) VALUES ('o', 'o@x.cn', 'root', 'h', 'x', 'x')";
        assert!(matches!(
            raw(&store, bad_status).await,
            StoreError::Conflict { constraint } if constraint == "operators_role_check"
        ));
        // A real foreign key cannot be named by SQLite; the ports check references first, so
        // reaching this is a bug and is reported as such.
        let orphan = "INSERT INTO operator_tokens (token_sha256, operator_id, expires_at) \
             VALUES ('t', 'nobody', 'x')";
        assert!(matches!(raw(&store, orphan).await, StoreError::Other(_)));
    }

    #[test]
    fn pages_keep_limit_items_and_point_past_the_last() {
        let page = into_page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.as_deref(), Some("2"));
        let last = into_page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next, None);
    }
}
