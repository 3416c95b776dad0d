//! Provider-key rows as the health queries here read them (`store/provider_keys.rs` has the
//! decoder).

pub(super) use crate::store::provider_keys::PK_COLS;
use crate::store::sql::FromRow;
use crate::store::{ProviderKeyRow, StoreResult};

pub(super) fn key_at(r: &tokio_postgres::Row) -> StoreResult<ProviderKeyRow> {
    ProviderKeyRow::from_row(r)
}
