//! Online backups: a consistent, compacted copy of the database written while the server runs
//! (SQLite `VACUUM INTO` reads one snapshot; writers are not blocked for long), then checked.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Store, StoreError, StoreResult};

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub organizations: u64,
    pub provider_keys: u64,
}

impl Store {
    /// Writes a copy of the database into the file `dest`, which must not exist or be empty.
    pub fn backup_into(&self, dest: &str) -> StoreResult<()> {
        self.run_sync(|c| {
            c.execute("VACUUM INTO ?1", [dest])?;
            Ok(())
        })
    }
}

/// Opens a backup read-only, runs SQLite's integrity check and counts what it holds.
pub fn check_backup(path: &Path) -> StoreResult<BackupSummary> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(StoreError::Integrity(integrity));
    }
    let count = |table: &str| -> StoreResult<u64> {
        Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(BackupSummary {
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or_default(),
        organizations: count("organizations")?,
        provider_keys: count("provider_keys")?,
    })
}
