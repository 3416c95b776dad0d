//! Provider-key rows as the health queries here read them (`store/provider_keys.rs` has the
//! decoder).

use rusqlite::Connection;

pub(super) use crate::store::provider_keys::PK_COLS;
use crate::store::sql::FromRow;
use crate::store::{ProviderKeyRow, StoreResult};

pub(super) fn query_rows(c: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<ProviderKeyRow>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(ProviderKeyRow::from_row(r)?);
    }
    Ok(out)
}
