//! The operator's jobs over the whole vault: the first organization of a fresh database and
//! online backups. (Key rotation is in `vault/rotation.rs`.)

use std::path::Path;

use converra::{Environment, Plan};

use super::access::Bootstrap;
use super::{Core, Error, InternalError, Result};
use converra_store::{StoreError, VaultCounts};

/// What a finished backup holds, counted on the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub counts: VaultCounts,
}

impl Core {
    /// Creates organization `default` with its owner and a first `sk_test_` key when the
    /// database holds no organization yet (the first start of `serve`). Idempotent: a second
    /// start, or two starting at once, creates nothing more (the name is unique).
    pub async fn bootstrap(&self) -> Result<Option<Bootstrap>> {
        if self.store.organization_count().await? > 0 {
            return Ok(None);
        }
        match self.create_organization("default", "owner@converra.local", Plan::Free, Environment::Test).await {
            Ok(created) => Ok(Some(created)),
            // Another process bootstrapped between the count and the insert.
            Err(Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a consistent copy of the database into `dest` (which must not exist yet; it is
    /// created 0600) while the server runs, then checks the copy. A failed backup leaves
    /// nothing behind.
    pub async fn backup(&self, dest: &Path) -> Result<BackupSummary> {
        create_private(dest)?;
        let result = async {
            self.store.backup_into(dest).await?;
            let counts = converra_store::check_backup(dest).await?;
            let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or_default();
            Ok::<_, StoreError>(BackupSummary { bytes, counts })
        }
        .await;
        result.map_err(|e| {
            let _ = std::fs::remove_file(dest);
            match e {
                StoreError::Unsupported(why) => Error::validation("file", why),
                e => Error::Internal(InternalError::Other(format!("backup failed (nothing kept): {e}"))),
            }
        })
    }
}

/// Creates `dest` empty with mode 0600, refusing an existing file.
fn create_private(dest: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(dest).map(drop).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Conflict(format!(
            "{} already exists: a backup never overwrites a file; name a new one",
            dest.display()
        )),
        _ => Error::validation("file", format!("cannot create {}: {e}", dest.display())),
    })
}
