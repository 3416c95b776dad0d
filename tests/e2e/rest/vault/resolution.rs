//! Resolution: the project key, then the organization key, within the caller's environment,
//! then the operator's platform key where configured.

use super::*;

async fn resolve(app: &TestApp, key: &str, provider: &str, project: Option<&str>) -> (String, Option<String>) {
    let query = match project {
        Some(p) => format!("?provider={provider}&project_id={p}"),
        None => format!("?provider={provider}"),
    };
    let answer = app.get(&format!("/api/v1/provider-keys/resolve{query}"), key).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.body["reason"].as_str().is_some_and(|r| !r.is_empty()), "a reason: {}", answer.text);
    (str_of(&answer.body, "source").to_owned(), answer.body["key_id"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn resolution_prefers_the_project_key_then_the_organization_key_within_the_caller_s_environment() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let test = app.api_key.clone();
    let live = app.post("/api/v1/api-keys", &test, json!({"name": "prod", "environment": "live"})).await;
    let live = str_of(&live.body, "key").to_owned();
    let p1 = project(&app, &test, "p1").await;
    let p2 = project(&app, &test, "p2").await;
    let none = ("none".to_owned(), None);
    let org = |id: &str| ("organization".to_owned(), Some(id.to_owned()));
    let proj = |id: &str| ("project".to_owned(), Some(id.to_owned()));
    let openai = valid_key(Provider::Openai);

    // Nothing configured, no platform key.
    for key in [&test, &live] {
        assert_eq!(resolve(&app, key, "openai", None).await, none);
        assert_eq!(resolve(&app, key, "openai", Some(&p1)).await, none);
    }

    // An organization test key serves test callers only.
    let org_test = id_of(&app.add_provider_key(&test, Provider::Openai, openai, json!({"environment": "test"})).await);
    assert_eq!(resolve(&app, &test, "openai", None).await, org(&org_test));
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, org(&org_test));
    assert_eq!(resolve(&app, &live, "openai", None).await, none, "a live key never spends a test provider key");
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, none);

    // A project test key overrides it in that project only.
    let p1_test = id_of(
        &app.add_provider_key(&test, Provider::Openai, openai, json!({"environment": "test", "project_id": p1})).await,
    );
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test));
    assert_eq!(resolve(&app, &test, "openai", Some(&p2)).await, org(&org_test));
    assert_eq!(resolve(&app, &test, "openai", None).await, org(&org_test));
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, none);

    // A project live key with no organization live key.
    let p1_live = id_of(
        &app.add_provider_key(&test, Provider::Openai, openai, json!({"environment": "live", "project_id": p1})).await,
    );
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, proj(&p1_live));
    assert_eq!(resolve(&app, &live, "openai", Some(&p2)).await, none);
    assert_eq!(resolve(&app, &live, "openai", None).await, none);
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test), "a test key never spends a live key");

    // An organization live key.
    let org_live = id_of(&app.add_provider_key(&live, Provider::Openai, openai, json!({})).await);
    assert_eq!(
        list(&app, &live, "").await.iter().find(|k| k["id"] == org_live.as_str()).unwrap()["environment"],
        "live"
    );
    assert_eq!(resolve(&app, &live, "openai", None).await, org(&org_live));
    assert_eq!(resolve(&app, &live, "openai", Some(&p2)).await, org(&org_live));
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, proj(&p1_live));

    // Another provider resolves separately.
    assert_eq!(resolve(&app, &test, "anthropic", Some(&p1)).await, none);

    // An inactive project key does not resolve; the newly added one does.
    let p1_test_2 = id_of(
        &app.add_provider_key(&test, Provider::Openai, SECOND_OPENAI, json!({"environment": "test", "project_id": p1}))
            .await,
    );
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test_2));

    // Removing the organization test key leaves p2's test callers with nothing.
    assert_eq!(app.delete(&format!("/api/v1/provider-keys/{org_test}"), &test).await.status, 204);
    assert_eq!(resolve(&app, &test, "openai", Some(&p2)).await, none);
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test_2));
    assert_eq!(resolve(&app, &live, "openai", Some(&p2)).await, org(&org_live));

    // Listing filters by environment.
    let live_keys = list(&app, &test, "?environment=live").await;
    assert!(live_keys.iter().all(|k| k["environment"] == "live") && live_keys.len() == 2, "{live_keys:?}");
    let p1_keys = list(&app, &test, &format!("?project_id={p1}")).await;
    assert_eq!(p1_keys.len(), 3, "{p1_keys:?}");

    // An unknown provider is a 400 naming the four.
    let answer = app.get("/api/v1/provider-keys/resolve?provider=mistral", &test).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.text.contains("deepseek"), "{}", answer.text);
}

#[tokio::test]
async fn the_platform_key_is_the_fallback_only_where_the_operator_configured_one() {
    let mocks = MockProviders::start().await;
    let platform = "sk-platformOPERATORkey0123456789pppp";
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        platform_keys: HashMap::from([(Provider::Openai, platform.to_owned())]),
        ..Default::default()
    })
    .await;
    let answer = app.get("/api/v1/provider-keys/resolve?provider=openai", &app.api_key).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["source"], "platform");
    assert!(answer.body["key_id"].is_null() || answer.body.get("key_id").is_none(), "{}", answer.text);
    assert!(!answer.text.contains(platform) && !answer.text.contains("OPERATORkey"), "{}", answer.text);
    assert_eq!(resolve(&app, &app.api_key, "anthropic", None).await, ("none".to_owned(), None));

    let own =
        id_of(&app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    assert_eq!(resolve(&app, &app.api_key, "openai", None).await, ("organization".to_owned(), Some(own)));
    for path in ["/api/v1/provider-keys", "/api/v1/audit-events"] {
        let answer = app.get(path, &app.api_key).await;
        assert!(!answer.text.contains("OPERATORkey"), "{path}: {}", answer.text);
    }
}
