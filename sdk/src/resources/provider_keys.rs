//! `/api/v1/provider-keys`: the organization's own AI provider keys.

use reqwest::Method;

use crate::client::NoQuery;
use crate::types::{
    AddProviderKey, ConnectLink, CreateConnectLink, List, ProviderKey, ProviderKeyFilter, Resolution, ResolveQuery,
    TestResult, UpdateProviderKey,
};
use crate::{Converra, Result};

/// Provider keys: store, rotate, test, remove and resolve the organization's AI keys.
///
/// Get one with [`Converra::provider_keys`]. Changing keys needs an admin or owner key;
/// members see only each key's provider, scope and status.
///
/// ```no_run
/// use converra::{AddProviderKey, Converra, Provider};
///
/// # async fn run() -> converra::Result<()> {
/// let converra = Converra::from_env()?;
/// let key = converra
///     .provider_keys()
///     .add(AddProviderKey::new(Provider::Openai, "OpenAI-Production", "sk-proj-...").test_first())
///     .await?;
/// println!("stored {} ({:?})", key.id, key.masked);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProviderKeys<'a> {
    client: &'a Converra,
}

impl<'a> ProviderKeys<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Lists the stored keys matching `filter` (`GET /api/v1/provider-keys`); use
    /// `ProviderKeyFilter::default()` for all of them.
    pub async fn list(&self, filter: ProviderKeyFilter) -> Result<Vec<ProviderKey>> {
        let list: List<ProviderKey> = self.client.get(&["provider-keys"], &filter).await?;
        Ok(list.data)
    }

    /// One key by id (`GET /api/v1/provider-keys/{id}`).
    pub async fn get(&self, id: &str) -> Result<ProviderKey> {
        self.client.get(&["provider-keys", id], &NoQuery).await
    }

    /// Stores a new key (`POST /api/v1/provider-keys`). It becomes the active key of its slot
    /// (provider, scope, environment); a previous active key stays as inactive until removed,
    /// so a rotation can be rolled back with [`activate`](Self::activate).
    pub async fn add(&self, key: AddProviderKey) -> Result<ProviderKey> {
        self.client.send_json(Method::POST, &["provider-keys"], &key).await
    }

    /// Replaces a key's secret (and optionally its name) in place
    /// (`PUT /api/v1/provider-keys/{id}`).
    pub async fn update(&self, id: &str, update: UpdateProviderKey) -> Result<ProviderKey> {
        self.client.send_json(Method::PUT, &["provider-keys", id], &update).await
    }

    /// Makes a key the active one of its slot, e.g. to roll back a rotation
    /// (`POST /api/v1/provider-keys/{id}/activate`).
    pub async fn activate(&self, id: &str) -> Result<ProviderKey> {
        self.client.post_empty(&["provider-keys", id, "activate"]).await
    }

    /// Verifies a key against its provider with a cheap call and records the outcome
    /// (`POST /api/v1/provider-keys/{id}/test`). A rejected key is a successful call whose
    /// [`TestResult::status`] says why; only a failure to run the test is an error.
    pub async fn test(&self, id: &str) -> Result<TestResult> {
        self.client.post_empty(&["provider-keys", id, "test"]).await
    }

    /// A one-time link (`POST /api/v1/provider-keys/connect-links`) where a signed-in admin or
    /// owner of the organization pastes the secret in the browser, so that the secret never
    /// passes through this program. Single use, 10 minutes.
    pub async fn connect_link(&self, link: CreateConnectLink) -> Result<ConnectLink> {
        self.client.send_json(Method::POST, &["provider-keys", "connect-links"], &link).await
    }

    /// Deletes a key for good (`DELETE /api/v1/provider-keys/{id}`).
    pub async fn remove(&self, id: &str) -> Result<()> {
        self.client.delete(&["provider-keys", id]).await
    }

    /// Which key a completion for this provider (and project) would use, and why
    /// (`GET /api/v1/provider-keys/resolve`).
    pub async fn resolve(&self, query: ResolveQuery) -> Result<Resolution> {
        self.client.get(&["provider-keys", "resolve"], &query).await
    }
}
