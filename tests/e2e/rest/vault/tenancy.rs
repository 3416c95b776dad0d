//! Tenancy: another organization's provider key and project ids answer 404.

use super::*;

#[tokio::test]
async fn another_organization_s_provider_key_and_project_ids_answer_404() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    let a_key = id_of(
        &app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web}))
            .await,
    );
    let b = app.new_org("bcorp", Plan::Free).await;
    let missing = "pk_0190000000007000800000000000abcd";

    let send = |method: Method, id: &str, suffix: &str, body: Option<Value>| {
        let mut request = app.request(method, &format!("/api/v1/provider-keys/{id}{suffix}"), &b);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { Answer::of(request.send().await.unwrap()).await }
    };
    let put = Some(json!({"api_key": SECOND_OPENAI}));
    let routes: [(Method, &str, Option<Value>); 5] = [
        (Method::GET, "", None),
        (Method::PUT, "", put),
        (Method::DELETE, "", None),
        (Method::POST, "/activate", Some(json!({}))),
        (Method::POST, "/test", Some(json!({}))),
    ];
    for (method, suffix, body) in routes {
        let foreign = send(method.clone(), &a_key, suffix, body.clone()).await;
        let absent = send(method.clone(), missing, suffix, body).await;
        foreign.assert_error(404, "NOT_FOUND", "Provider key not found");
        assert_eq!(foreign.text, absent.text, "{method} {suffix}");
    }
    assert!(requests_to(&mocks, Provider::Openai).await.is_empty(), "B's test never reached the provider with A's key");

    // A's project is not B's to use.
    let added =
        app.try_add_provider_key(&b, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web})).await;
    added.assert_error(404, "NOT_FOUND", "Project not found");
    let resolved = app.get(&format!("/api/v1/provider-keys/resolve?provider=openai&project_id={web}"), &b).await;
    resolved.assert_error(404, "NOT_FOUND", "Project not found");
    let filtered = list(&app, &b, &format!("?project_id={web}")).await;
    assert!(filtered.is_empty());
    assert!(list(&app, &b, "").await.is_empty(), "B sees none of A's keys");

    // A's key is untouched.
    let kept = app.get(&format!("/api/v1/provider-keys/{a_key}"), &app.api_key).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["masked"], "sk-proj-…wxyz");
    assert_eq!(kept.body["active"], true);
    assert_eq!(kept.body["status"], "untested");
}
