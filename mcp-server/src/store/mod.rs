//! SQLite storage behind the narrow interface the core asks for. All SQL lives in this folder.
//!
//! One connection is opened in WAL mode with `synchronous=FULL`, so a write acknowledged to a
//! client survives a `kill -9` or a power cut. Every call runs on tokio's blocking pool so an
//! `fsync` never stalls the async workers.

mod api_keys;
mod audit;
mod backup;
mod cache;
mod migrations;
mod orgs;
mod projects;
mod provider_keys;
mod usage;

pub use orgs::MemberChange;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub use api_keys::{ApiKeyRow, AuthRow};
pub use audit::NewAuditEvent;
pub use backup::{BackupSummary, check_backup};
pub use orgs::{MemberRow, OrgRow};
pub use provider_keys::{DataKeyRow, NewProviderKey, ProviderKeyRow, TestRecord};
pub use usage::{UsageBatch, UsageBucket, UsageCounts};

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
    /// SQLite's integrity check found a problem (in a backup just written).
    #[error("integrity check failed: {0}")]
    Integrity(String),
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
    /// Bumped by every committed change (see `cache.rs`).
    generation: Arc<AtomicU64>,
    caches: Arc<Caches>,
}

/// A provider-key slot: organization, project, environment, provider.
pub(crate) type SlotKey = (String, Option<String>, &'static str, &'static str);

/// The cached queries of the request path.
#[derive(Default)]
pub(crate) struct Caches {
    pub auth: cache::Cached<String, Option<AuthRow>>,
    pub active_keys: cache::Cached<SlotKey, Option<Arc<ProviderKeyRow>>>,
    pub projects: cache::Cached<(String, String), Option<converra::Project>>,
}

/// Runs `f` on the connection; a change it makes bumps the generation (when `versioned`).
fn with_conn<T>(
    conn: &Mutex<Connection>,
    generation: &AtomicU64,
    versioned: bool,
    f: impl FnOnce(&mut Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = guard.total_changes();
    let result = f(&mut guard);
    if versioned && guard.total_changes() != before {
        generation.fetch_add(1, Ordering::SeqCst);
    }
    result
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
        Ok(Self { conn: Arc::new(Mutex::new(conn)), generation: Arc::new(AtomicU64::new(0)), caches: Arc::default() })
    }

    /// The current generation: read it *before* a cached query.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn caches(&self) -> &Caches {
        &self.caches
    }

    async fn run_inner<T, F>(&self, versioned: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (conn, generation) = (self.conn.clone(), self.generation.clone());
        tokio::task::spawn_blocking(move || with_conn(&conn, &generation, versioned, f))
            .await
            .map_err(|_| StoreError::Join)?
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.run_inner(true, f).await
    }

    /// Like `run`, for bookkeeping writes that no cached query reads (usage, last use), so
    /// they do not invalidate the caches.
    pub(crate) async fn run_unversioned<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.run_inner(false, f).await
    }

    /// Runs `f` with the connection on the current thread (for the CLI's one-shot commands
    /// and start-up, before the runtime serves traffic).
    pub fn run_sync<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        with_conn(&self.conn, &self.generation, true, f)
    }

    /// Notices commits by other processes (the operator's CLI) and invalidates the caches.
    /// Runs until the runtime stops.
    pub fn watch_external_writes(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut last: Option<i64> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let version = store
                    .run_unversioned(|c| Ok(c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))?))
                    .await;
                if let Ok(v) = version {
                    if last.is_some_and(|l| l != v) {
                        store.generation.fetch_add(1, Ordering::SeqCst);
                    }
                    last = Some(v);
                }
            }
        });
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
