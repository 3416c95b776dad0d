//! The master key in use, and the organizations' data keys it unwraps (cached in memory after
//! first use, so the hot path does no key unwrapping).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::crypto::{self, CryptoError, Key};
use crate::core::{Error, InternalError, Result, ids};
use crate::store::{DataKeyRow, Store};

const VERSION_META: &str = "master_key_version";

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
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct Keyring {
    master: Key,
    master_version: u32,
    data_keys: Mutex<HashMap<(String, u32), Arc<Key>>>,
}

impl Keyring {
    /// Checks `master` against the database (recording it on a fresh database) and finds which
    /// master-key version it is.
    pub fn open(store: &Store, master: Key) -> Result<Self, MasterKeyError> {
        let current: Option<u32> = store.meta_sync(VERSION_META)?.and_then(|v| v.parse().ok());
        let master_version = match current {
            None => {
                store.set_meta_sync(&check_meta(1), &hex(&crypto::master_check(&master, 1)))?;
                store.set_meta_sync(VERSION_META, "1")?;
                1
            }
            Some(current) => {
                // The current version, or the target of a rotation that is under way.
                (1..=current + 1)
                    .rev()
                    .find(|v| {
                        store
                            .meta_sync(&check_meta(*v))
                            .ok()
                            .flatten()
                            .and_then(|h| unhex(&h))
                            .is_some_and(|check| crypto::verify_master(&master, *v, &check))
                    })
                    .ok_or(MasterKeyError::Mismatch)?
            }
        };
        Ok(Self { master, master_version, data_keys: Mutex::new(HashMap::new()) })
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
            created_at: ids::now(),
        })
    }

    /// The organization's data key of `version` (the newest when `None`).
    pub async fn data_key(&self, store: &Store, org_id: &str, version: Option<u32>) -> Result<(u32, Arc<Key>)> {
        if let Some(v) = version {
            if let Some(k) = self.data_keys.lock().unwrap_or_else(|p| p.into_inner()).get(&(org_id.to_owned(), v)) {
                return Ok((v, k.clone()));
            }
        }
        let row = store
            .data_key(org_id, version)
            .await?
            .ok_or_else(|| Error::Internal(InternalError::Other(format!("organization {org_id} has no data key"))))?;
        if row.master_version != self.master_version {
            tracing::error!(
                org_id,
                data_key_version = row.version,
                sealed_by = row.master_version,
                running = self.master_version,
                "data key is sealed by another master key version: finish `converra admin rotate-master-key`"
            );
            return Err(CryptoError::Open.into());
        }
        let key = crypto::unwrap_data_key(&self.master, org_id, row.version, &row.wrapped).inspect_err(|e| {
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

pub(super) fn record_master(store: &Store, key: &Key, version: u32) -> crate::store::StoreResult<()> {
    store.set_meta_sync(&check_meta(version), &hex(&crypto::master_check(key, version)))
}

pub(super) fn set_master_version(store: &Store, version: u32) -> crate::store::StoreResult<()> {
    store.set_meta_sync(VERSION_META, &version.to_string())
}

pub(super) fn stored_master_version(store: &Store) -> crate::store::StoreResult<u32> {
    Ok(store.meta_sync(VERSION_META)?.and_then(|v| v.parse().ok()).unwrap_or(1))
}

pub(super) fn stored_check(store: &Store, version: u32) -> crate::store::StoreResult<Option<Vec<u8>>> {
    Ok(store.meta_sync(&check_meta(version))?.and_then(|h| unhex(&h)))
}

fn hex(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}
