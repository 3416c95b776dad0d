//! Data written before a restart is there after it.

use super::*;

#[tokio::test]
async fn data_written_before_a_restart_is_there_after() {
    let app = spawn_app().await;
    let project_id = create_project(&app, &app.api_key, "survives").await;
    let (member_id, member) = app.member_key(&app.api_key, "stays@example.com", "admin").await;
    let (revoked_id, revoked) = create_api_key(&app, &app.api_key, json!({"name": "gone"})).await;
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{revoked_id}"), &app.api_key).await.status, 204);
    assert_eq!(app.put("/api/v1/settings/ai", &app.api_key, json!({"tone": "casual"})).await.status, 200);

    let app = app.restart().await;
    assert_eq!(app.get(&format!("/api/v1/projects/{project_id}"), &app.api_key).await.body["name"], "survives");
    let me = app.get("/api/v1/me", &member).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["member"]["id"], member_id.as_str());
    assert_eq!(me.body["member"]["role"], "admin");
    assert_unauthorized(&app.get("/api/v1/me", &revoked).await, REVOKED);
    assert_eq!(app.get("/api/v1/settings/ai", &app.api_key).await.body["tone"], "casual");
    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    assert!(events.text.contains(&revoked_id), "audit events survive: {}", events.text);
}
