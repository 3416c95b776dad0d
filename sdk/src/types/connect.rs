//! Connect links: a one-time page where a person adds a provider key, and MCP's add-or-link answer.

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

/// MCP `add_provider_key`'s arguments: [`AddProviderKey`](super::AddProviderKey) whose
/// `api_key` may be left out. Without it the tool answers with a [`ConnectLink`] for the user
/// to open, so the secret never passes through the model (the recommended path).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddProviderKeyOrLink {
    /// `openai`, `anthropic`, `gemini` or `deepseek`.
    pub provider: Provider,
    /// A descriptive name, e.g. "OpenAI-Production".
    pub name: String,
    /// Leave this out (recommended): the answer is then a one-time link where the user pastes
    /// the key in the browser. Given, the secret travels through this conversation.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub api_key: Option<secrecy::SecretString>,
    /// Store the key for one project instead of the whole organization.
    #[serde(default)]
    pub project_id: Option<String>,
    /// `live` or `test`; defaults to the calling API key's environment.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// With `api_key`: test the key with the provider first and store nothing if it fails.
    /// (On a link's page the user chooses.)
    #[serde(default)]
    pub test: bool,
}

impl std::fmt::Debug for AddProviderKeyOrLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddProviderKeyOrLink")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("project_id", &self.project_id)
            .field("environment", &self.environment)
            .field("test", &self.test)
            .finish()
    }
}

/// MCP `add_provider_key`'s answer: the stored key (its fields, as `list_provider_keys` shows
/// it), or, without `api_key`, the connect link and what to do with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderKeyOrLink {
    /// The stored key, when `api_key` was given.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub key: Option<super::ProviderKey>,
    /// The one-time link, when `api_key` was left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_link: Option<ConnectLink>,
    /// What to tell the user, with a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}
