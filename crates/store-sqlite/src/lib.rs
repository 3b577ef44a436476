//! The embedded SQLite store: one database file in WAL mode, implementing the core's store
//! ports with sqlx (one port method = one transaction), except the charger write path, which
//! `group_commit.rs` runs on a connection of its own. This module owns opening the pool,
//! running the embedded migrations, beginning transactions and turning sqlx errors into
//! [`StoreError`]s; one module per port holds the SQL. Nothing outside this crate sees SQL or
//! sqlx types.

mod catalog;
mod chargers;
mod checkpoint;
mod columns;
mod group_commit;
mod meter;
mod network;
mod operators;
mod ops;
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

pub use group_commit::GroupCommitStats;

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
    /// The charger-facing hot path's writes (boots, liveness, statuses, offline marks, meter
    /// values), group-committed by one thread holding `writer`: see `group_commit.rs`.
    hot: group_commit::GroupCommit,
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
        let filename = options.get_filename().to_owned();
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
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .pragma("wal_autocheckpoint", checkpoint::AUTOCHECKPOINT);
            // No ping before handing out a connection: for SQLite it is one more round trip to
            // the connection's thread per use (doubling the cost of a one-statement read), and
            // a local file connection does not go stale the way a network one does; a broken
            // one still fails the statement that uses it.
            let readers = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await;
            match readers {
                Ok(readers) => SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map(|writer| (readers, writer)),
                Err(e) => Err(e),
            }
        }
        .map_err(db_error)?;
        // Opened after the pools, so the file exists and is in WAL mode.
        let hot_db = group_commit::open_connection(&filename, in_memory)?;
        let checkpointer = if in_memory {
            None
        } else {
            Some(checkpoint::start(group_commit::open_connection(
                &filename, false,
            )?)?)
        };
        let hot = group_commit::GroupCommit::start(writer.clone(), hot_db, checkpointer)?;
        let store = SqliteStore { pool, writer, hot };
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

    /// What the hot path's group commit has done so far (commits, items, statements), for
    /// tests and benchmarks.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.hot.stats()
    }

    /// The hot path's writer, for this crate's port modules.
    pub(crate) fn hot(&self) -> &group_commit::GroupCommit {
        &self.hot
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
    // 0003_partners.sql
    ("partners.id", "partners_pkey"),
    ("partner_accounts.partner_id", "partner_accounts_pkey"),
    ("partner_accounts.email", "partner_accounts_email_key"),
    ("partner_applications.id", "partner_applications_pkey"),
    (
        "partner_applications.partner_id",
        "partner_applications_partner_key",
    ),
    ("partner_applications.uscc", "partner_applications_uscc_key"),
    (
        "partner_application_revisions.application_id, partner_application_revisions.number",
        "partner_application_revisions_pkey",
    ),
    (
        "partner_application_decisions.id",
        "partner_application_decisions_pkey",
    ),
    ("partner_credentials.client_id", "partner_credentials_pkey"),
    ("partner_secrets.id", "partner_secrets_pkey"),
    ("partner_tokens.token_sha256", "partner_tokens_pkey"),
    ("partner_notifications.id", "partner_notifications_pkey"),
    ("catalog_revision.id", "catalog_revision_pkey"),
    (
        "catalog_changes.kind, catalog_changes.key",
        "catalog_changes_pkey",
    ),
    // 0004_events.sql
    ("events.id", "events_pkey"),
    (
        "event_feed_heads.partner_id, event_feed_heads.environment",
        "event_feed_heads_pkey",
    ),
    (
        "event_feed.partner_id, event_feed.environment, event_feed.seq",
        "event_feed_pkey",
    ),
    (
        "webhooks.partner_id, webhooks.environment",
        "webhooks_partner_environment_key",
    ),
    (
        "webhook_attempts.delivery_id, webhook_attempts.number",
        "webhook_attempts_pkey",
    ),
    // 0005_sessions.sql (sessions rebuilt by 0007_session_idle.sql with the same names)
    ("sessions.id", "sessions_pkey"),
    (
        "sessions.partner_id, sessions.partner_order_id",
        "sessions_partner_order_key",
    ),
    ("sessions.connector_id", "sessions_connector_active_key"),
    ("sessions.transaction_id", "sessions_transaction_key"),
    ("reservations.id", "reservations_id_key"),
    (
        "reservations.partner_id, reservations.partner_order_id",
        "reservations_partner_order_key",
    ),
    (
        "reservations.connector_id",
        "reservations_connector_active_key",
    ),
    // 0006_settlement.sql
    ("cdrs.seq", "cdrs_pkey"),
    ("cdrs.id", "cdrs_id_key"),
    ("cdrs.session_id", "cdrs_session_key"),
    (
        "settlement_terms.partner_id, settlement_terms.effective_from",
        "settlement_terms_pkey",
    ),
    ("statements.seq", "statements_pkey"),
    ("statements.id", "statements_id_key"),
    (
        "statements.partner_id, statements.period_start",
        "statements_partner_period_key",
    ),
    ("statement_cdrs.cdr_seq", "statement_cdrs_pkey"),
    ("settlement_reports.id", "settlement_reports_pkey"),
    (
        "reconciliation_items.report_id, reconciliation_items.seq",
        "reconciliation_items_pkey",
    ),
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

    /// Every named PRIMARY KEY / UNIQUE constraint and unique index of the migrations from
    /// 0003 on, as `(SQLite's column list, name)`: read from the SQL itself, so a constraint
    /// added without its `UNIQUE_CONSTRAINTS` line fails here.
    fn declared_unique_constraints() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap() >= "0003")
            .collect();
        files.sort();
        let columns = |table: &str, list: &str| {
            list.split(',')
                .map(|c| format!("{table}.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = Vec::new();
        for file in files {
            let sql: String = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ");
            let words: Vec<&str> = sql.split_whitespace().collect();
            // CREATE UNIQUE INDEX <name> ON <table> (<cols>) [WHERE ...]
            for (i, w) in words.windows(6).enumerate() {
                if w[..3] == ["CREATE", "UNIQUE", "INDEX"] && w[4] == "ON" {
                    let tail = words[i + 5..].join(" ");
                    let open = tail.find('(').unwrap();
                    let table = tail[..open].trim();
                    let cols = &tail[open + 1..tail.find(')').unwrap()];
                    out.push((columns(table, cols), w[3].to_string()));
                }
            }
            // CREATE TABLE <name> ( items at depth 1 )
            let mut rest = sql.as_str();
            while let Some(at) = rest.find("CREATE TABLE ") {
                rest = &rest[at + "CREATE TABLE ".len()..];
                let name = rest.split_whitespace().next().unwrap();
                // SQLite's table rebuild: `<t>_new` is renamed to `<t>` at once.
                let table = name.strip_suffix("_new").unwrap_or(name);
                let (mut depth, mut item, mut items) = (0, String::new(), Vec::new());
                for c in rest[rest.find('(').unwrap()..].chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if c == ',' && depth == 1 {
                        items.push(std::mem::take(&mut item));
                    } else if !(c == '(' && depth == 1) {
                        item.push(c);
                    }
                }
                items.push(item);
                for item in items {
                    let w: Vec<&str> = item.split_whitespace().collect();
                    for (i, win) in w.windows(3).enumerate() {
                        if win[0] != "CONSTRAINT" || !(win[2] == "UNIQUE" || win[2] == "PRIMARY") {
                            continue;
                        }
                        let cols = match item.find('(') {
                            // A table constraint: CONSTRAINT n UNIQUE|PRIMARY KEY (cols).
                            Some(open) if i == 0 => {
                                item[open + 1..item.find(')').unwrap()].to_string()
                            }
                            // A column constraint: <col> <type> ... CONSTRAINT n UNIQUE.
                            _ => w[0].to_string(),
                        };
                        out.push((columns(table, &cols), win[1].to_string()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_unique_constraint_from_0003_on_maps_to_its_name() {
        let declared = declared_unique_constraints();
        // The parser sees what is there (a guard against it silently finding nothing).
        assert!(declared.len() >= 36, "{declared:#?}");
        assert!(declared.contains(&(
            "partner_applications.uscc".to_string(),
            "partner_applications_uscc_key".to_string()
        )));
        for (columns, name) in &declared {
            assert_eq!(
                &unique_constraint_name(&format!("UNIQUE constraint failed: {columns}")),
                name,
                "add ({columns:?}, {name:?}) to UNIQUE_CONSTRAINTS"
            );
        }
    }

    #[tokio::test]
    async fn partner_violations_are_named_by_the_database() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let partner = "INSERT INTO partners (id, name, application_id, email, status) VALUES \
             ('p1', 'n', 'a1', 'a@x.cn', 'applicant')";
        let other = "INSERT INTO partners (id, name, application_id, email, status) VALUES \
             ('p2', 'n', 'a2', 'b@x.cn', 'applicant')";
        let account = "INSERT INTO partner_accounts (partner_id, email, password_hash) VALUES \
             ('p1', 'a@x.cn', 'h')";
        for sql in [partner, other, account] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
        let cases = [
            (partner, "partners_pkey"),
            (
                "INSERT INTO partner_accounts (partner_id, email, password_hash) VALUES \
                 ('p1', 'c@x.cn', 'h')",
                "partner_accounts_pkey",
            ),
            (
                "INSERT INTO partner_accounts (partner_id, email, password_hash) VALUES \
                 ('p2', 'a@x.cn', 'h')",
                "partner_accounts_email_key",
            ),
        ];
        for (sql, name) in cases {
            match raw(&store, sql).await {
                StoreError::Conflict { constraint } => assert_eq!(constraint, name),
                other => panic!("{sql}: {other:?}"),
            }
        }
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
