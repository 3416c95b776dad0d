//! The audit log records creations, revocations and role changes, without secrets.

use super::*;

#[tokio::test]
async fn the_audit_log_records_creations_revocations_and_role_changes_without_secrets() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let (key_id, secret) = create_api_key(&app, &app.api_key, json!({"name": "ci", "environment": "live"})).await;
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), &app.api_key).await.status, 204);
    assert_eq!(
        app.patch(&format!("/api/v1/members/{member_id}"), &app.api_key, json!({"role": "admin"})).await.status,
        200
    );
    let project_id = create_project(&app, &app.api_key, "audited").await;

    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    assert_eq!(events.status, 200, "{}", events.text);
    let list = events.body["data"].as_array().unwrap();
    let find = |action: &str, object: &str| {
        list.iter()
            .find(|e| e["action"] == action && e["object_id"] == object)
            .unwrap_or_else(|| panic!("no {action} event for {object} in {}", events.text))
            .clone()
    };
    let created = find("api_key.created", &key_id);
    assert_eq!(created["object_type"], "api_key");
    assert_eq!(created["actor"]["member_id"], app.owner_id.as_str());
    assert!(created["created_at"].is_string());
    find("api_key.revoked", &key_id);
    let changed = find("member.role_changed", &member_id);
    assert_eq!(changed["detail"]["from"], "member");
    assert_eq!(changed["detail"]["to"], "admin");
    find("member.created", &member_id);
    find("project.created", &project_id);
    for s in [&secret, &member, &app.api_key] {
        assert!(!events.text.contains(s.as_str()), "a secret is in the audit log");
        assert!(!events.text.contains(&s[14..40]), "part of a secret is in the audit log");
    }

    // The promoted admin may read it; a member may not.
    assert_eq!(app.get("/api/v1/audit-events", &member).await.status, 200);
    let (_, plain) = app.member_key(&app.api_key, "p@example.com", "member").await;
    app.get("/api/v1/audit-events", &plain).await.assert_code(403, "FORBIDDEN");
}
