//! The webhook events of key health, as queued in the store's outbox. An event names the key
//! by id, provider, scope and last four characters: never a secret, never more of the key.

use converra::KeyStatus;
use serde_json::json;

use crate::ids;
use converra_store::{OutboxEvent, ProviderKeyRow};

/// What every event says about its key.
fn key_json(row: &ProviderKeyRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "organization_id": row.org_id,
        "provider": row.provider.as_str(),
        "scope": if row.project_id.is_some() { "project" } else { "organization" },
        "project_id": row.project_id,
        "environment": row.environment.as_str(),
        "name": row.name,
        "last_four": row.last_four,
    })
}

fn event(kind: &str, data: serde_json::Value) -> OutboxEvent {
    let id = ids::new_id("whe");
    let created_at = ids::unix_now();
    let body = json!({"id": id, "type": kind, "created_at": ids::now(), "data": data});
    OutboxEvent { id, body: body.to_string(), created_at, attempts: 0 }
}

/// `key.health_changed`: the key's live status changed (`reason`: `live_traffic`, `retest`
/// or `test`).
pub(super) fn health_changed(row: &ProviderKeyRow, status: KeyStatus, since: &str, reason: &str) -> OutboxEvent {
    let previous = row.health.status.map_or("unknown", KeyStatus::as_str);
    event(
        "key.health_changed",
        json!({
            "key": key_json(row),
            "status": status.as_str(),
            "previous_status": previous,
            "message": status.message(),
            "since": since,
            "reason": reason,
        }),
    )
}

/// `key.rotation_due`: the key's secret is older than its organization's rotation period.
pub(super) fn rotation_due(row: &ProviderKeyRow, age_days: u64, rotation_days: u32) -> OutboxEvent {
    event("key.rotation_due", json!({"key": key_json(row), "age_days": age_days, "rotation_days": rotation_days}))
}
