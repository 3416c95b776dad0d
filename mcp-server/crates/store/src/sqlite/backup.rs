//! Online backups: a consistent, compacted copy of the database written while the server runs
//! (SQLite `VACUUM INTO` reads one snapshot; writers are not blocked for long), then checked.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Conn, Sqlite};
use crate::{StoreError, StoreResult, VaultCounts};

impl Sqlite {
    /// Writes a copy of the database into the file `dest`, which must not exist or be empty.
    pub(crate) async fn backup_into(&self, dest: &Path) -> StoreResult<()> {
        let dest = dest.to_str().ok_or(StoreError::Unsupported("a backup path must be UTF-8"))?.to_owned();
        self.run(move |c| {
            c.execute("VACUUM INTO ?1", [dest])?;
            Ok(())
        })
        .await
    }
}

/// Opens a backup read-only, runs SQLite's integrity check and counts what it holds.
pub(crate) fn check_backup(path: &Path) -> StoreResult<VaultCounts> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(StoreError::Integrity(integrity));
    }
    crate::sql::ready(crate::dump::counts(&Conn(&c)))
}
