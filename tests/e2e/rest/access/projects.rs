//! Projects: created, listed, read and deleted by admins.

use super::*;

#[tokio::test]
async fn projects_are_created_listed_read_and_deleted_by_admins() {
    let app = spawn_app().await;
    let created = app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = str_of(&created.body, "id").to_owned();
    assert_eq!(created.body["name"], "Website");
    assert!(created.body["created_at"].is_string());
    app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await.assert_code(409, "CONFLICT");
    app.post("/api/v1/projects", &app.api_key, json!({"name": "  "})).await.assert_code(400, "VALIDATION_ERROR");

    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    app.post("/api/v1/projects", &member, json!({"name": "Mine"})).await.assert_code(403, "FORBIDDEN");
    app.delete(&format!("/api/v1/projects/{id}"), &member).await.assert_code(403, "FORBIDDEN");
    // Members may read them.
    assert_eq!(ids(&app.get("/api/v1/projects", &member).await), std::slice::from_ref(&id));
    let got = app.get(&format!("/api/v1/projects/{id}"), &member).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);

    assert_eq!(app.delete(&format!("/api/v1/projects/{id}"), &app.api_key).await.status, 204);
    app.get(&format!("/api/v1/projects/{id}"), &app.api_key).await.assert_error(404, "NOT_FOUND", "Project not found");
    app.delete(&format!("/api/v1/projects/{id}"), &app.api_key).await.assert_code(404, "NOT_FOUND");
    assert!(ids(&app.get("/api/v1/projects", &app.api_key).await).is_empty());
}
