//! Adding provider keys: format checks, trimming, masking, and never the secret again.

use super::*;

#[tokio::test]
async fn each_provider_s_key_is_stored_trimmed_masked_and_never_shown_again() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let mut answers = Vec::new();
    for p in Provider::ALL {
        // Pasted with stray whitespace around it.
        let created = app.try_add_provider_key(&app.api_key, p, &format!("  {}\n\t", valid_key(p)), json!({})).await;
        assert_eq!(created.status, 201, "{p}: {}", created.text);
        let body = &created.body;
        assert_eq!(body["provider"], p.as_str());
        assert_eq!(body["masked"], expected_mask(p), "{p}");
        assert_eq!(body["scope"], "organization");
        assert_eq!(body["environment"], "test", "defaults to the caller's key environment");
        assert_eq!(body["active"], true);
        assert_eq!(body["status"], "untested");
        assert_eq!(body["name"], format!("{p} key"));
        for field in ["id", "created_at", "updated_at"] {
            assert!(body[field].is_string(), "{field} in {body}");
        }
        // The trimmed key is the one the provider receives: the test succeeds.
        let id = id_of(body);
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.body["status"], "ok", "{p}: {}", tested.text);
        answers.push(created);
        answers.push(app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await);
        answers.push(tested);
    }
    answers.push(app.get("/api/v1/provider-keys", &app.api_key).await);
    answers.push(app.get("/api/v1/provider-keys/resolve?provider=openai", &app.api_key).await);
    answers.push(app.get("/api/v1/audit-events", &app.api_key).await);
    let secrets: Vec<&str> = Provider::ALL.into_iter().map(valid_key).collect();
    for answer in &answers {
        assert_no_secret(&answer.text, &secrets);
        assert!(!answer.text.contains("\"api_key\":"), "{}", answer.text);
    }
    assert_eq!(list(&app, &app.api_key, "").await.len(), 4);
}

#[tokio::test]
async fn a_key_in_the_wrong_format_is_refused_naming_the_provider() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let wrong = [
        (Provider::Openai, valid_key(Provider::Gemini)),
        (Provider::Openai, valid_key(Provider::Anthropic)),
        (Provider::Anthropic, valid_key(Provider::Openai)),
        (Provider::Gemini, valid_key(Provider::Deepseek)),
        (Provider::Deepseek, valid_key(Provider::Gemini)),
    ];
    for (provider, secret) in wrong {
        let answer = app.try_add_provider_key(&app.api_key, provider, secret, json!({})).await;
        answer.assert_code(400, "VALIDATION_ERROR");
        assert_eq!(answer.body["error"]["field"], "api_key", "{}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(provider.as_str()), "{provider}: {message}");
        assert_no_secret(&answer.text, &[secret]);
    }
    for bad in ["", "   ", "sk-proj-short", "sk-proj-has a space inside 0123456789"] {
        let answer = app.try_add_provider_key(&app.api_key, Provider::Openai, bad, json!({})).await;
        answer.assert_code(400, "VALIDATION_ERROR");
        assert_eq!(answer.body["error"]["field"], "api_key", "{}", answer.text);
    }

    let unknown = app
        .post(
            "/api/v1/provider-keys",
            &app.api_key,
            json!({"provider": "mistral", "name": "m", "api_key": "sk-abcdefghijklmnopqrstuvwxyz"}),
        )
        .await;
    unknown.assert_code(400, "VALIDATION_ERROR");
    let message = unknown.body["error"]["message"].as_str().unwrap();
    for name in ["openai", "anthropic", "gemini", "deepseek"] {
        assert!(message.contains(name), "the message names {name}: {message}");
    }
    assert!(!unknown.text.contains("abcdefghijklmnop"), "{}", unknown.text);
    assert!(list(&app, &app.api_key, "").await.is_empty(), "nothing was saved");
}
