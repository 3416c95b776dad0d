//! Budgets: a monthly limit in dollars on the organization, a project, an API key or a member
//! (optionally one model of a project), with a soft threshold that warns and a hard limit that
//! refuses completions before anything is sent to the provider.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a budget applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// Every completion of the organization.
    Organization,
    /// The completions that name the project (`X-Converra-Project`, `project_id`).
    Project,
    /// The completions made with one API key.
    ApiKey,
    /// The completions made with any API key of one member.
    Member,
}

impl BudgetScope {
    /// Every scope, narrowest last.
    pub const ALL: [BudgetScope; 4] = [Self::Organization, Self::Project, Self::ApiKey, Self::Member];

    /// As on the wire: `organization`, `project`, `api_key`, `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Project => "project",
            Self::ApiKey => "api_key",
            Self::Member => "member",
        }
    }

    /// How it reads in a sentence: "the organization's", "project prj_1's".
    pub fn label(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Project => "project",
            Self::ApiKey => "API key",
            Self::Member => "member",
        }
    }
}

impl std::str::FromStr for BudgetScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown budget scope `{s}`: organization, project, api_key or member"))
    }
}

/// Body of `PUT /api/v1/budgets`: sets (or replaces) the budget of a scope (and model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudget {
    /// Where it applies.
    pub scope: BudgetScope,
    /// The project, API key or member id; absent for the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// One model the limit applies to alone (`provider/model`, project budgets only); absent:
    /// every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The hard limit for a calendar month (UTC), in micro-dollars (1,000,000 = 1 USD).
    pub limit_micro_usd: u64,
    /// Percent of the limit at which the `budget.threshold` webhook fires and the banner shows;
    /// 80 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_percent: Option<u8>,
}

/// Query of `DELETE /api/v1/budgets`: the budget of a scope (and model) to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetTarget {
    /// Where it applies.
    pub scope: BudgetScope,
    /// The project, API key or member id; absent for the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// The one model it limits (`provider/model`); absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A budget with this month's spend against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Budget {
    /// Where it applies.
    pub scope: BudgetScope,
    /// The project, API key or member id; absent for the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// The one model it limits; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The hard limit per calendar month (UTC), micro-dollars.
    pub limit_micro_usd: u64,
    /// Percent of the limit at which it warns.
    pub threshold_percent: u8,
    /// What the month's settled completions in its scope cost, micro-dollars.
    pub spent_micro_usd: u64,
    /// What the completions in flight in its scope have reserved, micro-dollars.
    pub reserved_micro_usd: u64,
    /// When the month ends and the spend starts again from 0 (RFC 3339, UTC).
    pub resets_at: String,
    /// Whether spent + reserved has reached the threshold (the banner shows).
    pub over_threshold: bool,
    /// Whether spent + reserved has reached the limit (completions in its scope are refused).
    pub exhausted: bool,
    /// When it was last set (RFC 3339, UTC).
    pub updated_at: String,
}

impl Budget {
    /// Where it applies in a few words: "organization", "project prj_1 on openai/gpt-4o".
    pub fn scope_text(&self) -> String {
        scope_words(self.scope, self.scope_id.as_deref(), self.model.as_deref())
    }
}

/// A budget's scope in a few words: "organization", "project prj_1", "project prj_1 on
/// openai/gpt-4o".
pub fn scope_words(scope: BudgetScope, scope_id: Option<&str>, model: Option<&str>) -> String {
    let mut text = scope.label().to_owned();
    if let Some(id) = scope_id {
        text.push(' ');
        text.push_str(id);
    }
    if let Some(model) = model {
        text.push_str(" on ");
        text.push_str(model);
    }
    text
}

/// The budget that refused a completion (`BUDGET_EXCEEDED`, status 402), beside the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetRefusal {
    /// Where the refusing budget applies.
    pub scope: BudgetScope,
    /// The project, API key or member id; absent for the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// The one model it limits; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its limit for the month, micro-dollars.
    pub limit_micro_usd: u64,
    /// Spent this month plus reserved by the completions in flight, micro-dollars.
    pub spent_micro_usd: u64,
    /// When the limit resets (the next month's start, RFC 3339, UTC).
    pub resets_at: String,
    /// The most the refused call could have cost (its prompt and its output cap, or the model's
    /// longest output when it gave none): what it needed room for. Absent when it has no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_max_micro_usd: Option<u64>,
}

impl BudgetRefusal {
    /// Where the refusing budget applies, in a few words.
    pub fn scope_text(&self) -> String {
        scope_words(self.scope, self.scope_id.as_deref(), self.model.as_deref())
    }
}

/// Micro-dollars as dollars to the micro-dollar: `$1.250000`.
pub fn usd_text(micro: u64) -> String {
    format!("${}", usd_decimal(micro))
}

/// Micro-dollars as a decimal number of dollars, without the sign: `1.250000` (the
/// `X-Converra-Cost-Usd` header's form).
pub fn usd_decimal(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// Dollars written by a person (`50`, `12.5`, `$0.25`) as micro-dollars; `None` when it is not
/// an amount (negative, more than six decimals, not a number).
pub fn parse_usd(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('$');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_read_to_the_micro_dollar_and_nothing_else_does() {
        assert_eq!(parse_usd("50"), Some(50_000_000));
        assert_eq!(parse_usd("$12.5"), Some(12_500_000));
        assert_eq!(parse_usd("0.000001"), Some(1));
        assert_eq!(parse_usd(".25"), Some(250_000));
        for bad in ["", "-1", "1.0000001", "ten", "1,5", "."] {
            assert_eq!(parse_usd(bad), None, "{bad}");
        }
        assert_eq!(usd_text(12_500_000), "$12.500000");
    }

    #[test]
    fn a_scope_reads_with_its_id_and_model() {
        let budget = Budget {
            scope: BudgetScope::Project,
            scope_id: Some("prj_1".into()),
            model: Some("openai/gpt-4o".into()),
            limit_micro_usd: 1,
            threshold_percent: 80,
            spent_micro_usd: 0,
            reserved_micro_usd: 0,
            resets_at: String::new(),
            over_threshold: false,
            exhausted: false,
            updated_at: String::new(),
        };
        assert_eq!(budget.scope_text(), "project prj_1 on openai/gpt-4o");
        assert_eq!("api_key".parse::<BudgetScope>(), Ok(BudgetScope::ApiKey));
        assert!("team".parse::<BudgetScope>().is_err());
    }
}
