//! `/api/v1/settings`: organization settings.

use reqwest::Method;

use crate::client::NoQuery;
use crate::types::{AiSettings, UpdateAiSettings};
use crate::{Converra, Result};

/// Organization settings.
///
/// Get one with [`Converra::settings`].
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    client: &'a Converra,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// The AI settings: whether completions are enabled, and the default tone
    /// (`GET /api/v1/settings/ai`).
    pub async fn get_ai(&self) -> Result<AiSettings> {
        self.client.get(&["settings", "ai"], &NoQuery).await
    }

    /// Changes the AI settings; absent fields stay as they are. Owners only
    /// (`PUT /api/v1/settings/ai`).
    pub async fn update_ai(&self, update: UpdateAiSettings) -> Result<AiSettings> {
        self.client.send_json(Method::PUT, &["settings", "ai"], &update).await
    }
}
