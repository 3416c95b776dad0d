use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Query of `GET /api/v1/usage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Calendar month (UTC) as `YYYY-MM`; defaults to the current month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

/// Totals for one group of completions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsageTotals {
    /// Completions run.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// Totals for one value of a grouping (a provider, a model, a key source or a project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsageGroup {
    /// The group's value, e.g. `openai`; absent for "no project".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// The plan's monthly token allowance, spent only by completions on the platform's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Allowance {
    /// Tokens included in the plan this month.
    pub limit: u64,
    /// Tokens spent on the platform key this month.
    pub used: u64,
    /// What is left.
    pub remaining: u64,
}

/// The answer of `GET /api/v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageReport {
    /// The month reported, `YYYY-MM`.
    pub month: String,
    /// All completions of the month.
    pub totals: UsageTotals,
    /// By provider.
    pub by_provider: Vec<UsageGroup>,
    /// By model.
    pub by_model: Vec<UsageGroup>,
    /// By key source (`project`, `organization`, `platform`).
    pub by_key_source: Vec<UsageGroup>,
    /// By project (no `key` for completions outside any project).
    pub by_project: Vec<UsageGroup>,
    /// The plan's allowance of platform tokens; absent where the operator configured no
    /// platform key, so there is no allowance to spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance: Option<Allowance>,
}
