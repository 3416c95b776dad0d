//! Key rotation.
//!
//! - Master key: every organization's data keys are rewrapped under the new master key, one
//!   organization per transaction, each recording the master-key version that sealed it, so a
//!   rotation killed half-way resumes where it stopped when run again. Provider-key
//!   ciphertexts are untouched (they are sealed by the data keys).
//! - Data key: one organization gets a new data key version and all its provider keys are
//!   re-encrypted under it in one transaction, as a compare-and-swap on each ciphertext: a
//!   secret replaced while the rotation ran is never reverted (the rotation reads again). A key
//!   written with the previous data key while the rotation ran (read before the swap, stored
//!   after it) is not among the rows it read: the rotation re-scans after the swap until none
//!   is left, and a writer that finds a newer data key after its write re-seals its own key,
//!   so whichever comes last, no key stays under the old version.

use std::collections::BTreeMap;

use super::crypto::{self, Key};
use super::keyring;
use super::keys::context;
use crate::{Core, Error, InternalError, Result, ids};
use converra_store::{DataKeyRow, ProviderKeyRow, Reencrypted};

/// What a master-key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRotation {
    pub new_version: u32,
    pub organizations_rewrapped: usize,
    pub organizations_already_done: usize,
}

fn other(msg: impl Into<String>) -> Error {
    Error::Internal(InternalError::Other(msg.into()))
}

/// How often a data-key rotation reads again when keys change under it before giving up.
const DATA_KEY_ATTEMPTS: usize = 5;
/// How many scans for keys left under an older data key before giving up (each scan re-seals
/// what it found; only keys written again meanwhile are found twice).
const RESCANS: usize = 20;

impl Core {
    /// Rewraps every data key from the master key this core holds to `new`. Safe to run again
    /// after a crash (`converra admin rotate-master-key`).
    pub async fn rotate_master_key(
        &self,
        new: &Key,
        mut progress: impl FnMut(&str, usize, usize),
    ) -> Result<MasterRotation> {
        let (store, current) = (&self.store, self.keyring.master());
        let current_version = keyring::stored_master_version(store).await?;
        let check =
            keyring::stored_check(store, current_version).await?.ok_or_else(|| other("master key check is missing"))?;
        if !crypto::verify_master(current, current_version, &check) {
            return Err(Error::validation("master_key", "the current master key does not match this database"));
        }
        let target = current_version + 1;
        match keyring::stored_check(store, target).await? {
            Some(check) if !crypto::verify_master(new, target, &check) => {
                return Err(Error::validation(
                    "new_key_file",
                    "a rotation to a different new master key is already under way: finish it with that key",
                ));
            }
            Some(_) => {}
            None => keyring::record_master(store, new, target).await?,
        }
        let mut by_org: BTreeMap<String, Vec<DataKeyRow>> = BTreeMap::new();
        for row in store.all_data_keys().await? {
            by_org.entry(row.org_id.clone()).or_default().push(row);
        }
        let total = by_org.len();
        let (mut done, mut skipped) = (0, 0);
        for (i, (org_id, rows)) in by_org.into_iter().enumerate() {
            if rows.iter().all(|r| r.master_version == target) {
                skipped += 1;
                progress(&org_id, i + 1, total);
                continue;
            }
            let mut rewrapped = Vec::with_capacity(rows.len());
            for row in rows {
                if row.master_version == target {
                    rewrapped.push(row);
                    continue;
                }
                let dk = crypto::unwrap_data_key(current, &org_id, row.version, &row.wrapped).map_err(|e| {
                tracing::error!(org_id, data_key_version = row.version, error = %e, "data key does not unwrap with the current master key");
                Error::from(e)
            })?;
                rewrapped.push(DataKeyRow {
                    wrapped: crypto::wrap_data_key(new, &org_id, row.version, &dk),
                    master_version: target,
                    // Kept so a server still running with the current key keeps working until it
                    // restarts with the new one.
                    wrapped_prev: Some(row.wrapped.clone()),
                    prev_master_version: Some(row.master_version),
                    ..row
                });
            }
            store.rewrap_data_keys(&org_id, rewrapped).await?;
            done += 1;
            progress(&org_id, i + 1, total);
        }
        keyring::set_master_version(store, target).await?;
        Ok(MasterRotation { new_version: target, organizations_rewrapped: done, organizations_already_done: skipped })
    }

    /// The last step of a master-key rotation (`rotate-master-key --finish`), run with the new
    /// master key once every server uses it: deletes every data key's wrapping under the old
    /// key, so the old key and this database (or a later backup) no longer open anything.
    /// Refused while any data key lacks a wrapping under the current master key, and while a
    /// running server reports the old master key (`Core::stop_background`, the background
    /// loop). Returns how many old wrappings were deleted.
    pub async fn finish_master_key_rotation(&self) -> Result<u64> {
        let stored = keyring::stored_master_version(&self.store).await?;
        if self.keyring.master_version() != stored {
            return Err(Error::validation(
                "master_key",
                "finish the rotation with the new master key (the one the rotation wrapped the data keys under)",
            ));
        }
        let behind = self.store.all_data_keys().await?.iter().filter(|r| r.master_version != stored).count();
        if behind > 0 {
            return Err(Error::Conflict(format!(
                "{behind} data key(s) have no wrapping under the new master key yet: run rotate-master-key --new-key-file again, then --finish"
            )));
        }
        // A server still running with the old key opens the data keys only through the old
        // wrappings: without them it would fail every add and every new organization.
        let running_old =
            self.store.master_key_versions_in_use(ids::unix_now()).await?.into_iter().filter(|v| *v < stored).count();
        if running_old > 0 {
            return Err(Error::Conflict(format!(
                "{running_old} running server(s) still use the old master key: restart them with the new one, then run --finish again \
                 (a server that stopped without shutting down counts until its report lapses, within 30 seconds)"
            )));
        }
        match self.store.drop_previous_wrappings().await {
            Ok(n) => Ok(n),
            // On SQLite: the checkpoint that scrubs the write-ahead log waited for a reader in
            // vain. Running it again deletes nothing more and completes the scrub.
            Err(e) if e.is_unavailable() => Err(Error::Conflict(
                "the old wrappings could not be scrubbed: the database was busy (on SQLite, another connection \
                 kept reading the write-ahead log that still holds them): run --finish again"
                    .into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Re-encrypts one organization's provider keys under a new data key
    /// (`converra admin rotate-data-key`). Returns how many.
    pub async fn rotate_data_key(&self, org_id: &str) -> Result<usize> {
        for _ in 0..DATA_KEY_ATTEMPTS {
            if let Some((version, n)) = self.try_rotate_data_key(org_id).await? {
                self.keyring.forget_org(org_id);
                let late = self.reseal_behind(org_id, version).await?;
                return Ok(n + late);
            }
        }
        Err(Error::Conflict("provider keys kept changing during the data-key rotation: run it again".into()))
    }

    /// After a provider key was written under its data key: when a newer data key exists (a
    /// rotation swapped while this write was on its way), re-seals the organization's keys that
    /// are behind it, this one among them. The write itself stands whatever happens here (the
    /// key still opens under its own version), so a failure is logged, not returned.
    pub(super) async fn catch_up_with_rotation(&self, row: &ProviderKeyRow) {
        let newest = match self.store.data_key(&row.org_id, None).await {
            Ok(Some(newest)) if newest.version > row.data_key_version => newest.version,
            Ok(_) => return,
            Err(e) => return tracing::warn!(provider_key_id = %row.id, error = %e, "cannot check the newest data key"),
        };
        if let Err(e) = self.reseal_behind(&row.org_id, newest).await {
            tracing::warn!(provider_key_id = %row.id, error = %e, "cannot re-seal a key written during a data-key rotation");
        }
    }

    /// Re-seals every provider key of `org_id` under a data key older than `version` with
    /// `version`, scanning again until a scan finds none. Returns how many were re-sealed.
    async fn reseal_behind(&self, org_id: &str, version: u32) -> Result<usize> {
        let (_, key) = self.keyring.data_key(&self.store, org_id, Some(version)).await?;
        let mut resealed = 0;
        for _ in 0..RESCANS {
            let rows = self.store.org_provider_keys(org_id).await?;
            let behind: Vec<_> = rows.iter().filter(|r| r.data_key_version < version).collect();
            if behind.is_empty() {
                return Ok(resealed);
            }
            let mut batch = Vec::with_capacity(behind.len());
            for row in behind {
                let secret = self.open_provider_key(row).await?;
                let mut ctx = context(row);
                ctx.data_key_version = version;
                batch.push(Reencrypted {
                    id: row.id.clone(),
                    previous: row.ciphertext.clone(),
                    ciphertext: crypto::seal_secret(&key, &ctx, &secret),
                });
            }
            resealed += self.store.reseal_provider_keys(org_id, version, batch).await? as usize;
        }
        Err(Error::Conflict("provider keys kept changing during the data-key rotation: run it again".into()))
    }

    /// One attempt: `None` when a key changed between the read and the write; else the new
    /// version and how many keys it re-encrypted.
    async fn try_rotate_data_key(&self, org_id: &str) -> Result<Option<(u32, usize)>> {
        let rows = self.store.org_provider_keys(org_id).await?;
        let mut secrets = Vec::with_capacity(rows.len());
        for row in &rows {
            secrets.push(self.open_provider_key(row).await?);
        }
        let (current, _) = self.keyring.data_key(&self.store, org_id, None).await?;
        let version = current + 1;
        let new_key = Key::random();
        let data_key = DataKeyRow {
            org_id: org_id.to_owned(),
            version,
            wrapped: crypto::wrap_data_key(self.keyring.master(), org_id, version, &new_key),
            master_version: self.keyring.master_version(),
            wrapped_prev: None,
            prev_master_version: None,
            created_at: ids::now(),
        };
        let reencrypted = rows
            .iter()
            .zip(&secrets)
            .map(|(row, secret)| {
                let mut ctx = context(row);
                ctx.data_key_version = version;
                Reencrypted {
                    id: row.id.clone(),
                    previous: row.ciphertext.clone(),
                    ciphertext: crypto::seal_secret(&new_key, &ctx, secret),
                }
            })
            .collect();
        Ok(self.store.rotate_data_key(data_key, reencrypted).await?.then_some((version, rows.len())))
    }
}
