//! Storage behind the one interface the core asks for. All SQL lives in this folder.
//!
//! [`Store`] is the handle the core holds, over one backend: SQLite (embedded default,
//! `sqlite/`) or PostgreSQL (`postgres/`). Each query is written once (`sql.rs`): one
//! statement in PostgreSQL's form, rewritten once for SQLite; one decoder per row type; one
//! method body per method, in a file per area (`orgs.rs`, `provider_keys.rs`, `usage.rs`, …),
//! run on the backend by `read!` or `write!`. The backends keep only what the engines do
//! differently: connecting and migrating, locking and notifying (`sql::Conn`), the change
//! watch, backups. The backends are an enum, not a trait object: the set is closed and every
//! method stays a plain `async fn` (no boxed futures on the hot path).
//!
//! The handle owns the request-path read cache and its invalidation (`cache.rs`): `write!`
//! declares once what a write makes stale (`stale.rs`), tells the other replicas on commit
//! and bumps the generations; writes by other processes or replicas are noticed by the
//! backend's change watch (`watch_changes`).

mod cache;
#[cfg(test)]
mod contract;
mod error;
mod postgres;
mod rows;
mod sql;
mod sqlite;
mod stale;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;

use converra::Project;

pub use error::StoreError;
pub(crate) use rows::totals;
pub use rows::{
    AllowanceReservation, ApiKeyRow, AuthRow, CustomLimits, DataKeyRow, HealthChange, HealthRow, HealthTally,
    MemberChange, MemberRow, NewAuditEvent, NewProviderKey, OrgRow, OutboxEvent, ProviderKeyRow, Reencrypted,
    SecretUpdate, TestRecord, UsageBatch, UsageBucket, UsageCounts, UsageGroupBy, UsageRow, VaultCounts, VaultDump,
};
pub(crate) use stale::Stale;
use watch::Watch;

pub type StoreResult<T> = Result<T, StoreError>;

/// The backend behind the handle.
#[allow(clippy::large_enum_variant, reason = "one per process, behind an Arc")]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Runs `$body`, a future over `$c: &impl sql::Conn`, on a connection of this store's backend.
/// On SQLite it runs on the blocking pool, so what it captures must be owned.
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {
        match &*$self.backend {
            $crate::Backend::Sqlite(b) => {
                b.run(move |conn| {
                    let $c = &$crate::sqlite::Conn(conn);
                    $crate::sql::ready($body)
                })
                .await
            }
            $crate::Backend::Postgres(b) => {
                let client = b.client().await?;
                let $c = &$crate::postgres::Conn(&client);
                $body.await
            }
        }
    };
}

/// Runs `$body`, a future over `$c: &impl sql::Conn`, in a transaction of this store's
/// backend. If its outcome applied, the audit events `$audit` are written in the same
/// transaction, the other replicas are told on commit what it made stale (`$stale`), and it
/// commits; a change that did not apply is rolled back. Then, committed or not, this
/// process's cached reads of `$stale` are stale. Captures must be owned, as for `read!`.
///
/// `write!(ephemeral …)` is for rows a crash may lose because the crash ends what they stand
/// for (the reservations of calls in flight): its commit does not wait for the disk (SQLite's
/// `synchronous=OFF` for that transaction; on PostgreSQL the body's `Conn::lock_ephemeral`).
macro_rules! write {
    (ephemeral $self:ident, $stale:expr, $audit:expr, |$c:ident| $body:expr) => {
        write!(@ false, $self, $stale, $audit, |$c| $body)
    };
    ($self:ident, $stale:expr, $audit:expr, |$c:ident| $body:expr) => {
        write!(@ true, $self, $stale, $audit, |$c| $body)
    };
    (@ $durable:expr, $self:ident, $stale:expr, $audit:expr, |$c:ident| $body:expr) => {{
        let (stale, audit): ($crate::Stale, _) = ($stale, $audit);
        let result = async {
            match &*$self.backend {
                $crate::Backend::Sqlite(b) => {
                    b.write($durable, move |tx| {
                        let $c = &$crate::sqlite::Conn(tx);
                        $crate::sql::ready(async {
                            let out: $crate::StoreResult<_> = $body.await;
                            let out = out?;
                            $crate::audit::finish($c, out, audit, stale).await
                        })
                    })
                    .await
                }
                $crate::Backend::Postgres(b) => {
                    let mut client = b.client().await?;
                    let tx = client.transaction().await?;
                    let out = {
                        let $c = &$crate::postgres::Conn(&tx);
                        let out: $crate::StoreResult<_> = $body.await;
                        let out = out?;
                        $crate::audit::finish($c, out, audit, stale).await?
                    };
                    if $crate::rows::Applied::applied(&out) {
                        tx.commit().await?;
                    }
                    Ok(out)
                }
            }
        }
        .await;
        $self.changed(stale);
        result
    }};
}

mod api_keys;
mod audit;
mod budgets;
mod dump;
mod health;
mod key_lists;
mod orgs;
mod projects;
mod provider_keys;
mod relayed;
mod sessions;
mod usage;
mod vault;
pub use budgets::{Alert, BudgetRow, Spend, SpendHeld, SpendReservation, threshold_of};
pub use relayed::RelayedObject;
pub use sessions::{WebSessionRow, WebTokenKind, WebTokenRow};
pub use usage::SeenModel;

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// Bumped after every committed change that a cached query could read (see `cache.rs`).
    generations: Arc<[AtomicU64; Stale::KINDS]>,
    caches: Arc<Caches>,
    watch: Arc<Watch>,
}

/// A provider-key slot: organization, project, environment, provider.
type SlotKey = (String, Option<String>, &'static str, &'static str);

/// The cached queries of the request path.
struct Caches {
    auth: cache::Cached<String, Option<AuthRow>>,
    /// Lookup ids that match no key, in a map of their own (see `cache.rs`).
    auth_misses: cache::Cached<String, ()>,
    active_keys: cache::Cached<SlotKey, Option<Arc<ProviderKeyRow>>>,
    projects: cache::Cached<(String, String), Option<Project>>,
    /// Every provider key of an organization, in listing order (filtered in memory).
    key_lists: cache::Cached<String, Arc<[Arc<ProviderKeyRow>]>>,
    /// An organization's budgets (empty for most: then a completion checks none).
    budgets: cache::Cached<String, Arc<[BudgetRow]>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            auth: cache::Cached::default(),
            auth_misses: cache::Cached::with_capacity(cache::MAX_MISSES),
            active_keys: cache::Cached::default(),
            projects: cache::Cached::default(),
            key_lists: cache::Cached::default(),
            budgets: cache::Cached::default(),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let backend =
            tokio::task::spawn_blocking(move || sqlite::Sqlite::open(&path)).await.map_err(|_| StoreError::Join)??;
        Ok(Self::with(Backend::Sqlite(backend)))
    }

    /// Connects to PostgreSQL at `url` and applies pending migrations (under an advisory lock).
    pub async fn open_postgres(url: &SecretString) -> StoreResult<Self> {
        Ok(Self::with(Backend::Postgres(postgres::Postgres::connect(url).await?)))
    }

    /// Which backend this is, for logs and messages.
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }

    /// A second, independent handle on the same database (as another replica would have).
    #[cfg(test)]
    pub(crate) async fn reopen(&self) -> Self {
        let backend = match &*self.backend {
            Backend::Sqlite(b) => Backend::Sqlite(sqlite::Sqlite::open(b.path()).expect("reopen SQLite")),
            Backend::Postgres(b) => Backend::Postgres(b.reopen().await.expect("reopen PostgreSQL")),
        };
        Self::with(backend)
    }

    fn with(backend: Backend) -> Self {
        Self { backend: Arc::new(backend), generations: Arc::default(), caches: Arc::default(), watch: Arc::default() }
    }

    /// The current generation of what `kind` caches: read it *before* a cached query. `None`
    /// while the caches are not trusted (see `watch.rs`): the read goes to the database and is
    /// not cached.
    fn generation(&self, kind: Stale) -> Option<u64> {
        self.watch.trusted().then(|| self.generations[kind.index()].load(Ordering::SeqCst))
    }

    /// Called after a committed write: every entry of the kinds it made stale is stale.
    fn changed(&self, stale: Stale) {
        for kind in stale.kinds() {
            self.generations[kind.index()].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Notices commits by other processes (the operator's CLI, other replicas) and invalidates
    /// the caches; from now on, cached reads are served only while the watch keeps confirming
    /// them. Runs until the runtime stops.
    pub fn watch_changes(&self) {
        self.watch.started.store(true, Ordering::SeqCst);
        let store = self.clone();
        tokio::spawn(async move {
            let (changed, confirmed) = (|stale| store.changed(stale), || store.watch.confirm());
            match &*store.backend {
                Backend::Sqlite(b) => b.watch_changes(changed, confirmed).await,
                Backend::Postgres(b) => b.watch_changes(changed, confirmed).await,
            }
        });
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        use sql::Conn as _;
        static PING: sql::Sql = sql::Sql::new("SELECT 1");
        read!(self, |c| async move {
            c.query_one::<()>(&PING, &[]).await?;
            Ok(())
        })
    }

    // --- operations --------------------------------------------------------------------------

    /// Writes a consistent copy of the database into the new file `dest` while it serves.
    pub async fn backup_into(&self, dest: &Path) -> StoreResult<()> {
        match &*self.backend {
            Backend::Sqlite(b) => b.backup_into(dest).await,
            Backend::Postgres(_) => Err(StoreError::Unsupported(
                "admin backup copies a SQLite file; back up PostgreSQL with pg_dump (see docs/scale-out.md)",
            )),
        }
    }
}

/// Opens a SQLite backup read-only, runs the integrity check and counts what it holds.
pub async fn check_backup(path: &Path) -> StoreResult<VaultCounts> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || sqlite::check_backup(&path)).await.map_err(|_| StoreError::Join)?
}

/// Reads a text column into a type that parses from the wire form (roles, plans, ...).
pub(crate) fn parse_col<T: std::str::FromStr>(table: &'static str, value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| StoreError::Corrupt { table, what: format!("unexpected value `{value}`") })
}
