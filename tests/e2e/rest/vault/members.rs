//! Members see provider keys' status only and are refused every change.

use super::*;

#[tokio::test]
async fn members_see_status_only_and_are_refused_every_change() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let web = project(&app, &app.api_key, "web").await;
    let org_key =
        id_of(&app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let project_key = app
        .add_provider_key(&app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), json!({"project_id": web}))
        .await;
    assert_eq!(test_key(&app, &app.api_key, &org_key).await.body["status"], "ok");
    let calls_before = requests_to(&mocks, Provider::Openai).await.len();

    let seen = list(&app, &member, "").await;
    assert_eq!(seen.len(), 2);
    for key in &seen {
        let mut fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        // `project_id` is there for a project's key and absent (not null) for the organization's.
        fields.retain(|f| *f != "project_id");
        assert_eq!(fields, ["active", "environment", "health", "id", "provider", "scope", "status"], "{key}");
    }
    let org_seen = seen.iter().find(|k| k["id"] == org_key.as_str()).unwrap();
    assert_eq!(org_seen["status"], "ok");
    assert_eq!(org_seen["scope"], "organization");
    let project_seen = seen.iter().find(|k| k["id"] == project_key["id"]).unwrap();
    assert_eq!(project_seen["scope"], "project");
    assert_eq!(project_seen["project_id"], web.as_str());

    let key_path = format!("/api/v1/provider-keys/{org_key}");
    let refused = [
        app.post(
            "/api/v1/provider-keys",
            &member,
            json!({"provider": "gemini", "name": "g", "api_key": valid_key(Provider::Gemini)}),
        )
        .await,
        app.get(&key_path, &member).await,
        app.put(&key_path, &member, json!({"api_key": SECOND_OPENAI})).await,
        app.delete(&key_path, &member).await,
        app.post(&format!("{key_path}/activate"), &member, json!({})).await,
        app.post(&format!("{key_path}/test"), &member, json!({})).await,
    ];
    for answer in &refused {
        answer.assert_code(403, "FORBIDDEN");
    }
    assert_eq!(
        requests_to(&mocks, Provider::Openai).await.len(),
        calls_before,
        "the member's test reached no provider"
    );
    let after = app.get(&key_path, &app.api_key).await;
    assert_eq!(after.body["masked"], "sk-proj-…wxyz", "unchanged");
    assert_eq!(after.body["active"], true);
    assert_eq!(list(&app, &app.api_key, "").await.len(), 2, "nothing added or removed");

    // Everybody may ask which key a completion would use, but a member gets no preview.
    let resolved =
        app.get(&format!("/api/v1/provider-keys/resolve?provider=anthropic&project_id={web}"), &member).await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.body["source"], "project");
    assert!(resolved.body.get("masked").is_none_or(Value::is_null), "{}", resolved.text);

    // An admin manages keys.
    let (_, admin) = app.member_key(&app.api_key, "a@example.com", "admin").await;
    let by_admin = app.try_add_provider_key(&admin, Provider::Gemini, valid_key(Provider::Gemini), json!({})).await;
    assert_eq!(by_admin.status, 201, "{}", by_admin.text);
    assert_eq!(app.get(&key_path, &admin).await.status, 200);
}
