//! Testing keys against the providers: each one's own auth header, their failures in the help
//! pages' words, timeouts, results stored and audited, test-first adds.

use super::*;

#[tokio::test]
async fn a_valid_key_tests_ok_with_each_provider_s_own_auth_header_and_never_a_query_key() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    for p in Provider::ALL {
        let id = id_of(&app.add_provider_key(&app.api_key, p, valid_key(p), json!({})).await);
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.status, 200, "{p}: {}", tested.text);
        assert_eq!(tested.body["status"], "ok", "{p}: {}", tested.text);
        assert_eq!(tested.body["message"], "Connection successful");
        assert!(tested.body["latency_ms"].is_u64());
        assert!(tested.body["tested_at"].is_string());
        let mut fields: Vec<&str> = tested.body.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["latency_ms", "message", "status", "tested_at"]);

        let sent = requests_to(&mocks, p).await;
        assert_eq!(sent.len(), 1, "{p}: one cheap call");
        let request = &sent[0];
        assert_eq!(request.method.as_str(), "GET");
        assert_eq!(request.url.path(), models_path(p));
        let (name, value) = auth_header(p, valid_key(p));
        assert_eq!(request.headers.get(name).map(|v| v.to_str().unwrap()), Some(value.as_str()), "{p}");
        for other in ["authorization", "x-api-key", "x-goog-api-key"] {
            if other != name {
                assert!(request.headers.get(other).is_none(), "{p} must not send {other}");
            }
        }
        if p == Provider::Anthropic {
            assert_eq!(request.headers.get("anthropic-version").unwrap(), "2023-06-01");
        }
        let query = request.url.query().unwrap_or_default();
        assert!(!query.contains("key="), "{p}: a key in the query string: {query}");
        assert!(!request.url.as_str().contains(valid_key(p)), "{p}: the key is in the URL");
    }
}

#[tokio::test]
async fn a_rejected_key_tests_invalid_and_the_provider_s_text_is_never_repeated() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    for p in Provider::ALL {
        let id = id_of(&app.add_provider_key(&app.api_key, p, revoked_key(p), json!({})).await);
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.status, 200, "{p}: {}", tested.text);
        assert_eq!(tested.body["status"], "invalid_key", "{p}: {}", tested.text);
        assert_eq!(tested.body["message"], "Invalid API key");
        for echoed in [
            "Incorrect API key",
            "Authentication Fails",
            "invalid x-api-key",
            "API key not valid",
            "platform.openai.com",
        ] {
            assert!(!tested.text.contains(echoed), "{p}: provider text repeated: {}", tested.text);
        }
        assert_no_secret(&tested.text, &[revoked_key(p)]);
        assert!(!tested.text.contains(&revoked_key(p)[..12]), "{p}: {}", tested.text);
        let got = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
        assert_no_secret(&got.text, &[revoked_key(p)]);
        assert!(!got.text.contains("Incorrect API key") && !got.text.contains("Authentication Fails"), "{}", got.text);
    }
}

#[tokio::test]
async fn openai_failures_map_to_the_help_pages_wording() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let rate_limited = ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}));
    let cases = [
        ("sk-proj-QUOTAopenaiKEY0123456789qqqq", insufficient_quota(), "quota_exceeded", "Quota exceeded"),
        ("sk-proj-DENIEDopenaiKEY0123456789dddd", permission_denied(), "permission_denied", "Permission denied"),
        (
            "sk-proj-BROKENopenaiKEY0123456789bbbb",
            ResponseTemplate::new(500).set_body_string("upstream exploded"),
            "provider_error",
            "Provider error",
        ),
        ("sk-proj-LIMITEDopenaiKEY012345678llll", rate_limited, "rate_limited", "Rate limited by the provider"),
    ];
    for (secret, answer, status, message) in cases {
        mocks.answer_models(Provider::Openai, secret, answer).await;
        let id = id_of(&app.add_provider_key(&app.api_key, Provider::Openai, secret, json!({})).await);
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.status, 200, "{secret}: {}", tested.text);
        assert_eq!(tested.body["status"], status, "{}", tested.text);
        assert_eq!(tested.body["message"], message, "{}", tested.text);
        for provider_text in
            ["exceeded your current quota", "not allowed to sample", "upstream exploded", "Rate limit reached"]
        {
            assert!(!tested.text.contains(provider_text), "{}", tested.text);
        }
        let got = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
        assert_eq!(got.body["status"], status, "the key's status follows its last test: {}", got.text);
    }
}

#[tokio::test]
async fn a_provider_slower_than_the_test_timeout_is_unreachable() {
    let mocks = MockProviders::start().await;
    let slow = "sk-proj-SLOWopenaiKEY0123456789ssss";
    mocks.answer_models(Provider::Openai, slow, ResponseTemplate::new(200).set_delay(Duration::from_secs(4))).await;
    let app = spawn_app_on(&mocks).await;
    let id = id_of(&app.add_provider_key(&app.api_key, Provider::Openai, slow, json!({})).await);
    let started = std::time::Instant::now();
    let tested = test_key(&app, &app.api_key, &id).await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["status"], "unreachable", "{}", tested.text);
    assert_eq!(tested.body["message"], "Provider unreachable");
    assert!(started.elapsed() < Duration::from_millis(3_500), "the 2 s test timeout held: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_test_result_is_stored_on_the_key_and_audited() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let good = id_of(
        &app.add_provider_key(&app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), json!({})).await,
    );
    let bad =
        id_of(&app.add_provider_key(&app.api_key, Provider::Gemini, revoked_key(Provider::Gemini), json!({})).await);
    let good_result = test_key(&app, &app.api_key, &good).await.body;
    let bad_result = test_key(&app, &app.api_key, &bad).await.body;

    for (id, result, status) in [(&good, &good_result, "ok"), (&bad, &bad_result, "invalid_key")] {
        let got = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(got.body["status"], status);
        assert_eq!(&got.body["last_test"], result, "the stored result is the one answered");
        let listed = list(&app, &app.api_key, "").await.into_iter().find(|k| k["id"] == id.as_str()).unwrap();
        assert_eq!(&listed["last_test"], result);
    }

    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    let tested: Vec<&Value> =
        events.body["data"].as_array().unwrap().iter().filter(|e| e["action"] == "provider_key.tested").collect();
    assert_eq!(tested.len(), 2, "{}", events.text);
    let of =
        |id: &str| *tested.iter().find(|e| e["object_id"] == id).unwrap_or_else(|| panic!("no test event for {id}"));
    assert_eq!(of(&good)["outcome"], "success");
    assert_eq!(of(&good)["detail"]["status"], "ok");
    assert_eq!(of(&good)["detail"]["last_four"], "abcd");
    assert_eq!(of(&bad)["outcome"], "failure");
    assert_eq!(of(&bad)["detail"]["status"], "invalid_key");
    assert_eq!(of(&good)["actor"]["member_id"], app.owner_id.as_str());
    assert_no_secret(&events.text, &[valid_key(Provider::Anthropic), revoked_key(Provider::Gemini)]);
}

#[tokio::test]
async fn adding_with_test_first_refuses_to_save_a_key_the_provider_rejects() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let refused = app
        .try_add_provider_key(&app.api_key, Provider::Deepseek, revoked_key(Provider::Deepseek), json!({"test": true}))
        .await;
    refused.assert_error(422, "KEY_REJECTED", "Invalid API key");
    assert_eq!(refused.body["error"]["provider_status"], "invalid_key");
    assert_eq!(refused.body["error"]["stored"], false);
    assert_no_secret(&refused.text, &[revoked_key(Provider::Deepseek)]);
    assert!(!refused.text.contains("Authentication Fails"), "{}", refused.text);
    assert!(list(&app, &app.api_key, "").await.is_empty(), "a rejected key is not saved");
    // The attempt is audited as a failure that stored nothing.
    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    let created = &events.body["data"][0];
    assert_eq!((&created["action"], &created["outcome"]), (&json!("provider_key.created"), &json!("failure")));
    assert_eq!((&created["object_id"], &created["detail"]["stored"]), (&json!(""), &json!(false)), "{created}");

    let accepted = app
        .add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({"test": true}))
        .await;
    assert_eq!(accepted["status"], "ok");
    assert_eq!(accepted["last_test"]["status"], "ok");
    assert_eq!(accepted["last_test"]["message"], "Connection successful");
    assert_eq!(list(&app, &app.api_key, "").await.len(), 1);
}
