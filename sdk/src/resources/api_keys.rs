//! `/api/v1/api-keys`: Converra API keys, the identities of apps, scripts and agents.

use reqwest::Method;

use crate::client::NoQuery;
use crate::types::{ApiKey, CreateApiKey, CreatedApiKey, List};
use crate::{Converra, Result};

/// Converra API keys (`sk_live_…`, `sk_test_…`).
///
/// Get one with [`Converra::api_keys`]. Everybody manages their own keys; admins and owners
/// also those of lower roles.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    client: &'a Converra,
}

impl<'a> ApiKeys<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Creates a key (`POST /api/v1/api-keys`). The answer holds the full secret in
    /// [`CreatedApiKey::key`]: the only time it is shown, so store it now.
    pub async fn create(&self, key: CreateApiKey) -> Result<CreatedApiKey> {
        self.client.send_json(Method::POST, &["api-keys"], &key).await
    }

    /// Lists the keys the caller may see, revoked ones included (`GET /api/v1/api-keys`).
    pub async fn list(&self) -> Result<Vec<ApiKey>> {
        let list: List<ApiKey> = self.client.get(&["api-keys"], &NoQuery).await?;
        Ok(list.data)
    }

    /// Revokes a key; it stops working on the very next request (`DELETE /api/v1/api-keys/{id}`).
    pub async fn revoke(&self, id: &str) -> Result<()> {
        self.client.delete(&["api-keys", id]).await
    }
}
