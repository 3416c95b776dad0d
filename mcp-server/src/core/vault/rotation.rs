//! Key rotation.
//!
//! - Master key: every organization's data keys are rewrapped under the new master key, one
//!   organization per transaction, each recording the master-key version that sealed it, so a
//!   rotation killed half-way resumes where it stopped when run again. Provider-key
//!   ciphertexts are untouched (they are sealed by the data keys).
//! - Data key: one organization gets a new data key version and all its provider keys are
//!   re-encrypted under it in one transaction, as a compare-and-swap on each ciphertext: a
//!   secret replaced while the rotation ran is never reverted (the rotation reads again).

use std::collections::BTreeMap;

use super::crypto::{self, Key};
use super::keyring;
use super::keys::context;
use crate::core::{Core, Error, InternalError, Result, ids};
use crate::store::{DataKeyRow, Reencrypted};

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
    /// Refused while any data key lacks a wrapping under the current master key. Returns how
    /// many old wrappings were deleted.
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
        Ok(self.store.drop_previous_wrappings().await?)
    }

    /// Re-encrypts one organization's provider keys under a new data key
    /// (`converra admin rotate-data-key`). Returns how many.
    pub async fn rotate_data_key(&self, org_id: &str) -> Result<usize> {
        for _ in 0..DATA_KEY_ATTEMPTS {
            if let Some(n) = self.try_rotate_data_key(org_id).await? {
                self.keyring.forget_org(org_id);
                return Ok(n);
            }
        }
        Err(Error::Conflict("provider keys kept changing during the data-key rotation: run it again".into()))
    }

    /// One attempt: `None` when a key changed between the read and the write.
    async fn try_rotate_data_key(&self, org_id: &str) -> Result<Option<usize>> {
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
        Ok(self.store.rotate_data_key(data_key, reencrypted).await?.then_some(rows.len()))
    }
}
