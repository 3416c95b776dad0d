//! End to end: the provider-key vault — adding, masking, rotation, testing against
//! wiremock stand-ins of the four providers, resolution, members' view, tenancy, and the
//! encryption at rest (raw database bytes, swapped ciphertexts, master-key rotation).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use converra::{Plan, Provider};
use converra_server::core::vault::crypto::unwrap_data_key;
use converra_server::core::vault::{Key, MasterRotation};
use converra_tests::providers::{
    MockProviders, auth_header, insufficient_quota, models_path, permission_denied, revoked_key, valid_key,
};
use converra_tests::{Answer, Options, TestApp, spawn_app_with};
use futures_util::FutureExt;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

const INTERNAL: &str = r#"{"error":{"code":"INTERNAL","message":"Internal error"}}"#;

async fn app_with(mocks: &MockProviders) -> TestApp {
    spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await
}

/// For tests that read or write the SQLite file itself.
async fn sqlite_app_with(mocks: &MockProviders) -> TestApp {
    spawn_app_with(Options { base_urls: mocks.base_urls(), sqlite_file: true, ..Default::default() }).await
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("`{field}` is a string in {v}"))
}

/// Adds a provider key and asserts it was created; returns its listed form.
async fn add(app: &TestApp, key: &str, provider: Provider, secret: &str, extra: Value) -> Value {
    let answer = try_add(app, key, provider, secret, extra).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body
}

async fn try_add(app: &TestApp, key: &str, provider: Provider, secret: &str, extra: Value) -> Answer {
    let mut body = json!({"provider": provider.as_str(), "name": format!("{provider} key"), "api_key": secret});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    app.post("/api/v1/provider-keys", key, body).await
}

fn id_of(v: &Value) -> String {
    str_of(v, "id").to_owned()
}

async fn list(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let answer = app.get(&format!("/api/v1/provider-keys{query}"), key).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["data"].as_array().expect("a list").clone()
}

async fn test_key(app: &TestApp, key: &str, id: &str) -> Answer {
    app.post(&format!("/api/v1/provider-keys/{id}/test"), key, json!({})).await
}

/// The part of a provider key that is neither its public prefix nor its last four.
fn secret_middle(secret: &str) -> &str {
    &secret[8..secret.len() - 4]
}

/// Asserts that no part of any secret appears in `text`.
fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "the secret {}… appears in {text}", &s[..6]);
        assert!(!text.contains(secret_middle(s)), "part of a secret {}… appears in {text}", &s[..6]);
    }
}

async fn project(app: &TestApp, key: &str, name: &str) -> String {
    let answer = app.post("/api/v1/projects", key, json!({"name": name})).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    id_of(&answer.body)
}

fn expected_mask(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "sk-proj-…wxyz",
        Provider::Anthropic => "sk-ant-…abcd",
        Provider::Gemini => "AIza…efgh",
        Provider::Deepseek => "sk-…ijkl",
    }
}

async fn requests_to(mocks: &MockProviders, provider: Provider) -> Vec<wiremock::Request> {
    mocks.server(provider).received_requests().await.unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Adding keys: format checks, masking, never the secret
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_provider_s_key_is_stored_trimmed_masked_and_never_shown_again() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let mut answers = Vec::new();
    for p in Provider::ALL {
        // Pasted with stray whitespace around it.
        let created = try_add(&app, &app.api_key, p, &format!("  {}\n\t", valid_key(p)), json!({})).await;
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
    let app = app_with(&mocks).await;
    let wrong = [
        (Provider::Openai, valid_key(Provider::Gemini)),
        (Provider::Openai, valid_key(Provider::Anthropic)),
        (Provider::Anthropic, valid_key(Provider::Openai)),
        (Provider::Gemini, valid_key(Provider::Deepseek)),
        (Provider::Deepseek, valid_key(Provider::Gemini)),
    ];
    for (provider, secret) in wrong {
        let answer = try_add(&app, &app.api_key, provider, secret, json!({})).await;
        answer.assert_code(400, "VALIDATION_ERROR");
        assert_eq!(answer.body["error"]["field"], "api_key", "{}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(provider.as_str()), "{provider}: {message}");
        assert_no_secret(&answer.text, &[secret]);
    }
    for bad in ["", "   ", "sk-proj-short", "sk-proj-has a space inside 0123456789"] {
        let answer = try_add(&app, &app.api_key, Provider::Openai, bad, json!({})).await;
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

// ---------------------------------------------------------------------------------------------
// Rotation and update in place
// ---------------------------------------------------------------------------------------------

const SECOND_OPENAI: &str = "sk-proj-SECONDopenaiKEY0123456789mnop";

#[tokio::test]
async fn rotation_keeps_the_old_key_inactive_until_removed_and_can_roll_back() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let owner = app.api_key.clone();
    let web = project(&app, &owner, "web").await;
    let project_key =
        id_of(&add(&app, &owner, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web})).await);
    let gemini = id_of(&add(&app, &owner, Provider::Gemini, valid_key(Provider::Gemini), json!({})).await);

    let a = id_of(&add(&app, &owner, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let b_body = add(&app, &owner, Provider::Openai, SECOND_OPENAI, json!({})).await;
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
    let app = app_with(&mocks).await;
    let owner = app.api_key.clone();
    let created = add(&app, &owner, Provider::Openai, revoked_key(Provider::Openai), json!({})).await;
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

// ---------------------------------------------------------------------------------------------
// Testing keys against the providers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_valid_key_tests_ok_with_each_provider_s_own_auth_header_and_never_a_query_key() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    for p in Provider::ALL {
        let id = id_of(&add(&app, &app.api_key, p, valid_key(p), json!({})).await);
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
    let app = app_with(&mocks).await;
    for p in Provider::ALL {
        let id = id_of(&add(&app, &app.api_key, p, revoked_key(p), json!({})).await);
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
    let app = app_with(&mocks).await;
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
        let id = id_of(&add(&app, &app.api_key, Provider::Openai, secret, json!({})).await);
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
    let app = app_with(&mocks).await;
    let id = id_of(&add(&app, &app.api_key, Provider::Openai, slow, json!({})).await);
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
    let app = app_with(&mocks).await;
    let good = id_of(&add(&app, &app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), json!({})).await);
    let bad = id_of(&add(&app, &app.api_key, Provider::Gemini, revoked_key(Provider::Gemini), json!({})).await);
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
    let app = app_with(&mocks).await;
    let refused =
        try_add(&app, &app.api_key, Provider::Deepseek, revoked_key(Provider::Deepseek), json!({"test": true})).await;
    refused.assert_error(422, "KEY_REJECTED", "Invalid API key");
    assert_eq!(refused.body["error"]["provider_status"], "invalid_key");
    assert_eq!(refused.body["error"]["stored"], false);
    assert_no_secret(&refused.text, &[revoked_key(Provider::Deepseek)]);
    assert!(!refused.text.contains("Authentication Fails"), "{}", refused.text);
    assert!(list(&app, &app.api_key, "").await.is_empty(), "a rejected key is not saved");
    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    assert!(!events.text.contains("provider_key.created"), "{}", events.text);

    let accepted =
        add(&app, &app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({"test": true})).await;
    assert_eq!(accepted["status"], "ok");
    assert_eq!(accepted["last_test"]["status"], "ok");
    assert_eq!(accepted["last_test"]["message"], "Connection successful");
    assert_eq!(list(&app, &app.api_key, "").await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Members: status only, no changes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn members_see_status_only_and_are_refused_every_change() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let web = project(&app, &app.api_key, "web").await;
    let org_key = id_of(&add(&app, &app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let project_key =
        add(&app, &app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), json!({"project_id": web})).await;
    assert_eq!(test_key(&app, &app.api_key, &org_key).await.body["status"], "ok");
    let calls_before = requests_to(&mocks, Provider::Openai).await.len();

    let seen = list(&app, &member, "").await;
    assert_eq!(seen.len(), 2);
    for key in &seen {
        let mut fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        // `project_id` is there for a project's key and absent (not null) for the organization's.
        fields.retain(|f| *f != "project_id");
        assert_eq!(fields, ["active", "environment", "id", "provider", "scope", "status"], "{key}");
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
    let by_admin = try_add(&app, &admin, Provider::Gemini, valid_key(Provider::Gemini), json!({})).await;
    assert_eq!(by_admin.status, 201, "{}", by_admin.text);
    assert_eq!(app.get(&key_path, &admin).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

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
    let app = app_with(&mocks).await;
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
    let org_test = id_of(&add(&app, &test, Provider::Openai, openai, json!({"environment": "test"})).await);
    assert_eq!(resolve(&app, &test, "openai", None).await, org(&org_test));
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, org(&org_test));
    assert_eq!(resolve(&app, &live, "openai", None).await, none, "a live key never spends a test provider key");
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, none);

    // A project test key overrides it in that project only.
    let p1_test =
        id_of(&add(&app, &test, Provider::Openai, openai, json!({"environment": "test", "project_id": p1})).await);
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test));
    assert_eq!(resolve(&app, &test, "openai", Some(&p2)).await, org(&org_test));
    assert_eq!(resolve(&app, &test, "openai", None).await, org(&org_test));
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, none);

    // A project live key with no organization live key.
    let p1_live =
        id_of(&add(&app, &test, Provider::Openai, openai, json!({"environment": "live", "project_id": p1})).await);
    assert_eq!(resolve(&app, &live, "openai", Some(&p1)).await, proj(&p1_live));
    assert_eq!(resolve(&app, &live, "openai", Some(&p2)).await, none);
    assert_eq!(resolve(&app, &live, "openai", None).await, none);
    assert_eq!(resolve(&app, &test, "openai", Some(&p1)).await, proj(&p1_test), "a test key never spends a live key");

    // An organization live key.
    let org_live = id_of(&add(&app, &live, Provider::Openai, openai, json!({})).await);
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
        &add(&app, &test, Provider::Openai, SECOND_OPENAI, json!({"environment": "test", "project_id": p1})).await,
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

    let own = id_of(&add(&app, &app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    assert_eq!(resolve(&app, &app.api_key, "openai", None).await, ("organization".to_owned(), Some(own)));
    for path in ["/api/v1/provider-keys", "/api/v1/audit-events"] {
        let answer = app.get(path, &app.api_key).await;
        assert!(!answer.text.contains("OPERATORkey"), "{path}: {}", answer.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Tenancy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_organization_s_provider_key_and_project_ids_answer_404() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    let a_key = id_of(
        &add(&app, &app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web})).await,
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
    let added = try_add(&app, &b, Provider::Openai, valid_key(Provider::Openai), json!({"project_id": web})).await;
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

// ---------------------------------------------------------------------------------------------
// Encryption at rest
// ---------------------------------------------------------------------------------------------

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_database_file_never_contains_a_provider_key_or_the_master_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    for p in Provider::ALL {
        add(&app, &app.api_key, p, valid_key(p), json!({})).await;
        add(&app, &app.api_key, p, revoked_key(p), json!({"project_id": web, "environment": "live"})).await;
    }
    let rotated = id_of(&add(&app, &app.api_key, Provider::Openai, SECOND_OPENAI, json!({})).await);
    let replacement = "sk-proj-REPLACEMENTopenaiKEY01234567rrrr";
    let put = app.put(&format!("/api/v1/provider-keys/{rotated}"), &app.api_key, json!({"api_key": replacement})).await;
    assert_eq!(put.status, 200, "{}", put.text);
    let refused = "sk-proj-REFUSEDbyTESTopenaiKEY0123456xxxx";
    try_add(&app, &app.api_key, Provider::Openai, refused, json!({"test": true}))
        .await
        .assert_code(422, "KEY_REJECTED");

    let raw = app.raw_database();
    assert!(raw.len() > 4096, "the database file was read");
    assert!(contains(&raw, b"provider_keys"), "the file is the database");
    let mut secrets: Vec<&str> = Provider::ALL.into_iter().flat_map(|p| [valid_key(p), revoked_key(p)]).collect();
    secrets.extend([SECOND_OPENAI, replacement, refused]);
    for s in secrets {
        assert!(!contains(&raw, s.as_bytes()), "{}… is in the database file", &s[..10]);
        assert!(!contains(&raw, secret_middle(s).as_bytes()), "part of {}… is in the database file", &s[..10]);
    }
    let master = base64::engine::general_purpose::STANDARD.decode(&app.master_key).unwrap();
    assert!(!contains(&raw, &master), "the master key bytes are in the database file");
    assert!(!contains(&raw, app.master_key.as_bytes()), "the master key is in the database file");
    assert!(!contains(&raw, app.api_key.as_bytes()), "a Converra API key is in the database file");
}

/// Opens the app's database beside the running server.
fn sqlite(app: &TestApp) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&app.db_path).expect("open the database file");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn ciphertext(conn: &rusqlite::Connection, id: &str) -> Vec<u8> {
    conn.query_row("SELECT ciphertext FROM provider_keys WHERE id = ?1", [id], |r| r.get(0)).expect("the row exists")
}

fn set_ciphertext(conn: &rusqlite::Connection, id: &str, blob: &[u8]) {
    let n =
        conn.execute("UPDATE provider_keys SET ciphertext = ?1 WHERE id = ?2", rusqlite::params![blob, id]).unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_decrypt_and_never_acts_as_the_other_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    // Same organization, provider and environment; different rows (one of them in a project).
    let good = id_of(&add(&app, &app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let bad = id_of(
        &add(&app, &app.api_key, Provider::Openai, revoked_key(Provider::Openai), json!({"project_id": web})).await,
    );
    // Another organization's key of the same provider and environment.
    let b = app.new_org("bcorp", Plan::Free).await;
    let foreign = id_of(&add(&app, &b, Provider::Openai, revoked_key(Provider::Openai), json!({})).await);
    assert_eq!(test_key(&app, &app.api_key, &good).await.body["status"], "ok");
    let calls = requests_to(&mocks, Provider::Openai).await.len();

    let conn = sqlite(&app);
    let (good_blob, bad_blob) = (ciphertext(&conn, &good), ciphertext(&conn, &bad));
    set_ciphertext(&conn, &good, &bad_blob);
    set_ciphertext(&conn, &bad, &good_blob);
    set_ciphertext(&conn, &foreign, &good_blob);

    for (key, id) in [(&app.api_key, &good), (&app.api_key, &bad), (&b, &foreign)] {
        let answer = test_key(&app, key, id).await;
        assert_eq!(answer.status, 500, "{}", answer.text);
        assert_eq!(answer.text, INTERNAL, "no detail leaks");
    }
    assert_eq!(
        requests_to(&mocks, Provider::Openai).await.len(),
        calls,
        "no provider call was made with another row's key"
    );
    // The failed attempts recorded nothing on the keys.
    let got = app.get(&format!("/api/v1/provider-keys/{bad}"), &app.api_key).await;
    assert_eq!(got.body["status"], "untested", "{}", got.text);

    // Put the blobs back where they belong: both work again.
    set_ciphertext(&conn, &good, &good_blob);
    set_ciphertext(&conn, &bad, &bad_blob);
    assert_eq!(test_key(&app, &app.api_key, &good).await.body["status"], "ok");
    assert_eq!(test_key(&app, &app.api_key, &bad).await.body["status"], "invalid_key");
}

/// Three organizations, each with keys; returns (owner key, key id, expected test status) per key.
async fn three_orgs_with_keys(app: &TestApp) -> Vec<(String, String, &'static str)> {
    let mut keys = Vec::new();
    let owners = [app.api_key.clone(), app.new_org("second", Plan::Pro).await, app.new_org("third", Plan::Free).await];
    for (i, owner) in owners.iter().enumerate() {
        for p in [Provider::ALL[i], Provider::ALL[i + 1]] {
            keys.push((owner.clone(), id_of(&add(app, owner, p, valid_key(p), json!({})).await), "ok"));
        }
        keys.push((
            owner.clone(),
            id_of(&add(app, owner, Provider::Gemini, revoked_key(Provider::Gemini), json!({})).await),
            "invalid_key",
        ));
    }
    keys
}

async fn assert_every_key_tests(app: &TestApp, keys: &[(String, String, &str)]) {
    for (owner, id, status) in keys {
        let answer = test_key(app, owner, id).await;
        assert_eq!(answer.status, 200, "key {id}: {}", answer.text);
        assert_eq!(answer.body["status"], *status, "key {id}: {}", answer.text);
    }
}

fn b64(key: &Key) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.expose_bytes())
}

#[tokio::test]
async fn after_a_master_key_rotation_the_app_restarted_with_the_new_key_reads_every_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    assert_every_key_tests(&app, &keys).await;

    let new = Key::random();
    let mut seen = Vec::new();
    let report = app.core.rotate_master_key(&new, |org, i, n| seen.push((org.to_owned(), i, n))).await.unwrap();
    assert_eq!(report, MasterRotation { new_version: 2, organizations_rewrapped: 3, organizations_already_done: 0 });
    assert_eq!(seen.iter().map(|(_, i, n)| (*i, *n)).collect::<Vec<_>>(), [(1, 3), (2, 3), (3, 3)]);

    let new_b64 = b64(&new);
    let app = app.restart_with_master_key(new_b64.clone()).await;
    assert_every_key_tests(&app, &keys).await;
    // Keys added after the rotation work too, and survive another restart.
    let later = id_of(&add(&app, &app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({})).await);
    let app = app.restart().await;
    assert_eq!(app.master_key, new_b64);
    assert_every_key_tests(&app, &keys).await;
    assert_eq!(test_key(&app, &app.api_key, &later).await.body["status"], "ok");
    assert!(!contains(&app.raw_database(), new.expose_bytes()), "the new master key is not in the database");
}

#[tokio::test]
async fn after_a_completed_rotation_the_retired_master_key_is_refused_at_start() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();

    // Starting on this database with the retired key must fail like any wrong key, rather than
    // start and then fail every decryption.
    let db = app.db_path.display().to_string();
    let old_b64 = app.master_key.clone();
    let config = converra_server::config::Config::from_lookup(|name| match name {
        "CONVERRA_DB" => Some(db.clone()),
        "CONVERRA_MASTER_KEY" => Some(old_b64.clone()),
        _ => None,
    })
    .unwrap();
    let opened = converra_server::app::open(&config).await;
    let error = opened.err().map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(|e| e.contains("does not match")),
        "the retired master key was accepted at start (error: {error:?})"
    );

    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

#[tokio::test]
async fn a_master_key_rotation_killed_half_way_resumes_and_leaves_every_key_readable() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let new = Key::random();

    // The process "dies" right after the first organization's transaction committed.
    let killed = std::panic::AssertUnwindSafe(app.core.rotate_master_key(&new, |_, i, _| {
        if i == 1 {
            panic!("killed after the first organization");
        }
    }))
    .catch_unwind()
    .await;
    assert!(killed.is_err(), "the rotation was interrupted");

    // A second run with a different new key is refused: one rotation at a time.
    let other = Key::random();
    assert!(app.core.rotate_master_key(&other, |_, _, _| {}).await.is_err());

    // Run again: it finishes the rest and reports what was already done.
    let report = app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    assert_eq!(report, MasterRotation { new_version: 2, organizations_rewrapped: 2, organizations_already_done: 1 });

    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

#[tokio::test]
async fn keys_written_while_a_rotation_runs_online_stay_readable_after_the_restart() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    let mut keys = three_orgs_with_keys(&app).await;
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();

    // The server was not stopped: it keeps serving and writing during and after the rotation.
    assert_every_key_tests(&app, &keys).await;
    let added = try_add(&app, &app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({})).await;
    assert_eq!(added.status, 201, "adding a key after an online rotation: {}", added.text);
    keys.push((app.api_key.clone(), id_of(&added.body), "ok"));
    let late = app.new_org("late", Plan::Free).await;
    let late_key = try_add(&app, &late, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    assert_eq!(late_key.status, 201, "a new organization's first key after an online rotation: {}", late_key.text);
    keys.push((late.clone(), id_of(&late_key.body), "ok"));

    // The organization created by the old server after the rewrap is sealed by the old key only:
    // the first start with the new key also holds the previous one and adopts it.
    let previous = app.master_key.clone();
    let app = app.restart_with_master_keys(b64(&new), Some(previous)).await;
    assert_every_key_tests(&app, &keys).await;
    // From then on the new key alone reads everything.
    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

/// Every encrypted cell: data-key wrappings (current and previous) and provider-key ciphertexts.
fn encrypted_cells(app: &TestApp) -> i64 {
    let conn = sqlite(app);
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    count("SELECT count(wrapped) + count(wrapped_prev) FROM data_keys") + count("SELECT count(*) FROM provider_keys")
}

#[tokio::test]
async fn a_finished_master_key_rotation_leaves_nothing_the_old_key_opens_in_the_database_files() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let old = converra_server::config::decode_master_key(&app.master_key, "old").unwrap();
    let before = encrypted_cells(&app);
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    // Finishing is refused while this server still runs with the old key.
    assert!(app.core.finish_master_key_rotation().await.is_err(), "finished with the old key");

    let app = app.restart_with_master_key(b64(&new)).await;
    let deleted = app.core.finish_master_key_rotation().await.unwrap();
    assert_eq!(deleted, 3, "one old wrapping per organization's data key");
    assert_eq!(encrypted_cells(&app), before, "as many encrypted cells as before the rotation");
    assert_every_key_tests(&app, &keys).await;

    // No 61-byte window of the database file or its WAL unwraps with the old key, for any
    // organization's data key.
    let data_keys: Vec<(String, u32)> = {
        let conn = sqlite(&app);
        let mut stmt = conn.prepare("SELECT org_id, version FROM data_keys").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let raw = app.raw_database();
    for (org, version) in &data_keys {
        let opened = raw.windows(61).any(|w| unwrap_data_key(&old, org, *version, w).is_ok());
        assert!(!opened, "the old master key still opens a data key of {org} in the database files");
    }
    // Nothing left to finish.
    assert_eq!(app.core.finish_master_key_rotation().await.unwrap(), 0);
}

#[tokio::test]
async fn a_data_key_rotation_racing_a_replaced_secret_never_reverts_it() {
    let mocks = MockProviders::start().await;
    let app = app_with(&mocks).await;
    for round in 0..15 {
        let id = id_of(&add(&app, &app.api_key, Provider::Openai, revoked_key(Provider::Openai), json!({})).await);
        let path = format!("/api/v1/provider-keys/{id}");
        let replace = app.put(&path, &app.api_key, json!({"api_key": valid_key(Provider::Openai)}));
        let rotate = app.core.rotate_data_key(&app.org_id);
        let (replaced, rotated) = tokio::join!(replace, rotate);
        assert_eq!(replaced.status, 200, "round {round}: {}", replaced.text);
        rotated.unwrap();
        // The stored secret is the one the PUT wrote, whatever the order.
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.body["status"], "ok", "round {round}: the rotation reverted the new secret: {}", tested.text);
        app.delete(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
    }
}
