//! The master key in use, and the organizations' data keys it unwraps (cached in memory after
//! first use, so the hot path does no key unwrapping).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::crypto::{self, CryptoError, Key};
use crate::{Error, InternalError, Result, ids};
use converra_store::{DataKeyRow, Store};

const VERSION_META: &str = "master_key_version";

/// Present (as `unverified`) while a copy made by `converra admin migrate` is not verified.
const MIGRATION_META: &str = "migration";

fn check_meta(version: u32) -> String {
    format!("master_key_check_v{version}")
}

/// Why the master key cannot be used with this database.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "the master key does not match this database (it was set up with another key); start with the right CONVERRA_MASTER_KEY or key file"
    )]
    Mismatch,
    #[error("the previous master key matches no earlier master key of this database")]
    PreviousMismatch,
    #[error(
        "this database holds a copy from `converra admin migrate` that was not verified: run the migration again (it replaces the copy)"
    )]
    UnverifiedCopy,
    #[error(transparent)]
    Store(#[from] converra_store::StoreError),
}

pub struct Keyring {
    master: Key,
    master_version: u32,
    /// The master key being retired, during an online rotation (`--previous-master-key-file`).
    previous: Option<(u32, Key)>,
    data_keys: Mutex<HashMap<(String, u32), Arc<Key>>>,
}

async fn verifies(store: &Store, key: &Key, version: u32) -> bool {
    stored_check(store, version).await.ok().flatten().is_some_and(|check| crypto::verify_master(key, version, &check))
}

impl Keyring {
    /// Checks `master` against the database (recording it on a fresh database) and finds which
    /// master-key version it is: the current one, or the target of a rotation under way. A
    /// retired key is refused. With `previous` (the key being retired), data keys still sealed
    /// only by it are rewrapped under `master` now, which finishes an online rotation.
    ///
    /// On a fresh database the key's verifier is written insert-if-absent, so two first starts
    /// racing with different keys cannot split the vault: the loser finds the winner's verifier
    /// and is refused as a mismatch.
    pub async fn open(store: &Store, master: Key, previous: Option<Key>) -> Result<Self, MasterKeyError> {
        if unverified_copy(store).await? {
            return Err(MasterKeyError::UnverifiedCopy);
        }
        Self::open_checked(store, master, previous).await
    }

    /// Opens a copy that `converra admin migrate` is verifying.
    pub(super) async fn open_unverified(store: &Store, master: Key) -> Result<Self, MasterKeyError> {
        Self::open_checked(store, master, None).await
    }

    async fn open_checked(store: &Store, master: Key, previous: Option<Key>) -> Result<Self, MasterKeyError> {
        let current: Option<u32> = match store.meta(VERSION_META).await? {
            Some(v) => v.parse().ok(),
            None => {
                store.insert_meta_if_absent(&check_meta(1), &encode_b64(&crypto::master_check(&master, 1))).await?;
                store.insert_meta_if_absent(VERSION_META, "1").await?.parse().ok()
            }
        };
        let current = current.unwrap_or(1);
        let mut master_version = None;
        for v in [current + 1, current] {
            if verifies(store, &master, v).await {
                master_version = Some(v);
                break;
            }
        }
        let master_version = master_version.ok_or(MasterKeyError::Mismatch)?;
        let previous = match previous {
            None => None,
            Some(key) => {
                let mut found = None;
                for v in (1..master_version).rev() {
                    if verifies(store, &key, v).await {
                        found = Some(v);
                        break;
                    }
                }
                Some((found.ok_or(MasterKeyError::PreviousMismatch)?, key))
            }
        };
        let keyring = Self { master, master_version, previous, data_keys: Mutex::new(HashMap::new()) };
        keyring.adopt_previous(store).await?;
        Ok(keyring)
    }

    /// Rewraps data keys sealed only by the previous master key (written by a server that was
    /// still running with it during a rotation) under the current one.
    async fn adopt_previous(&self, store: &Store) -> Result<(), MasterKeyError> {
        let Some((prev_version, _)) = &self.previous else { return Ok(()) };
        for row in store.all_data_keys().await?.into_iter().filter(|r| r.master_version == *prev_version) {
            match self.unwrap_row(&row) {
                Ok(key) => {
                    let rewrapped = DataKeyRow {
                        wrapped: crypto::wrap_data_key(&self.master, &row.org_id, row.version, &key),
                        master_version: self.master_version,
                        wrapped_prev: Some(row.wrapped.clone()),
                        prev_master_version: Some(row.master_version),
                        ..row.clone()
                    };
                    store.rewrap_data_keys(&row.org_id, vec![rewrapped]).await?;
                }
                Err(e) => {
                    tracing::error!(org_id = %row.org_id, error = %e, "could not adopt a data key sealed by the previous master key")
                }
            }
        }
        Ok(())
    }

    pub fn master_version(&self) -> u32 {
        self.master_version
    }

    /// A new random data key for a new organization, wrapped by the master key.
    pub fn new_data_key(&self, org_id: &str) -> Result<DataKeyRow> {
        let key = Key::random();
        Ok(DataKeyRow {
            org_id: org_id.to_owned(),
            version: 1,
            wrapped: crypto::wrap_data_key(&self.master, org_id, 1, &key),
            master_version: self.master_version,
            wrapped_prev: None,
            prev_master_version: None,
            created_at: ids::now(),
        })
    }

    /// The master key this process holds for `version`, if any.
    fn key_for(&self, version: Option<u32>) -> Option<&Key> {
        let version = version?;
        if version == self.master_version {
            return Some(&self.master);
        }
        self.previous.as_ref().filter(|(v, _)| *v == version).map(|(_, k)| k)
    }

    /// Unwraps a data key with whichever sealing this process holds a master key for.
    fn unwrap_row(&self, row: &DataKeyRow) -> Result<Key, CryptoError> {
        if let Some(master) = self.key_for(Some(row.master_version)) {
            return crypto::unwrap_data_key(master, &row.org_id, row.version, &row.wrapped);
        }
        if let (Some(master), Some(wrapped)) = (self.key_for(row.prev_master_version), &row.wrapped_prev) {
            return crypto::unwrap_data_key(master, &row.org_id, row.version, wrapped);
        }
        tracing::error!(
            org_id = %row.org_id,
            data_key_version = row.version,
            sealed_by = row.master_version,
            running = self.master_version,
            "data key is sealed by a master key this server does not hold: start once with --previous-master-key-file to finish the rotation"
        );
        Err(CryptoError::Open)
    }

    /// The organization's data key of `version` (the newest when `None`).
    pub async fn data_key(&self, store: &Store, org_id: &str, version: Option<u32>) -> Result<(u32, Arc<Key>)> {
        if let Some(v) = version
            && let Some(k) = self.data_keys.lock().unwrap_or_else(|p| p.into_inner()).get(&(org_id.to_owned(), v))
        {
            return Ok((v, k.clone()));
        }
        let row = store
            .data_key(org_id, version)
            .await?
            .ok_or_else(|| Error::Internal(InternalError::Other(format!("organization {org_id} has no data key"))))?;
        let key = self.unwrap_row(&row).inspect_err(|e| {
            tracing::error!(org_id, data_key_version = row.version, error = %e, "could not unwrap data key");
        })?;
        let key = Arc::new(key);
        self.data_keys.lock().unwrap_or_else(|p| p.into_inner()).insert((org_id.to_owned(), row.version), key.clone());
        Ok((row.version, key))
    }

    pub(super) fn master(&self) -> &Key {
        &self.master
    }

    pub(super) fn forget_org(&self, org_id: &str) {
        self.data_keys.lock().unwrap_or_else(|p| p.into_inner()).retain(|(o, _), _| o != org_id);
    }
}

pub(super) async fn record_master(store: &Store, key: &Key, version: u32) -> converra_store::StoreResult<()> {
    store.set_meta(&check_meta(version), &encode_b64(&crypto::master_check(key, version))).await
}

pub(super) async fn set_master_version(store: &Store, version: u32) -> converra_store::StoreResult<()> {
    store.set_meta(VERSION_META, &version.to_string()).await
}

pub(super) async fn stored_master_version(store: &Store) -> converra_store::StoreResult<u32> {
    Ok(store.meta(VERSION_META).await?.and_then(|v| v.parse().ok()).unwrap_or(1))
}

pub(super) async fn stored_check(store: &Store, version: u32) -> converra_store::StoreResult<Option<Vec<u8>>> {
    Ok(store.meta(&check_meta(version)).await?.and_then(|h| decode_b64(&h)))
}

/// Whether the store holds a migrated copy that was not verified.
pub(super) async fn unverified_copy(store: &Store) -> converra_store::StoreResult<bool> {
    Ok(store.meta(MIGRATION_META).await?.is_some_and(|v| v == "unverified"))
}

/// Marks a dump, before it is written, as a copy to verify.
pub(super) fn mark_unverified(dump: &mut converra_store::VaultDump) {
    dump.meta.retain(|(k, _)| k != MIGRATION_META);
    dump.meta.push((MIGRATION_META.into(), "unverified".into()));
}

pub(super) async fn mark_verified(store: &Store) -> converra_store::StoreResult<()> {
    store.set_meta(MIGRATION_META, "verified").await
}

fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}
