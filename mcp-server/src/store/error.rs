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

impl StoreError {
    /// Whether a UNIQUE constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => sqlite::is_unique_violation(e),
            StoreError::Postgres(e) => postgres::is_unique_violation(e),
            _ => false,
        }
    }

    /// Whether the database could not be reached (the request may succeed later).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Postgres(e) => postgres::is_unreachable(e),
            _ => false,
        }
    }
}
