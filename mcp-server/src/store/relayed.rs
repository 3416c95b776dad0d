//! Objects stored on a provider account whose creation Converra relayed (DESIGN "Tenants never
//! share provider-side state"): one provider key serves many members, so an id such as a
//! stored response's may be named again only by the member it was relayed for, on that key.
//! A row holds the ids only, never what the object holds.

use super::{Backend, Store, StoreResult};

/// One relayed object: which key's account holds it, and for whom Converra relayed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedObject {
    pub provider_key_id: String,
    /// What the id names (`response`), so ids of different kinds never match.
    pub kind: &'static str,
    pub object_id: String,
    pub org_id: String,
    pub member_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Store {
    /// Records a relayed object (once: a second record of the same id is a no-op).
    pub async fn record_relayed(&self, row: RelayedObject) -> StoreResult<()> {
        dispatch!(self.record_relayed(row))
    }

    /// Whether Converra relayed the creation of `kind` `object_id` on this key for this member
    /// of this organization.
    pub async fn relayed_for(
        &self,
        provider_key_id: &str,
        kind: &'static str,
        object_id: &str,
        org_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        dispatch!(self.relayed_for(provider_key_id, kind, object_id, org_id, member_id))
    }
}
