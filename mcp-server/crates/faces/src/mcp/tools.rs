//! The eight tools. Each is a few lines over the same core function the REST route calls:
//! permissions, validation and resolution live in the core, once. Tool names, parameter and
//! output schemas are part of the interface.
//!
//! rmcp's macros read types by their last path segment: the return type must be spelled
//! `Result<Json<T>, _>` (not an alias) for the `outputSchema`, and the arguments
//! `Parameters<T>` for the `inputSchema`.

use std::borrow::Cow;

use converra::{
    AddProviderKeyOrLink, Budget, Completion, CompletionRequest, List, ProviderKey, ProviderKeyFilter,
    ProviderKeyOrLink, Resolution, ResolveQuery, SetBudget, TestResult, UsageQuery, UsageReport,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::{Json, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::ConverraMcp;
use super::add_key::add_key_or_link;
use super::error::ToolError;
use super::extract::{Authenticated, Parameters};
use converra_core::Error;

/// Arguments of the tools that act on one stored provider key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyId {
    /// The provider key's id (`pk_…`), as `list_provider_keys` shows it.
    pub id: String,
}

/// The answer of `revoke_provider_key`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Removed {
    /// The removed provider key's id.
    pub id: String,
    /// Always `true`: the key and its encrypted secret are gone.
    pub removed: bool,
}

/// Arguments of `run_completion`: the body of `POST /api/v1/completions` (the same type, so
/// the two cannot drift) without `stream`, which does not apply to a tool call: the whole
/// answer comes back at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RunCompletion(CompletionRequest);

impl JsonSchema for RunCompletion {
    fn schema_name() -> Cow<'static, str> {
        "RunCompletion".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = CompletionRequest::json_schema(generator);
        if let Some(properties) =
            schema.as_object_mut().and_then(|s| s.get_mut("properties")).and_then(|p| p.as_object_mut())
        {
            properties.remove("stream");
        }
        schema
    }
}

impl TryFrom<RunCompletion> for CompletionRequest {
    type Error = Error;

    fn try_from(RunCompletion(request): RunCompletion) -> Result<Self, Error> {
        if request.stream {
            return Err(Error::validation(
                "stream",
                "run_completion returns the whole answer at once; `stream` is not one of its arguments",
            ));
        }
        Ok(request)
    }
}

#[tool_router(router = tool_router, vis = "pub(crate)")]
impl ConverraMcp {
    #[tool(
        description = "List the AI provider keys (OpenAI, Anthropic, Google Gemini, DeepSeek) stored in the caller's Converra organization. Use it to see which providers are configured, which key is active for each scope (organization or project) and environment (live or test), and each key's health: `status` is untested, ok, invalid_key, quota_exceeded, permission_denied, rate_limited, unreachable or provider_error (the last test or live call), and `health` is the live health from real traffic: `health.status` unknown, ok, invalid_key or quota_exceeded (a failing key: completions with it fail until it is replaced or topped up; Converra re-tests it in the background), with `since`, `consecutive_failures`, `last_error`, `last_success_at`, `age_days` and `rotation_due` (older than the organization's `key_rotation_days`: suggest rotating it). Filter with `health`: failing, healthy or rotation_due. All filters are optional. Returns `{data: [key, ...]}`. Secrets are never returned; admins and owners also see each key's name, masked preview and last test, members see the status only.",
        title = "List provider keys",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_provider_keys(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(filter): Parameters<ProviderKeyFilter>,
    ) -> Result<Json<List<ProviderKey>>, ToolError> {
        Ok(Json(self.core.list_provider_keys(&caller, filter?).await?.into()))
    }

    #[tool(
        description = "Add an AI provider key to the organization's encrypted vault (admins and owners). RECOMMENDED: leave `api_key` out. The answer is then a one-time link (`connect_link.url`, single use, 10 minutes) for the user to open in the browser, signed in as an admin or owner of this organization: they paste the key there and it is stored without the secret ever entering this conversation; give the user the link and, once they say it is done, call list_provider_keys to see the key. Choose `name`, `project_id` (omit for the whole organization) and `environment` (live or test) with the user first. The key becomes the active key of its slot (provider, organization or project, environment); the previously active key stays, inactive, until revoked, so a rotation has no gap. WARNING: with `api_key` given, the secret travels through this conversation (and whatever logs it): do that only when the user has chosen to give the key here. Then `test: true` checks the key with the provider first: if the test fails nothing is stored and the tool error says `stored: false` — KEY_REJECTED when the provider refused the key (`provider_status` invalid_key, permission_denied or quota_exceeded: ask the user for a working key), PROVIDER_ERROR with the `host` tried when the provider could not be reached or rate-limited the test. Returns the stored key as `list_provider_keys` shows it (masked, never the secret), or `connect_link` and `next_step`.",
        title = "Add a provider key",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn add_provider_key(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(request): Parameters<AddProviderKeyOrLink>,
    ) -> Result<Json<ProviderKeyOrLink>, ToolError> {
        Ok(Json(add_key_or_link(&self.core, &caller, request?).await?))
    }

    #[tool(
        description = "Check a stored provider key against its provider with a cheap authenticated call (listing models) and record the outcome on the key (admins and owners). Use it when a key is untested or suspect, or right after adding or rotating one. Returns `{status, message, tested_at, latency_ms}`; `status` is ok, invalid_key, quota_exceeded, permission_denied, rate_limited, unreachable or provider_error. A key that fails the check is a normal result, not a tool error.",
        title = "Test a provider key",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn test_provider_key(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(key): Parameters<KeyId>,
    ) -> Result<Json<TestResult>, ToolError> {
        Ok(Json(self.core.test_provider_key(&caller, &key?.id).await?))
    }

    #[tool(
        description = "Permanently remove a stored provider key and destroy its encrypted secret (admins and owners). From the next completion on, resolution falls back to the next source (the organization's key, then the platform allowance). This cannot be undone: confirm with the user first, and take the id from `list_provider_keys`. Returns `{id, removed: true}`.",
        title = "Revoke a provider key",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn revoke_provider_key(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(key): Parameters<KeyId>,
    ) -> Result<Json<Removed>, ToolError> {
        let id = key?.id;
        self.core.remove_provider_key(&caller, &id).await?;
        Ok(Json(Removed { id, removed: true }))
    }

    #[tool(
        description = "Explain which provider key a completion would use for a provider, optionally in a project, in the calling API key's environment: the project's active key, else the organization's, else the platform's key metered against the plan's monthly token allowance, else none (completions would fail with NO_PROVIDER_KEY). Use it to find out why a completion used, or lacked, a key. Returns `{source, key_id?, masked?, reason}` with `source` project, organization, platform or none.",
        title = "Resolve a provider key",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn resolve_provider_key(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(query): Parameters<ResolveQuery>,
    ) -> Result<Json<Resolution>, ToolError> {
        let query = query?;
        Ok(Json(self.core.explain_resolution(&caller, query.provider, query.project_id.as_deref()).await?))
    }

    #[tool(
        description = "Run a chat completion through Converra with the organization's own provider key (chosen as `resolve_provider_key` explains) and return the whole answer. Name the model as `provider/model` (e.g. `openai/gpt-4o-mini`, `anthropic/claude-sonnet-4-5`, `gemini/gemini-2.5-flash`, `deepseek/deepseek-chat`) or as a bare name with a known prefix. Usage is recorded for the organization. Returns `{id, provider, model, content, finish_reason, usage, key_source}`. Tool errors: NO_PROVIDER_KEY (no key and no allowance for that provider), AI_DISABLED, ALLOWANCE_EXHAUSTED, PROVIDER_ERROR with the provider's failure (\"Invalid API key\", \"Quota exceeded\", \"Permission denied\", ...).",
        title = "Run a completion",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn run_completion(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(request): Parameters<RunCompletion>,
    ) -> Result<Json<Completion>, ToolError> {
        Ok(Json(self.core.complete(&caller, request?.try_into()?).await?))
    }

    #[tool(
        description = "Report the organization's completions for one calendar month (UTC; the current month unless `month` is given as `YYYY-MM`): request, token and cost totals (`cost_micro_usd`, 1,000,000 = 1 USD; `cost_known` is false when some models had no price), broken down by provider, model, key source, project, API key and member; this month's spend forecast; every budget with its limit, spend and reset time; and the plan's platform-token allowance (`limit`, `used`, `remaining`). Use it for questions about volume, spend, budgets or how much allowance is left.",
        title = "Get usage",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_usage(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(query): Parameters<UsageQuery>,
    ) -> Result<Json<UsageReport>, ToolError> {
        Ok(Json(self.core.spend().usage(&caller, query?).await?))
    }

    #[tool(
        description = "Set (or replace) a monthly budget in USD micro-dollars (1,000,000 = 1 USD) on the organization, a project (optionally one `provider/model` of it), an API key or a member. Completions in its scope are refused with BUDGET_EXCEEDED (402) once the month's spend would pass the limit; at `threshold_percent` (80 by default) a `budget.threshold` webhook is sent once a month. Admins and owners only.",
        title = "Set budget",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn set_budget(
        &self,
        Authenticated(caller): Authenticated,
        Parameters(budget): Parameters<SetBudget>,
    ) -> Result<Json<Budget>, ToolError> {
        Ok(Json(self.core.spend().set_budget(&caller, budget?).await?))
    }
}
