//! AI settings: only owners change them.

use super::*;

#[tokio::test]
async fn only_owners_change_ai_settings() {
    let app = spawn_app().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;
    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;

    let initial = app.get("/api/v1/settings/ai", &member).await;
    assert_eq!(initial.status, 200);
    assert_eq!(initial.body["enabled"], true);

    app.put("/api/v1/settings/ai", &admin, json!({"enabled": false})).await.assert_code(403, "FORBIDDEN");
    app.put("/api/v1/settings/ai", &member, json!({"tone": "casual"})).await.assert_code(403, "FORBIDDEN");
    assert_eq!(app.get("/api/v1/settings/ai", &admin).await.body, initial.body, "the refused changes did nothing");

    let changed = app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": false, "tone": "friendly"})).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body, json!({"enabled": false, "tone": "friendly", "key_rotation_days": 90}));
    assert_eq!(app.get("/api/v1/settings/ai", &member).await.body, changed.body);
    app.put("/api/v1/settings/ai", &app.api_key, json!({"tone": "sarcastic"}))
        .await
        .assert_code(400, "VALIDATION_ERROR");

    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    assert!(
        events.body["data"].as_array().unwrap().iter().any(|e| e["action"] == "settings.ai_updated"),
        "{}",
        events.text
    );
}
