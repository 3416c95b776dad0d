//! SQLite storage behind the narrow interface the core asks for. All SQL lives in this folder.
//!
//! One connection is opened in WAL mode with `synchronous=FULL`, so a write acknowledged to a
//! client survives a `kill -9` or a power cut. Every call runs on tokio's blocking pool so an
//! `fsync` never stalls the async workers.

mod api_keys;
mod audit;
mod migrations;
mod orgs;
mod projects;
mod provider_keys;
mod usage;

pub use orgs::MemberChange;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use api_keys::ApiKeyRow;
pub use audit::NewAuditEvent;
pub use orgs::{MemberRow, OrgRow};
pub use provider_keys::{DataKeyRow, NewProviderKey, ProviderKeyRow, TestRecord};
pub use usage::UsageEventRow;

/// A storage failure. Its text names tables and constraints, never values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task panicked or was cancelled.
    #[error("database task failed")]
    Join,
    /// A stored value could not be read back (e.g. an unknown enum string).
    #[error("corrupt row in {table}: {what}")]
    Corrupt { table: &'static str, what: String },
}

impl StoreError {
    /// Whether a UNIQUE constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrate(&mut conn)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> StoreResult<T>
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

    /// Runs `f` with the connection on the current thread (for the CLI's one-shot commands
    /// and start-up, before the runtime serves traffic).
    pub fn run_sync<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (index, sql) in migrations::MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Reads a text column into a type that parses from the wire form (roles, plans, ...).
pub(crate) fn parse_col<T: std::str::FromStr>(table: &'static str, value: String) -> StoreResult<T> {
    value.parse().map_err(|_| StoreError::Corrupt { table, what: format!("unexpected value `{value}`") })
}
