//! The embedded SQLite backend: one file, zero setup.
//!
//! One connection in WAL mode with `synchronous=FULL`, so a write acknowledged to a client
//! survives a `kill -9` or a power cut. Every call runs on tokio's blocking pool so an `fsync`
//! never stalls the async workers. The database and its `-wal`/`-shm` files are private (0600):
//! they hold member emails, the audit log and ciphertexts.

mod backup;
mod migrations;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub(super) use backup::check_backup;

use super::rows::Applied;
use super::sql::{self, FromRow, Sql, Value};
use super::{Stale, StoreError, StoreResult};

pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub(super) struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by Store::reopen in the contract suite"))]
    path: std::path::PathBuf,
}

impl Sqlite {
    /// Opens (creating if needed, private) the database at `path` and applies pending migrations.
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        private_files(path);
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrations::migrate(&mut conn)?;
        // Every statement is prepared once per connection and kept (`sql::Conn`).
        conn.set_prepared_statement_cache_capacity(256);
        // The WAL and shared-memory files exist now; SQLite gives them the database's mode,
        // but an older database may have been created before this rule.
        private_files(path);
        Ok(Self { conn: Arc::new(Mutex::new(conn)), path: path.to_owned() })
    }

    #[cfg(test)]
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Join)?
    }

    /// Runs `f` in an immediate transaction (taking the write lock at once, so two writers
    /// never deadlock upgrading a read) and commits if its outcome applied; a change that did
    /// not apply is rolled back. Not `durable`: the commit does not wait for the disk (the
    /// next durable commit's `fsync` covers it, since the WAL is written in order).
    pub(super) async fn write<T, F>(&self, durable: bool, f: F) -> StoreResult<T>
    where
        T: Applied + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.run(move |c| {
            if !durable {
                // The safety level cannot change inside a transaction.
                c.pragma_update(None, "synchronous", "OFF")?;
            }
            let outcome = (|| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                if out.applied() {
                    tx.commit()?;
                }
                Ok(out)
            })();
            if !durable {
                c.pragma_update(None, "synchronous", "FULL")?;
            }
            outcome
        })
        .await
    }

    /// Checkpoints the WAL into the database and truncates it, so that pages as they were
    /// before a scrubbing write (`secure_delete` zeroed the database's copy) leave it too. The
    /// checkpoint waits (the busy timeout) for readers of older pages; when it still cannot
    /// finish, the WAL keeps them, and that is an error (running it again completes it).
    pub(super) async fn scrub_wal(&self) -> StoreResult<()> {
        self.run(|c| {
            let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some(
                        "the old wrappings are deleted, but the write-ahead log that still holds them could not be \
                         checkpointed: another connection kept reading; run it again"
                            .into(),
                    ),
                )
                .into());
            }
            Ok(())
        })
        .await
    }

    /// Calls `changed` whenever another process commits (`PRAGMA data_version` moves). Polls,
    /// since SQLite has no notifications across processes.
    pub(super) async fn watch_changes(&self, changed: impl Fn(Stale), confirmed: impl Fn()) {
        let mut last: Option<i64> = None;
        loop {
            let version = self.run(|c| Ok(c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))?)).await;
            if let Ok(v) = version {
                if last.is_some_and(|l| l != v) {
                    // Another process wrote: which tables, SQLite does not say.
                    changed(Stale::ALL);
                }
                last = Some(v);
                confirmed();
            }
            tokio::time::sleep(crate::watch::CONFIRM_EVERY).await;
        }
    }
}

/// SQLite's side of [`sql::Conn`]: a connection or transaction. Nothing here waits.
pub(super) struct Conn<'a>(pub(super) &'a Connection);

impl sql::Conn for Conn<'_> {
    async fn execute(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<u64> {
        let mut stmt = self.0.prepare_cached(sql.sqlite())?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter().map(|p| p.sqlite())))? as u64)
    }

    async fn query<T: FromRow>(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<Vec<T>> {
        let mut stmt = self.0.prepare_cached(sql.sqlite())?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(|p| p.sqlite())))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(T::from_row(r)?);
        }
        Ok(out)
    }

    async fn lock(&self, _name: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn lock_ephemeral(&self, _name: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn notify(&self, _stale: Stale) -> StoreResult<()> {
        Ok(())
    }
}

/// Creates the database file 0600 if it does not exist, and takes group and other access away
/// from it and its `-wal`/`-shm` files if they have it.
fn private_files(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            let _ = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}
