//! The PostgreSQL backend, for teams that run several replicas on one database.
//!
//! tokio-postgres with a deadpool pool: a small, well-kept async client that compiles quickly,
//! has no link-time conflict with the bundled SQLite (sqlx's optional SQLite driver declares
//! the same native library as rusqlite), and gives direct access to `LISTEN/NOTIFY`, which the
//! change watch uses. Every write a cached query reads notifies `converra_changes` inside its
//! transaction, so every replica (and the CLI's writes) invalidates its caches on commit.
//!
//! The schema mirrors SQLite's: timestamps are RFC 3339 text (they sort as they read), secrets
//! exist only as ciphertext (`bytea`).

mod migrations;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Timeouts};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls};

use super::sql::{self, FromRow, Sql, Value};
use super::{Stale, StoreError, StoreResult};

/// The channel every cache-relevant commit notifies.
const CHANNEL: &str = "converra_changes";

/// How long a request waits for a connection, or for PostgreSQL to accept one, before the
/// store answers "unavailable" instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub(super) struct Postgres {
    pool: Pool,
    config: tokio_postgres::Config,
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => StoreError::Postgres(e),
            _ => StoreError::Unavailable,
        }
    }
}

impl Postgres {
    /// Connects (checking the URL and that the server answers) and applies pending migrations
    /// under an advisory lock, so replicas starting together migrate once.
    pub(super) async fn connect(url: &SecretString) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config =
            url.expose_secret().parse().map_err(|_| StoreError::BadUrl("CONVERRA_DATABASE_URL"))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("converra");
        }
        let store = Self::with_config(config)?;
        let mut client = store.pool.get().await?;
        migrations::migrate(&mut client).await?;
        Ok(store)
    }

    /// Another pool on the same database (as another replica would have).
    #[cfg(test)]
    pub(super) async fn reopen(&self) -> StoreResult<Self> {
        Self::with_config(self.config.clone())
    }

    fn with_config(config: tokio_postgres::Config) -> StoreResult<Self> {
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(CONNECT_TIMEOUT),
                create: Some(CONNECT_TIMEOUT),
                recycle: Some(CONNECT_TIMEOUT),
            })
            .build()
            .map_err(|_| StoreError::Unavailable)?;
        Ok(Self { pool, config })
    }

    pub(super) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Rewrites the data-key table so that the dead row versions holding old wrappings leave
    /// its files (PostgreSQL's WAL and any archive still hold them: docs/security.md).
    pub(super) async fn vacuum_data_keys(&self) -> StoreResult<()> {
        self.client().await?.batch_execute("VACUUM FULL data_keys").await?;
        Ok(())
    }

    /// Listens on the change channel and calls `changed` for every notification, and after
    /// every reconnect (notifications sent while disconnected are lost, so everything is
    /// stale). Runs until the runtime stops.
    pub(super) async fn watch_changes(&self, changed: impl Fn(Stale), confirmed: impl Fn()) {
        loop {
            match self.config.connect(NoTls).await {
                Ok((client, mut connection)) => {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let driver = tokio::spawn(async move {
                        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                        while let Some(Ok(message)) = messages.next().await {
                            if let AsyncMessage::Notification(note) = message
                                && tx.send(Stale::from_payload(note.payload())).is_err()
                            {
                                break;
                            }
                        }
                    });
                    if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                        changed(Stale::ALL);
                        confirmed();
                        let mut tick = tokio::time::interval(super::watch::CONFIRM_EVERY);
                        loop {
                            tokio::select! {
                                note = rx.recv() => match note {
                                    Some(stale) => changed(stale),
                                    None => break,
                                },
                                _ = tick.tick() => {
                                    // A round trip on the listening connection proves that every
                                    // notification sent before it has arrived.
                                    match tokio::time::timeout(super::watch::CONFIRM_EVERY, client.simple_query("SELECT 1")).await {
                                        Ok(Ok(_)) => {
                                            while let Ok(stale) = rx.try_recv() {
                                                changed(stale);
                                            }
                                            confirmed();
                                        }
                                        _ => break,
                                    }
                                }
                            }
                        }
                    }
                    driver.abort();
                    tracing::warn!("lost the PostgreSQL change notifications; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for PostgreSQL change notifications; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// PostgreSQL's side of [`sql::Conn`]: a pooled client or a transaction. Statements are
/// prepared once per connection (deadpool's statement cache).
pub(super) struct Conn<'a, C>(pub(super) &'a C);

impl<C: deadpool_postgres::GenericClient + Sync> sql::Conn for Conn<'_, C> {
    async fn execute(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<u64> {
        let stmt = self.0.prepare_cached(sql.postgres()).await?;
        let params: Vec<_> = params.iter().map(|p| p.postgres()).collect();
        Ok(self.0.execute(&stmt, &params).await?)
    }

    async fn query<T: FromRow>(&self, sql: &Sql, params: &[&dyn Value]) -> StoreResult<Vec<T>> {
        let stmt = self.0.prepare_cached(sql.postgres()).await?;
        let params: Vec<_> = params.iter().map(|p| p.postgres()).collect();
        self.0.query(&stmt, &params).await?.iter().map(T::from_row).collect()
    }

    async fn lock(&self, name: &str) -> StoreResult<()> {
        static LOCK: Sql = Sql::new("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
        self.execute(&LOCK, &[&name]).await?;
        Ok(())
    }

    async fn lock_ephemeral(&self, name: &str) -> StoreResult<()> {
        // `set_config(…, true)` is `SET LOCAL`: in the same statement, no round trip more.
        static LOCK: Sql = Sql::new(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), set_config('synchronous_commit', 'off', true)",
        );
        self.execute(&LOCK, &[&name]).await?;
        Ok(())
    }

    async fn notify(&self, stale: Stale) -> StoreResult<()> {
        static NOTIFY: Sql = Sql::new("SELECT pg_notify($1, $2)");
        if stale != Stale::NONE {
            self.execute(&NOTIFY, &[&CHANNEL, &stale.payload()]).await?;
        }
        Ok(())
    }
}
