//! The vault: providers, provider keys with their scope and status, key tests, and key resolution.

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::Environment;

/// An AI provider whose keys Converra stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI (GPT).
    Openai,
    /// Anthropic (Claude).
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// DeepSeek.
    Deepseek,
}

impl Provider {
    /// Every provider, in display order.
    pub const ALL: [Provider; 4] = [Self::Openai, Self::Anthropic, Self::Gemini, Self::Deepseek];

    /// The provider's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Deepseek => "deepseek",
        }
    }

    /// The provider's name as people write it: `OpenAI`, `DeepSeek`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Openai => "OpenAI",
            Self::Anthropic => "Anthropic",
            Self::Gemini => "Gemini",
            Self::Deepseek => "DeepSeek",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provider `{s}`: expected openai, anthropic, gemini or deepseek"))
    }
}

/// Whether a provider key belongs to the whole organization or to one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Used by every project that has no key of its own.
    Organization,
    /// Used by one project, overriding the organization's key.
    Project,
}

/// The health of a provider key: the outcome of its last test or live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Never tested.
    Untested,
    /// The provider accepted the key.
    Ok,
    /// The provider rejected the key ("Invalid API key").
    InvalidKey,
    /// The provider account is out of credits ("Quota exceeded").
    QuotaExceeded,
    /// The key lacks access to the endpoint ("Permission denied").
    PermissionDenied,
    /// The provider is rate limiting the key.
    RateLimited,
    /// The provider could not be reached in time.
    Unreachable,
    /// The provider failed in another way.
    ProviderError,
}

impl KeyStatus {
    /// The status's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Untested => "untested",
            Self::Ok => "ok",
            Self::InvalidKey => "invalid_key",
            Self::QuotaExceeded => "quota_exceeded",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Unreachable => "unreachable",
            Self::ProviderError => "provider_error",
        }
    }

    /// The message users see for this status, in the help pages' wording.
    pub fn message(self) -> &'static str {
        match self {
            Self::Untested => "Not tested yet",
            Self::Ok => "Connection successful",
            Self::InvalidKey => "Invalid API key",
            Self::QuotaExceeded => "Quota exceeded",
            Self::PermissionDenied => "Permission denied",
            Self::RateLimited => "Rate limited by the provider",
            Self::Unreachable => "Provider unreachable",
            Self::ProviderError => "Provider error",
        }
    }
}

impl std::str::FromStr for KeyStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Untested,
            Self::Ok,
            Self::InvalidKey,
            Self::QuotaExceeded,
            Self::PermissionDenied,
            Self::RateLimited,
            Self::Unreachable,
            Self::ProviderError,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown key status `{s}`"))
    }
}

/// The result of testing a provider key against its provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResult {
    /// Outcome.
    pub status: KeyStatus,
    /// What the outcome means, in words for people.
    pub message: String,
    /// When the test ran.
    pub tested_at: String,
    /// How long the provider took to answer, in milliseconds.
    pub latency_ms: u64,
}

/// A stored provider key as listed. The secret is never returned. Members see only
/// `id`, `provider`, `scope`, `project_id`, `environment`, `active` and `status`: the other
/// fields are absent for them ("managed by workspace admins").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderKey {
    /// Provider key id (`pk_…`).
    pub id: String,
    /// The provider the key is for.
    pub provider: Provider,
    /// Organization- or project-wide.
    pub scope: KeyScope,
    /// The project, for project-scoped keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The environment whose API keys spend this key.
    pub environment: Environment,
    /// Whether this is the key in use for its slot (one active key per slot).
    pub active: bool,
    /// Health from the last test or live call.
    pub status: KeyStatus,
    /// Live health: status from real traffic, failures, age and rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::KeyHealth>,
    /// Descriptive name, e.g. "OpenAI-Production".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// First few characters, `…`, last four, e.g. `sk-proj-…wxyz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
    /// The last test's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test: Option<TestResult>,
    /// Member who added the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Member who last changed the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// When the key was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the key was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// `POST /api/v1/provider-keys`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddProviderKey {
    /// `openai`, `anthropic`, `gemini` or `deepseek`.
    pub provider: Provider,
    /// A descriptive name, e.g. "OpenAI-Production".
    pub name: String,
    /// The secret key from the provider's dashboard. Stored encrypted, never shown again.
    #[serde(serialize_with = "super::common::expose_once::serialize")]
    #[schemars(schema_with = "super::common::secret_schema")]
    pub api_key: SecretString,
    /// Store the key for one project instead of the whole organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `live` or `test`; defaults to the calling API key's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Test the key against the provider first and refuse to save it if the provider rejects it.
    #[serde(default)]
    pub test: bool,
}

impl AddProviderKey {
    /// A request for `provider` named `name` with secret `api_key`, organization-wide, in the
    /// caller's environment, not tested.
    pub fn new(provider: Provider, name: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            provider,
            name: name.into(),
            api_key: SecretString::from(api_key.into()),
            project_id: None,
            environment: None,
            test: false,
        }
    }

    /// Scope the key to a project.
    pub fn project(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// Store the key for an environment other than the caller's.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Test the key before saving it.
    pub fn test_first(mut self) -> Self {
        self.test = true;
        self
    }
}

impl std::fmt::Debug for AddProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddProviderKey")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("api_key", &"[REDACTED]")
            .field("project_id", &self.project_id)
            .field("environment", &self.environment)
            .field("test", &self.test)
            .finish()
    }
}

/// `PUT /api/v1/provider-keys/{id}`: replace the secret in place ("Update API Key").
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderKey {
    /// The new secret.
    #[serde(serialize_with = "super::common::expose_once::serialize")]
    #[schemars(schema_with = "super::common::secret_schema")]
    pub api_key: SecretString,
    /// A new name, if it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Test the new secret with the provider first and keep the old one if the test fails
    /// (the answer then says `stored: false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl UpdateProviderKey {
    /// A replacement secret, not tested.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self { api_key: SecretString::from(api_key.into()), name: None, test: false }
    }

    /// Test the new secret with the provider before it replaces the old one.
    pub fn test_first(mut self) -> Self {
        self.test = true;
        self
    }
}

impl std::fmt::Debug for UpdateProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateProviderKey")
            .field("api_key", &"[REDACTED]")
            .field("name", &self.name)
            .field("test", &self.test)
            .finish()
    }
}

/// Filters of `GET /api/v1/provider-keys`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderKeyFilter {
    /// Only keys for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Only keys of this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Only keys of this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Only keys in this health: `failing`, `healthy` or `rotation_due`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::HealthFilter>,
}

/// Query of `GET /api/v1/provider-keys/resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// The provider a completion would call.
    pub provider: Provider,
    /// The project the completion would run in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

/// Where a completion's provider key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The project's own key.
    Project,
    /// The organization's key.
    Organization,
    /// The platform's key, metered against the plan's monthly token allowance.
    Platform,
    /// No key at all: completions fail with `NO_PROVIDER_KEY`.
    None,
}

impl KeySource {
    /// The source's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Organization => "organization",
            Self::Platform => "platform",
            Self::None => "none",
        }
    }
}

/// The answer of `resolve`: which key a completion would use, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    /// Where the key comes from.
    pub source: KeySource,
    /// The provider key's id (project or organization source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The provider key's masked preview (admins and owners only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
    /// Why this source was chosen, in a sentence.
    pub reason: String,
}
