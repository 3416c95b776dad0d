//! Moving a vault to another store (`converra admin migrate`, SQLite → PostgreSQL) under the
//! same master key.
//!
//! The copy is written in one transaction, together with a record that it is not verified yet;
//! a server refuses to open a vault with that record (see `Keyring::open`). Then the copy is
//! checked: the same number of rows of every kind, and every provider key decrypts on the
//! target. Only then is the record cleared. An interrupted or failed run leaves a target that
//! no server serves, and running the command again replaces it.

use super::Key;
use super::keyring::{self, Keyring};
use crate::{Core, Error, Result};
use converra_store::{Store, VaultCounts};

/// What a finished migration copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub counts: VaultCounts,
    pub provider_keys_verified: usize,
}

impl Core {
    /// Copies this core's whole vault into `target` and verifies it there with `master`.
    pub async fn migrate_vault(&self, target: Store, master: Key) -> Result<Migration> {
        // An unverified copy (an earlier run's) is replaced; any other vault is refused.
        let replace = keyring::unverified_copy(&target).await?;
        if !replace && target.organization_count().await? > 0 {
            return Err(Error::Conflict("the target already holds a vault: migrate into an empty database".into()));
        }
        let mut dump = self.store.dump().await?;
        // Counted on the dump itself: the same snapshot that is copied.
        let counts = dump.counts();
        keyring::mark_unverified(&mut dump);
        target.load(dump, replace).await?;

        let copied = target.counts().await?;
        if copied != counts {
            return Err(Error::Conflict(format!(
                "the copy does not match the source (source {counts:?}, copy {copied:?}): run the migration again"
            )));
        }
        let keyring = Keyring::open_unverified(&target, master).await.map_err(|e| match e {
            super::MasterKeyError::Store(e) => Error::from(e),
            e => Error::Conflict(format!("the copy cannot be opened with this master key: {e}")),
        })?;
        let copy = Core::new(
            target.clone(),
            keyring,
            self.providers.clone(),
            converra_adapters::Counters::local(false),
            Default::default(),
            converra_metrics::Metrics::default(),
            // Nothing is costed on the copy: it only proves every key decrypts there.
            std::sync::Arc::new(converra_prices::PriceTable::shipped()),
        );
        let mut verified = 0;
        for org in target.organizations().await? {
            for row in target.org_provider_keys(&org.id).await? {
                copy.open_provider_key(&row).await.map_err(|_| {
                    Error::Conflict(format!(
                        "provider key {} of organization {} does not decrypt on the target: run the migration again",
                        row.id, org.name
                    ))
                })?;
                verified += 1;
            }
        }
        keyring::mark_verified(&target).await?;
        Ok(Migration { counts, provider_keys_verified: verified })
    }
}
