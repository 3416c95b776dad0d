//! Provider-key health as traffic and re-tests observe it, and the filter on it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::KeyStatus;

/// A provider key's live health, from real traffic and the background re-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// No completion has used the key yet.
    Unknown,
    /// The provider accepted the key on its last use.
    Ok,
    /// The provider rejected the key itself ("Invalid API key").
    InvalidKey,
    /// The provider account behind the key is out of credits ("Quota exceeded").
    QuotaExceeded,
}

impl HealthStatus {
    /// The status's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::InvalidKey => "invalid_key",
            Self::QuotaExceeded => "quota_exceeded",
        }
    }

    /// Whether the key is flagged: it fails in live traffic until it is replaced, topped up
    /// or passes a re-test.
    pub fn is_failing(self) -> bool {
        matches!(self, Self::InvalidKey | Self::QuotaExceeded)
    }
}

/// The health of a provider key: live status, failures, and its age against the
/// organization's rotation period. Distinct from `last_test`, the manual test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealth {
    /// Live status from real traffic (and the background re-test).
    pub status: HealthStatus,
    /// When the key entered this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Consecutive failures since the key was last seen working.
    pub consecutive_failures: u64,
    /// The last failure the provider answered for this key (a `permission_denied` is shown
    /// here without flagging the key: it can be one model the key may not use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<KeyStatus>,
    /// When that failure happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
    /// When a completion last succeeded with the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    /// When the background re-test next checks a failing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retest_at: Option<String>,
    /// Whole days since the secret was stored (added or replaced).
    pub age_days: u64,
    /// The key is older than the organization's rotation period (`key_rotation_days`).
    pub rotation_due: bool,
}

/// `health=` filter of `GET /api/v1/provider-keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthFilter {
    /// Keys that fail in live traffic (`invalid_key`, `quota_exceeded`).
    Failing,
    /// Keys not failing (`ok` or `unknown`).
    Healthy,
    /// Keys older than the organization's rotation period.
    RotationDue,
}

impl std::str::FromStr for HealthFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "failing" => Ok(Self::Failing),
            "healthy" => Ok(Self::Healthy),
            "rotation_due" => Ok(Self::RotationDue),
            other => Err(format!("unknown health `{other}`: expected failing, healthy or rotation_due")),
        }
    }
}

impl HealthFilter {
    /// Whether a key with `health` passes the filter.
    pub fn matches(self, health: &KeyHealth) -> bool {
        match self {
            Self::Failing => health.status.is_failing(),
            Self::Healthy => !health.status.is_failing(),
            Self::RotationDue => health.rotation_due,
        }
    }
}
