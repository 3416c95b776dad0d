//! Rotation and update in place: the old key stays inactive until removed, and can come back.

use super::*;

#[tokio::test]
async fn rotation_keeps_the_old_key_inactive_until_removed_and_can_roll_back() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let owner = app.api_key.clone();
    let web = project(&app, &owner, "web").await;
    let project_key = id_of(
        &app.add_provider_key(&owner, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web})).await,
    );
    let gemini = id_of(&app.add_provider_key(&owner, Provider::Gemini, valid_key(Provider::Gemini), json!({})).await);

    let a = id_of(&app.add_provider_key(&owner, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let b_body = app.add_provider_key(&owner, Provider::Openai, SECOND_OPENAI, json!({})).await;
    let b = id_of(&b_body);
    assert_eq!(b_body["active"], true);
    assert_eq!(b_body["masked"], "sk-proj-…mnop");

    let active = |keys: &[Value]| -> HashMap<String, bool> {
        keys.iter().map(|k| (id_of(k), k["active"].as_bool().unwrap())).collect()
    };
    let resolved = |answer: Answer| -> String {
        assert_eq!(answer.status, 200, "{}", answer.text);
        str_of(&answer.body, "key_id").to_owned()
    };
    let all = active(&list(&app, &owner, "").await);
    assert!(all[&b], "the new key is active");
    assert!(!all[&a], "the old key is kept, inactive");
    assert!(all[&project_key], "another slot (a project) is untouched");
    assert!(all[&gemini], "another slot (a provider) is untouched");
    assert_eq!(resolved(app.get("/api/v1/provider-keys/resolve?provider=openai", &owner).await), b);

    // Roll back.
    let activated = app.post(&format!("/api/v1/provider-keys/{a}/activate"), &owner, json!({})).await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert_eq!(activated.body["active"], true);
    let all = active(&list(&app, &owner, "?provider=openai").await);
    assert_eq!((all[&a], all[&b], all[&project_key]), (true, false, true));
    assert_eq!(resolved(app.get("/api/v1/provider-keys/resolve?provider=openai", &owner).await), a);

    // Remove the rolled-back key.
    assert_eq!(app.delete(&format!("/api/v1/provider-keys/{b}"), &owner).await.status, 204);
    app.get(&format!("/api/v1/provider-keys/{b}"), &owner).await.assert_error(
        404,
        "NOT_FOUND",
        "Provider key not found",
    );
    let remaining = active(&list(&app, &owner, "").await);
    assert_eq!(remaining.len(), 3);
    assert_eq!((remaining[&a], remaining[&project_key], remaining[&gemini]), (true, true, true));
    assert_eq!(resolved(app.get("/api/v1/provider-keys/resolve?provider=openai", &owner).await), a);

    let events = app.get("/api/v1/audit-events", &owner).await;
    let actions: Vec<(String, String)> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (str_of(e, "action").to_owned(), str_of(e, "object_id").to_owned()))
        .collect();
    for (action, id) in [("provider_key.created", &b), ("provider_key.activated", &a), ("provider_key.removed", &b)] {
        assert!(actions.contains(&(action.to_owned(), id.clone())), "{action} {id} in {actions:?}");
    }
    let removed =
        events.body["data"].as_array().unwrap().iter().find(|e| e["action"] == "provider_key.removed").unwrap();
    assert_eq!(removed["detail"]["last_four"], "mnop");
    assert_no_secret(&events.text, &[valid_key(Provider::Openai), SECOND_OPENAI, valid_key(Provider::Gemini)]);
}

#[tokio::test]
async fn updating_a_key_replaces_its_secret_in_place() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let owner = app.api_key.clone();
    let created = app.add_provider_key(&owner, Provider::Openai, revoked_key(Provider::Openai), json!({})).await;
    let id = id_of(&created);
    assert_eq!(created["masked"], "sk-proj-…zzzz");
    assert_eq!(test_key(&app, &owner, &id).await.body["status"], "invalid_key");

    // A malformed replacement changes nothing.
    let refused =
        app.put(&format!("/api/v1/provider-keys/{id}"), &owner, json!({"api_key": valid_key(Provider::Gemini)})).await;
    refused.assert_code(400, "VALIDATION_ERROR");

    let updated = app
        .put(
            &format!("/api/v1/provider-keys/{id}"),
            &owner,
            json!({"api_key": valid_key(Provider::Openai), "name": "rotated"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["id"], id.as_str(), "same key, same id");
    assert_eq!(updated.body["masked"], "sk-proj-…wxyz");
    assert_eq!(updated.body["name"], "rotated");
    assert_eq!(updated.body["active"], true);
    assert_no_secret(&updated.text, &[valid_key(Provider::Openai), revoked_key(Provider::Openai)]);
    assert_eq!(list(&app, &owner, "").await.len(), 1, "replaced, not added");

    let tested = test_key(&app, &owner, &id).await;
    assert_eq!(tested.body["status"], "ok", "the new secret is the one used: {}", tested.text);
    let sent = requests_to(&mocks, Provider::Openai).await;
    let last = sent.last().expect("the provider was called");
    assert_eq!(last.headers.get("authorization").unwrap(), &format!("Bearer {}", valid_key(Provider::Openai)));
}
