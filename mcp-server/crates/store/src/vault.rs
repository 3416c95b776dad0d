//! The vault's records: wrapped data keys (one per organization and version) and the master
//! key's records (`meta`). Only wrapped keys are stored here.

use super::sql::{Conn, FromRow, Row, Sql};
use super::{Backend, DataKeyRow, Reencrypted, Stale, Store, StoreResult};

macro_rules! data_key_cols {
    () => {
        "org_id, version, wrapped, master_version, created_at, wrapped_prev, prev_master_version"
    };
}

static INSERT: Sql =
    Sql::new(concat!("INSERT INTO data_keys (", data_key_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"));
static ONE: Sql = Sql::new(concat!(
    "SELECT ",
    data_key_cols!(),
    " FROM data_keys WHERE org_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR version = $2)
     ORDER BY version DESC LIMIT 1"
));
pub(super) static ALL: Sql = Sql::new(concat!("SELECT ", data_key_cols!(), " FROM data_keys ORDER BY org_id, version"));
static REWRAP: Sql = Sql::new(
    "UPDATE data_keys SET wrapped = $3, master_version = $4, wrapped_prev = $5, prev_master_version = $6
     WHERE org_id = $1 AND version = $2",
);
static DROP_PREVIOUS: Sql =
    Sql::new("UPDATE data_keys SET wrapped_prev = NULL, prev_master_version = NULL WHERE wrapped_prev IS NOT NULL");
/// A provider key re-encrypted, if it still holds the ciphertext it was read with.
static REENCRYPT: Sql = Sql::new(
    "UPDATE provider_keys SET ciphertext = $4, data_key_version = $5
     WHERE org_id = $1 AND id = $2 AND ciphertext = $3",
);
static META: Sql = Sql::new("SELECT value FROM meta WHERE key = $1");
static SET_META: Sql =
    Sql::new("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
pub(super) static INSERT_META: Sql =
    Sql::new("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING");

impl FromRow for DataKeyRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(DataKeyRow {
            org_id: r.get(0)?,
            version: r.u32(1)?,
            wrapped: r.get(2)?,
            master_version: r.u32(3)?,
            created_at: r.get(4)?,
            wrapped_prev: r.get(5)?,
            prev_master_version: r.opt_u32(6)?,
        })
    }
}

pub(super) async fn insert_data_key(c: &impl Conn, d: &DataKeyRow) -> StoreResult<()> {
    c.execute(
        &INSERT,
        &[
            &d.org_id,
            &i64::from(d.version),
            &d.wrapped,
            &i64::from(d.master_version),
            &d.created_at,
            &d.wrapped_prev,
            &d.prev_master_version.map(i64::from),
        ],
    )
    .await?;
    Ok(())
}

/// Re-encrypts each key if it still holds what it was read with; returns how many did.
async fn reencrypt(c: &impl Conn, org_id: &str, version: u32, keys: &[Reencrypted]) -> StoreResult<u64> {
    let mut n = 0;
    for r in keys {
        n += c.execute(&REENCRYPT, &[&org_id, &r.id, &r.previous, &r.ciphertext, &i64::from(version)]).await?;
    }
    Ok(n)
}

impl Store {
    /// One data key version (or the newest when `version` is `None`).
    pub async fn data_key(&self, org_id: &str, version: Option<u32>) -> StoreResult<Option<DataKeyRow>> {
        let org_id = org_id.to_owned();
        read!(self, |c| c.query_opt(&ONE, &[&org_id, &version.map(i64::from)]))
    }

    /// Every data key of every organization (for master-key rotation).
    pub async fn all_data_keys(&self) -> StoreResult<Vec<DataKeyRow>> {
        read!(self, |c| c.query(&ALL, &[]))
    }

    /// Replaces data keys of one organization with their rewrapped form, in one transaction.
    pub async fn rewrap_data_keys(&self, org_id: &str, rewrapped: Vec<DataKeyRow>) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        write!(self, Stale::NONE, [], |c| async {
            for d in &rewrapped {
                let params: [&dyn super::sql::Value; 6] = [
                    &org_id,
                    &i64::from(d.version),
                    &d.wrapped,
                    &i64::from(d.master_version),
                    &d.wrapped_prev,
                    &d.prev_master_version.map(i64::from),
                ];
                c.execute(&REWRAP, &params).await?;
            }
            Ok(())
        })
    }

    /// Deletes every data key's wrapping under a previous master key (the last step of a
    /// master-key rotation), then scrubs what the backend can: on SQLite the freed space is
    /// zeroed (`secure_delete`) and the WAL is checkpointed and truncated, so neither file
    /// holds the old wrappings (a failure while another connection keeps reading: the deletion
    /// stands, and a second call finishes the scrub); on PostgreSQL the table is rewritten.
    /// Returns how many wrappings were deleted.
    pub async fn drop_previous_wrappings(&self) -> StoreResult<u64> {
        let n = read!(self, |c| c.execute(&DROP_PREVIOUS, &[]))?;
        match &*self.backend {
            Backend::Sqlite(b) => b.scrub_wal().await?,
            Backend::Postgres(b) => b.vacuum_data_keys().await?,
        }
        Ok(n)
    }

    /// Adds a data key version and re-encrypts provider keys under it, in one transaction.
    /// Returns false (and changes nothing) if any key's ciphertext changed since it was read.
    pub async fn rotate_data_key(&self, data_key: DataKeyRow, reencrypted: Vec<Reencrypted>) -> StoreResult<bool> {
        write!(self, Stale::KEYS, [], |c| async {
            insert_data_key(c, &data_key).await?;
            let n = reencrypt(c, &data_key.org_id, data_key.version, &reencrypted).await?;
            // Fewer: one was replaced or removed since it was read; nothing applies.
            Ok(n == reencrypted.len() as u64)
        })
    }

    /// Re-encrypts provider keys of `org_id` under its existing data key `version`, each a
    /// compare-and-swap on its ciphertext (a key changed since it was read is left as it is, for
    /// the caller's next scan). Returns how many were re-encrypted.
    pub async fn reseal_provider_keys(
        &self,
        org_id: &str,
        version: u32,
        resealed: Vec<Reencrypted>,
    ) -> StoreResult<u64> {
        let org_id = org_id.to_owned();
        write!(self, Stale::KEYS, [], |c| reencrypt(c, &org_id, version, &resealed))
    }

    /// A vault record (which master key version is current, its verifier).
    pub async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        read!(self, |c| c.query_opt(&META, &[&key]))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        read!(self, |c| c.execute(&SET_META, &[&key, &value])).map(drop)
    }

    /// Writes `value` unless `key` already has one; returns the value the store now holds, so
    /// two first starts racing with different keys agree on one.
    pub async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        write!(self, Stale::NONE, [], |c| async {
            c.execute(&INSERT_META, &[&key, &value]).await?;
            c.query_one(&META, &[&key]).await
        })
    }
}
