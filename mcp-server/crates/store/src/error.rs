//! The store's one error type. Its text names tables and constraints, never values.

use super::{postgres, sqlite};

/// A storage failure. Its text names tables and constraints, never values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed.
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached (down, or no connection free in time).
    #[error("the database is unavailable")]
    Unavailable,
    /// A database URL that does not parse (its text is never shown: it can hold a password).
    #[error("{0} is not a valid postgres:// URL")]
    BadUrl(&'static str),
    /// The blocking task panicked or was cancelled.
    #[error("database task failed")]
    Join,
    /// A stored value could not be read back (e.g. an unknown enum string).
    #[error("corrupt row in {table}: {what}")]
    Corrupt { table: &'static str, what: String },
    /// SQLite's integrity check found a problem (in a backup just written).
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// The database was migrated by a newer Converra than this binary.
    #[error(
        "the database schema is version {found}, newer than this binary knows ({known}): run the newer converra, or restore a backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// The operation exists for one backend only (e.g. a file backup of SQLite).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// A store failure as the domain sees it: `UNAVAILABLE` while the engine is down (the request
/// may succeed later), else an internal error whose text names no value.
impl From<StoreError> for converra_base::Error {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "the database is unavailable");
            return converra_base::Error::Unavailable;
        }
        converra_base::Error::Internal(converra_base::InternalError::Store(Box::new(e)))
    }
}

impl StoreError {
    /// Whether a UNIQUE constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => sqlite::is_unique_violation(e),
            StoreError::Postgres(e) => postgres::is_unique_violation(e),
            _ => false,
        }
    }

    /// Whether the database could not be reached or is not serving right now (the request may
    /// succeed later): every answer while an engine is down is `UNAVAILABLE`, never `INTERNAL`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Postgres(e) => postgres_unreachable(e),
            StoreError::Sqlite(e) => sqlite_busy(e),
            _ => false,
        }
    }
}

/// PostgreSQL could not be reached or is not serving: the connection closed or failed below
/// SQL (I/O, connect, timeout: no SQLSTATE), or the server said so itself: class 08
/// (connection exception), 57P01 "terminating connection due to administrator command" (a
/// stop), 57P02 (crash of another backend), 57P03 "the database system is shutting down /
/// starting up", 53300 too many connections, 25006 a read-only standby (a failover in progress).
fn postgres_unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "25006")
        }
        None => e.as_db_error().is_none(),
    }
}

/// SQLite's file is held by another writer past the busy timeout (another process: the CLI, a
/// backup): the request may succeed in a moment.
fn sqlite_busy(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi::ErrorCode::{DatabaseBusy, DatabaseLocked};
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked))
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None))
    }

    #[test]
    fn a_busy_or_locked_sqlite_file_is_unavailable_and_a_constraint_is_not() {
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_unavailable());
        assert!(sqlite(rusqlite::ffi::SQLITE_LOCKED).is_unavailable());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE).is_unavailable());
        assert!(!StoreError::Join.is_unavailable());
    }

    /// What a client sees when PostgreSQL is stopped (`pg_ctl stop` sends 57P01 to every
    /// backend, as `pg_terminate_backend` does to one).
    #[tokio::test]
    #[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
    async fn a_connection_terminated_by_the_server_is_unavailable_and_a_bad_statement_is_not() {
        let url = std::env::var("CONVERRA_TEST_DATABASE_URL").expect("CONVERRA_TEST_DATABASE_URL names a server");
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let refused = client.simple_query("SELECT * FROM no_such_table").await.unwrap_err();
        assert!(!StoreError::Postgres(refused).is_unavailable());
        let terminated = client.simple_query("SELECT pg_terminate_backend(pg_backend_pid())").await.unwrap_err();
        assert_eq!(terminated.code().map(|c| c.code()), Some("57P01"), "{terminated}");
        assert!(StoreError::Postgres(terminated).is_unavailable());
        let closed = client.simple_query("SELECT 1").await.unwrap_err();
        assert!(StoreError::Postgres(closed).is_unavailable());
    }
}
