//! Resources for clients that attach context: the provider-key list (status only for members,
//! as the tool shows it), the AI settings (with the key rotation period) and a month's usage. Read-only, with the same permissions as the tools.

use converra::{ProviderKeyFilter, UsageQuery};
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};

use converra_core::{Caller, Core, Error};

pub const PROVIDER_KEYS: &str = "converra://provider-keys";
pub const AI_SETTINGS: &str = "converra://settings/ai";
const USAGE_PREFIX: &str = "converra://usage/";

pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(PROVIDER_KEYS, "provider-keys")
            .with_description("This organization's provider keys: provider, scope, status (no secret, ever)")
            .with_mime_type("application/json"),
        Resource::new(AI_SETTINGS, "ai-settings")
            .with_description("This organization's AI settings: enabled, default tone, key_rotation_days (provider keys older than this are rotation_due)")
            .with_mime_type("application/json"),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{USAGE_PREFIX}{{month}}"), "usage")
            .with_description("Token usage of a month (YYYY-MM, UTC) and the plan's allowance")
            .with_mime_type("application/json"),
    ]
}

/// Why a resource cannot be read: no such resource, or the core refused.
pub enum ReadError {
    Unknown,
    Core(Error),
}

/// The JSON text of the resource at `uri`, read as `caller`.
pub async fn read(core: &Core, caller: &Caller, uri: &str) -> Result<ResourceContents, ReadError> {
    let json = if uri == PROVIDER_KEYS {
        let keys = core.list_provider_keys(caller, ProviderKeyFilter::default()).await.map_err(ReadError::Core)?;
        serde_json::json!({"data": keys})
    } else if uri == AI_SETTINGS {
        serde_json::to_value(core.ai_settings(caller).await.map_err(ReadError::Core)?).unwrap_or_default()
    } else if let Some(month) = uri.strip_prefix(USAGE_PREFIX) {
        let report =
            core.spend().usage(caller, UsageQuery { month: Some(month.to_owned()) }).await.map_err(ReadError::Core)?;
        serde_json::to_value(report).unwrap_or_default()
    } else {
        return Err(ReadError::Unknown);
    };
    Ok(ResourceContents::text(json.to_string(), uri).with_mime_type("application/json"))
}
