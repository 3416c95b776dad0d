//! The provider-key lists (`list_provider_keys`, the web face's integrations page), served from
//! the read cache: an organization's whole list is read once per change to it and filtered here.

use std::sync::Arc;

use converra::ProviderKeyFilter;

use super::{ProviderKeyRow, Stale, Store, StoreResult};

impl Store {
    /// An organization's provider keys matching `filter` (its health part aside), oldest first.
    /// Served from the read cache: an organization's whole list is read once per change to it
    /// (a key written, a status, a batch of health tallies) and filtered here.
    pub async fn provider_keys(
        &self,
        org_id: &str,
        filter: ProviderKeyFilter,
    ) -> StoreResult<Vec<Arc<ProviderKeyRow>>> {
        let generation = self.generation(Stale::LISTS);
        let all = match generation.and_then(|g| self.caches.key_lists.get(org_id, g)) {
            Some(hit) => hit,
            None => {
                let rows = self.org_provider_keys(org_id).await?;
                let all: Arc<[Arc<ProviderKeyRow>]> = rows.into_iter().map(Arc::new).collect();
                if let Some(g) = generation {
                    self.caches.key_lists.put(org_id.to_owned(), g, all.clone());
                }
                all
            }
        };
        let wanted = |r: &ProviderKeyRow| {
            filter.provider.is_none_or(|p| r.provider == p)
                && filter.project_id.as_deref().is_none_or(|p| r.project_id.as_deref() == Some(p))
                && filter.environment.is_none_or(|e| r.environment == e)
        };
        Ok(all.iter().filter(|r| wanted(r)).cloned().collect())
    }
}
