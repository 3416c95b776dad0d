use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Environment, Provider};

/// `POST /api/v1/provider-keys/connect-links`: ask for a one-time link where a signed-in
/// admin or owner pastes the secret in the browser, so it never passes through a program,
/// an agent or its transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectLink {
    /// `openai`, `anthropic`, `gemini` or `deepseek`.
    pub provider: Provider,
    /// The name the key will have, e.g. "Production".
    pub name: String,
    /// Store the key for one project instead of the whole organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `live` or `test`; defaults to the calling API key's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

impl CreateConnectLink {
    /// A link for an organization-wide `provider` key named `name`, in the caller's environment.
    pub fn new(provider: Provider, name: impl Into<String>) -> Self {
        Self { provider, name: name.into(), project_id: None, environment: None }
    }

    /// The key will belong to a project.
    pub fn project(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// The key will be for another environment than the caller's.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = Some(environment);
        self
    }
}

/// A one-time connect link: single use, 10 minutes. Opening it grants nothing: the page asks
/// a signed-in admin or owner of the same organization to paste the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectLink {
    /// `CONVERRA_PUBLIC_URL/connect/<token>`.
    pub url: String,
    /// When the link stops working.
    pub expires_at: String,
    /// The provider the key will be for.
    pub provider: Provider,
    /// The name the key will have.
    pub name: String,
    /// The project, for a project key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The environment the key will serve.
    pub environment: Environment,
}
