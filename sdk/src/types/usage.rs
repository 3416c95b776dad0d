//! Usage reports: a month's token totals and cost by provider, model, key source, project, API
//! key, member and outcome, the month's forecast, its budgets and the platform allowance.

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
    /// Prompt tokens the provider read from its cache (a part of `input_tokens`); 0 from
    /// a server that does not count it yet.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens the provider wrote to its cache (a part of `input_tokens`; Anthropic).
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Answer tokens spent reasoning (a part of `output_tokens`).
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// What the priced completions cost, in micro-dollars (1,000,000 = 1 USD), by the price
    /// table in force when each ran (`prices/`). Completions without a price are not in it.
    #[serde(default)]
    pub cost_micro_usd: u64,
    /// Completions the price table had no price for (`converra prices check` names the models).
    #[serde(default)]
    pub unpriced_requests: u64,
    /// Whether `cost_micro_usd` is the whole cost: every completion here had a price. False
    /// from a server that does not compute costs.
    #[serde(default)]
    pub cost_known: bool,
}

impl UsageTotals {
    /// The cost in dollars to the micro-dollar (agents' calls cost fractions of a cent), with
    /// a `+` when some completions had no price: `$0.000241`, `$1.250000+`.
    pub fn cost_text(&self) -> String {
        let more = if self.cost_known { "" } else { "+" };
        format!("{}{more}", super::usd_text(self.cost_micro_usd))
    }
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
    /// By the API key that made them (its id). Empty from a server that does not report it.
    #[serde(default)]
    pub by_api_key: Vec<UsageGroup>,
    /// By the member whose API key made them (the member's id). Empty from a server that does
    /// not report it.
    #[serde(default)]
    pub by_member: Vec<UsageGroup>,
    /// Every completion attempted, by outcome: `ok`, or the failure's code (`provider_error`,
    /// `invalid_key`, `rate_limited`, …). The others are counted in `requests` here only:
    /// `totals` and the other groupings are the completions that succeeded. Empty from a
    /// server that does not report it.
    #[serde(default)]
    pub by_outcome: Vec<UsageGroup>,
    /// The plan's allowance of platform tokens; absent where the operator configured no
    /// platform key, so there is no allowance to spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance: Option<Allowance>,
    /// For the current month: what it will cost at the rate spent so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<SpendForecast>,
    /// The organization's budgets with the chosen month's spend against each (reserved spend
    /// only for the current month).
    #[serde(default)]
    pub budgets: Vec<super::Budget>,
}

/// The month's cost at the rate spent so far: spent ÷ the part of the month gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpendForecast {
    /// The forecast cost of the whole month, micro-dollars (of the priced completions).
    pub cost_micro_usd: u64,
    /// How much of the month has gone, in thousandths (500 = half).
    pub elapsed_permille: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cost_reads_in_dollars_to_the_micro_dollar_and_says_when_it_is_a_floor() {
        let priced = UsageTotals { cost_micro_usd: 1_250_241, cost_known: true, ..UsageTotals::default() };
        assert_eq!(priced.cost_text(), "$1.250241");
        let floor = UsageTotals { cost_micro_usd: 241, unpriced_requests: 2, ..UsageTotals::default() };
        assert_eq!(floor.cost_text(), "$0.000241+");
    }

    #[test]
    fn totals_from_a_server_that_counts_no_cached_or_reasoning_tokens_still_parse() {
        let older: UsageTotals =
            serde_json::from_str(r#"{"requests":2,"input_tokens":24,"output_tokens":10}"#).unwrap();
        assert_eq!(older, UsageTotals { requests: 2, input_tokens: 24, output_tokens: 10, ..UsageTotals::default() });
        let group: UsageGroup =
            serde_json::from_str(r#"{"key":"openai","requests":1,"input_tokens":20,"output_tokens":9,"cache_read_tokens":8,"cache_write_tokens":0,"reasoning_tokens":3}"#)
                .unwrap();
        assert_eq!((group.totals.cache_read_tokens, group.totals.reasoning_tokens), (8, 3));
    }
}
