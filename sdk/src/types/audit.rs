//! The audit log: who did what (`Actor`), as `AuditEvent`s.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who did something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The member, when a person's key acted (absent for the operator's CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// Their email at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The API key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
}

/// One audit event. Never contains a secret: provider keys appear as id and last four.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEvent {
    /// Event id (`evt_…`).
    pub id: String,
    /// Who did it.
    pub actor: Actor,
    /// What was done, e.g. `provider_key.created`.
    pub action: String,
    /// The kind of object, e.g. `provider_key`.
    pub object_type: String,
    /// The object's id; empty for an attempt that created nothing (a provider key refused by
    /// its test on add: `outcome` `failure`, `detail.stored` false).
    pub object_id: String,
    /// Non-secret details (e.g. `last_four`, the new role, the test outcome).
    pub detail: serde_json::Value,
    /// `success` or `failure`.
    pub outcome: String,
    /// When it happened.
    pub created_at: String,
}
