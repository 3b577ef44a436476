//! WAL checkpoints, off the write path. SQLite's default is for the connection whose commit
//! takes the WAL past 1,000 pages to copy the WAL back into the database file there and then
//! (with two fsyncs): that commit's callers wait for it, and on the hot path, where every
//! batch rewrites the same pages (chargers, connectors, open transactions), a page changed in
//! fifty batches was copied up to fifty times. Every connection of the store runs with
//! automatic checkpoints off, and this thread checkpoints the whole WAL every
//! [`CHECKPOINT_EVERY`] instead: each page changed in that time is copied once, and no write
//! waits for it.
//!
//! A `PASSIVE` checkpoint never blocks readers or writers, and pages written while it runs
//! are left for later. The WAL starts over from its beginning (so the file stays the size of
//! about one interval's writes) only at a write that finds every page copied, which a
//! checkpoint racing a steady writer may never achieve: so after each bulk pass, the hot
//! path's writer copies the few pages written since, right after its next commit
//! ([`Checkpointer::finish`]), while no other write can run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use openpile_core::error::StoreError;
use rusqlite::Connection;

/// How often the WAL is copied back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The running checkpointer; dropping it ends the thread after its current pass.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
    /// A bulk pass ended since the last [`Checkpointer::finish`].
    bulk_done: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Copies, on the writer's connection `db` right after its commit, what was written since
    /// the last bulk pass (little, as that pass copied the rest), so that the next write
    /// starts the WAL over.
    pub(crate) fn finish(&self, db: &Connection) {
        if self.bulk_done.swap(false, Ordering::AcqRel)
            && let Err(e) = checkpoint(db)
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; trying again later");
        }
    }
}

/// The `PRAGMA wal_autocheckpoint` of every connection: off, as this module does it.
pub(crate) const AUTOCHECKPOINT: &str = "0";

/// Starts checkpointing, on `db`, the database file it is open on (in WAL mode).
pub(crate) fn start(db: Connection) -> Result<Checkpointer, StoreError> {
    let (stop, stopped) = mpsc::channel();
    let bulk_done = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&bulk_done);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&db, &stopped, &done))
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(Checkpointer {
        _stop: stop,
        bulk_done,
    })
}

fn run(db: &Connection, stopped: &mpsc::Receiver<()>, bulk_done: &AtomicBool) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        match checkpoint(db) {
            Ok(_) => bulk_done.store(true, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; trying again later"),
        }
    }
}

/// One passive checkpoint: the WAL pages it could not copy (yet).
fn checkpoint(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        let (log, copied): (i64, i64) = (row.get(1)?, row.get(2)?);
        Ok((log - copied).max(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_copied_back_and_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
            )
            .unwrap();
        let checkpointer = start(Connection::open(&path).unwrap()).unwrap();
        let wal = dir.path().join("c.db-wal");
        let wal_size = || std::fs::metadata(&wal).unwrap().len();
        // A steady writer (a commit every millisecond or so) for six intervals: without
        // checkpoints the WAL would triple between the end of the second and of the sixth.
        let started = std::time::Instant::now();
        let mut after_two = None;
        let mut i = 0;
        while started.elapsed() < CHECKPOINT_EVERY * 6 {
            writer
                .execute("INSERT INTO t (v) VALUES (?1)", [format!("{i:0>2000}")])
                .unwrap();
            writer
                .execute("DELETE FROM t WHERE id < ?1", [i - 100])
                .unwrap();
            checkpointer.finish(&writer);
            std::thread::sleep(Duration::from_millis(1));
            i += 1;
            if after_two.is_none() && started.elapsed() >= CHECKPOINT_EVERY * 2 {
                after_two = Some(wal_size());
            }
        }
        let (after_two, after_six) = (after_two.unwrap(), wal_size());
        assert!(
            after_six < after_two * 3 / 2,
            "the WAL kept growing: {after_two} bytes after two intervals, {after_six} after six"
        );
    }
}
