//! End to end: authentication, roles, tenancy, Converra API keys, rate limits,
//! validation, audit and restarts — all against the real server on a random port and a real
//! SQLite file.

use std::time::Duration;

use converra::{Environment, Plan};
use converra_test_kit::{Answer, Options, TestApp, rfc3339, spawn_app, spawn_app_with, str_of, unix_now};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

const MISSING: &str = r#"{"error":{"code":"UNAUTHORIZED","message":"Authorization header required"}}"#;
const INVALID: &str = r#"{"error":{"code":"UNAUTHORIZED","message":"Invalid API key"}}"#;
const EXPIRED: &str = r#"{"error":{"code":"UNAUTHORIZED","message":"API key has expired"}}"#;
const REVOKED: &str = r#"{"error":{"code":"UNAUTHORIZED","message":"API key has been revoked"}}"#;

/// A 401 exactly as the documentation shows it, with a Bearer challenge.
fn assert_unauthorized(answer: &Answer, body: &str) {
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.text, body);
    let challenge = answer.header("www-authenticate").expect("a 401 carries WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "challenge: {challenge}");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
}

/// Sends `GET /api/v1/me` with a raw `Authorization` header value (or none).
async fn me_with_header(app: &TestApp, header: Option<&[u8]>) -> Answer {
    let mut request = app.http.get(app.url("/api/v1/me"));
    if let Some(value) = header {
        request = request.header(AUTHORIZATION, HeaderValue::from_bytes(value).expect("a sendable header value"));
    }
    Answer::of(request.send().await.expect("request sent")).await
}

/// Creates an API key as `key`'s caller and returns (id, secret).
async fn create_api_key(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let created = app.post("/api/v1/api-keys", key, body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    (str_of(&created.body, "id").to_owned(), str_of(&created.body, "key").to_owned())
}

async fn create_project(app: &TestApp, key: &str, name: &str) -> String {
    let created = app.post("/api/v1/projects", key, json!({"name": name})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    str_of(&created.body, "id").to_owned()
}

fn ids(list: &Answer) -> Vec<String> {
    list.body["data"].as_array().expect("a list answer").iter().map(|v| str_of(v, "id").to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Authentication: the four 401 bodies, byte for byte
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_an_authorization_header_is_told_the_header_is_required() {
    let app = spawn_app().await;
    assert_unauthorized(&me_with_header(&app, None).await, MISSING);

    // A key in the query string is not a header: still "required", and never accepted.
    for query in [format!("?api_key={}", app.api_key), format!("?access_token={}", app.api_key)] {
        let answer = Answer::of(app.http.get(app.url(&format!("/api/v1/me{query}"))).send().await.unwrap()).await;
        assert_unauthorized(&answer, MISSING);
    }

    // Authentication comes before the body is read: a broken body without a key is still a 401.
    let answer = Answer::of(
        app.http
            .post(app.url("/api/v1/projects"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_unauthorized(&answer, MISSING);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_invalid_key_never_a_server_error() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let shapes: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        format!("Bearer  {key}").into_bytes(),
        format!("Basic {key}").into_bytes(),
        key.clone().into_bytes(),
        format!("Bearer {key} extra").into_bytes(),
        b"Bearer sk_live_\xe9\xe8\xff".to_vec(),
        [b"Bearer ".as_slice(), key.as_bytes(), b"\xe9".as_slice()].concat(),
        b"Bearer x".to_vec(),
    ];
    for shape in shapes {
        let answer = me_with_header(&app, Some(&shape)).await;
        assert_eq!(answer.status, 401, "header {:?}: {}", String::from_utf8_lossy(&shape), answer.text);
        assert_unauthorized(&answer, INVALID);
    }
    // The well-formed header with the same key works.
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200);
}

#[tokio::test]
async fn an_unknown_key_and_a_one_character_typo_of_a_real_key_are_invalid() {
    let app = spawn_app().await;

    // Well formed with a valid checksum, but no such key exists here.
    let stranger = converra_server::core::access::token::generate(Environment::Live);
    let stranger = secrecy::ExposeSecret::expose_secret(&stranger.token).to_owned();
    assert_unauthorized(&app.get("/api/v1/me", &stranger).await, INVALID);

    // Random text in the right shape.
    assert_unauthorized(&app.get("/api/v1/me", "sk_live_0123456789abcdefghijABCDEFGHIJ0123456789ab").await, INVALID);

    // The real key with one character changed, in the lookup id, the secret and the checksum.
    let real = app.api_key.clone();
    for position in [10, 30, real.len() - 1] {
        let mut bytes = real.clone().into_bytes();
        bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_unauthorized(&app.get("/api/v1/me", &typo).await, INVALID);
    }
    // A live-looking twin of a test key is not the key either.
    assert_unauthorized(&app.get("/api/v1/me", &real.replacen("sk_test_", "sk_live_", 1)).await, INVALID);
    assert_eq!(app.get("/api/v1/me", &real).await.status, 200);
}

#[tokio::test]
async fn a_key_stops_working_once_its_expiry_passes() {
    let app = spawn_app().await;
    let expires = unix_now() + 2;
    let created = app
        .post("/api/v1/api-keys", &app.api_key, json!({"name": "short-lived", "expires_at": rfc3339(expires)}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["expires_at"], rfc3339(expires));
    let key = str_of(&created.body, "key").to_owned();
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200, "works before it expires");

    // Wait (at most ~2 s) until the expiry second has passed.
    while unix_now() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_unauthorized(&app.get("/api/v1/me", &key).await, EXPIRED);

    // An expiry in the past is refused at creation.
    let past = app
        .post("/api/v1/api-keys", &app.api_key, json!({"name": "past", "expires_at": rfc3339(unix_now() - 60)}))
        .await;
    past.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(past.body["error"]["field"], "expires_at");
}

#[tokio::test]
async fn a_revoked_key_fails_on_the_very_next_request() {
    let app = spawn_app().await;
    let (id, key) = create_api_key(&app, &app.api_key, json!({"name": "ci"})).await;
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200);

    let revoked = app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
    assert_unauthorized(&app.get("/api/v1/projects", &key).await, REVOKED);

    // The list keeps it, marked revoked; revoking again changes nothing.
    let list = app.get("/api/v1/api-keys", &app.api_key).await;
    let listed = list.body["data"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await.status, 204);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
}

#[tokio::test]
async fn a_key_revoking_itself_is_refused_on_its_next_request() {
    let app = spawn_app().await;
    let (id, key) = create_api_key(&app, &app.api_key, json!({"name": "self"})).await;
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &key).await.status, 204);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
}

// ---------------------------------------------------------------------------------------------
// Who am I, and rate limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn me_names_the_organization_the_member_and_the_key() {
    let app = spawn_app().await;
    let me = app.get("/api/v1/me", &app.api_key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let api_key_id = str_of(&me.body["api_key"], "id").to_owned();
    assert_eq!(
        me.body,
        json!({
            "organization": {"id": app.org_id, "name": "default", "plan": "free"},
            "member": {"id": app.owner_id, "email": "owner@converra.local", "role": "owner"},
            "api_key": {"id": api_key_id, "name": "Default", "environment": "test"},
        })
    );
    assert!(!me.text.contains(&app.api_key), "me never shows the secret");
}

fn assert_rate_limit_headers(answer: &Answer, limit: u32) {
    let number = |name: &str| -> u64 {
        answer
            .header(name)
            .unwrap_or_else(|| panic!("{name} on a {} answer: {}", answer.status, answer.text))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is a number"))
    };
    assert_eq!(number("x-ratelimit-limit"), u64::from(limit), "{}", answer.text);
    assert!(number("x-ratelimit-remaining") < u64::from(limit));
    let reset = number("x-ratelimit-reset");
    let now = unix_now();
    assert!(reset >= now && reset <= now + 61, "reset {reset} is unix seconds within a minute of {now}");
}

#[tokio::test]
async fn every_authenticated_answer_carries_rate_limit_headers() {
    let app = spawn_app().await;
    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let answers = [
        app.get("/api/v1/me", &app.api_key).await,
        app.post("/api/v1/projects", &app.api_key, json!({"name": "web"})).await,
        app.get("/api/v1/projects/prj_missing", &app.api_key).await,
        app.post("/api/v1/projects", &app.api_key, json!({"nom": "web"})).await,
        app.get("/api/v1/members", &member).await,
        app.get("/api/v1/api-keys", &member).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 201, 404, 400, 403, 200]);
    for answer in &answers {
        assert_rate_limit_headers(answer, 60);
    }
    // Remaining counts down per key.
    let first: u32 =
        app.get("/api/v1/me", &app.api_key).await.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    let second: u32 =
        app.get("/api/v1/me", &app.api_key).await.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    assert_eq!(second + 1, first);
}

#[tokio::test]
async fn with_a_plan_of_five_per_minute_exactly_five_pass_and_the_sixth_is_429() {
    let app = spawn_app().await;
    let (_, other_key) = create_api_key(&app, &app.api_key, json!({"name": "other"})).await;
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(5), None, None).await.expect("plan set");

    for i in 0..5u32 {
        let answer = app.get("/api/v1/me", &app.api_key).await;
        assert_eq!(answer.status, 200, "request {} of 5: {}", i + 1, answer.text);
        assert_eq!(answer.body["organization"]["plan"], "enterprise");
        assert_eq!(answer.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(answer.header("x-ratelimit-remaining"), Some((4 - i).to_string().as_str()));
    }
    let refused = app.get("/api/v1/me", &app.api_key).await;
    refused.assert_code(429, "RATE_LIMITED");
    assert_eq!(refused.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    let retry_after: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(refused.body["error"]["retry_after"], retry_after, "the seconds are a field too: {}", refused.text);
    assert!(refused.header("x-ratelimit-reset").is_some());

    // Every route shares the key's bucket; another key of the same organization has its own.
    app.get("/api/v1/projects", &app.api_key).await.assert_code(429, "RATE_LIMITED");
    let other = app.get("/api/v1/me", &other_key).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.header("x-ratelimit-remaining"), Some("4"));
}

// ---------------------------------------------------------------------------------------------
// Members and roles
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_can_manage_members_but_cannot_make_an_owner() {
    let app = spawn_app().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;

    let created = app.post("/api/v1/members", &admin, json!({"email": "dev@example.com", "role": "member"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let dev = str_of(&created.body, "id").to_owned();
    assert_eq!(created.body["role"], "member");
    assert_eq!(created.body["email"], "dev@example.com");

    app.post("/api/v1/members", &admin, json!({"email": "boss@example.com", "role": "owner"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.patch(&format!("/api/v1/members/{dev}"), &admin, json!({"role": "owner"})).await.assert_code(403, "FORBIDDEN");
    // ... nor demote or remove the owner.
    app.patch(&format!("/api/v1/members/{}", app.owner_id), &admin, json!({"role": "member"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.delete(&format!("/api/v1/members/{}", app.owner_id), &admin).await.assert_code(403, "FORBIDDEN");

    let promoted = app.patch(&format!("/api/v1/members/{dev}"), &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.body["role"], "admin");

    let members = app.get("/api/v1/members", &admin).await;
    assert_eq!(members.status, 200);
    let roles: Vec<(String, String)> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (str_of(m, "email").to_owned(), str_of(m, "role").to_owned()))
        .collect();
    assert!(roles.contains(&("owner@converra.local".into(), "owner".into())), "{roles:?}");
    assert!(roles.contains(&("dev@example.com".into(), "admin".into())), "{roles:?}");
    assert!(!roles.iter().any(|(e, _)| e == "boss@example.com"), "the refused owner was not created");
}

#[tokio::test]
async fn a_member_cannot_list_or_manage_members() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    app.get("/api/v1/members", &member).await.assert_code(403, "FORBIDDEN");
    app.post("/api/v1/members", &member, json!({"email": "x@example.com", "role": "member"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.patch(&format!("/api/v1/members/{member_id}"), &member, json!({"role": "admin"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.delete(&format!("/api/v1/members/{}", app.owner_id), &member).await.assert_code(403, "FORBIDDEN");
    // Nothing changed: the member is still a member.
    assert_eq!(app.get("/api/v1/me", &member).await.body["member"]["role"], "member");
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = spawn_app().await;
    let owner = format!("/api/v1/members/{}", app.owner_id);
    app.patch(&owner, &app.api_key, json!({"role": "admin"})).await.assert_code(409, "CONFLICT");
    app.delete(&owner, &app.api_key).await.assert_code(409, "CONFLICT");
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.body["member"]["role"], "owner");

    // With a second owner, the first may step down.
    let second = app.post("/api/v1/members", &app.api_key, json!({"email": "co@example.com", "role": "owner"})).await;
    assert_eq!(second.status, 201, "{}", second.text);
    let demoted = app.patch(&owner, &app.api_key, json!({"role": "admin"})).await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    // The key acts with the member's current role at once.
    let me = app.get("/api/v1/me", &app.api_key).await;
    assert_eq!(me.body["member"]["role"], "admin");
    app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": false})).await.assert_code(403, "FORBIDDEN");
}

#[tokio::test]
async fn a_duplicate_member_email_is_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"email": "dup@example.com", "role": "member"});
    assert_eq!(app.post("/api/v1/members", &app.api_key, body.clone()).await.status, 201);
    app.post("/api/v1/members", &app.api_key, body).await.assert_code(409, "CONFLICT");
    let bad = app.post("/api/v1/members", &app.api_key, json!({"email": "not-an-email", "role": "member"})).await;
    bad.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(bad.body["error"]["field"], "email");
}

#[tokio::test]
async fn a_removed_member_s_keys_stop_working() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "leaver@example.com", "member").await;
    assert_eq!(app.get("/api/v1/me", &member).await.status, 200);
    assert_eq!(app.delete(&format!("/api/v1/members/{member_id}"), &app.api_key).await.status, 204);
    let after = app.get("/api/v1/me", &member).await;
    assert_eq!(after.status, 401, "{}", after.text);
}

// ---------------------------------------------------------------------------------------------
// Converra API keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_key_is_shown_once_and_never_listed() {
    let app = spawn_app().await;
    let created =
        app.post("/api/v1/api-keys", &app.api_key, json!({"name": "Production", "environment": "live"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = str_of(&created.body, "key").to_owned();
    assert!(secret.starts_with("sk_live_"), "{secret}");
    assert_eq!(created.body["name"], "Production");
    assert_eq!(created.body["environment"], "live");
    assert_eq!(created.body["last_four"], &secret[secret.len() - 4..]);
    assert!(secret.starts_with(str_of(&created.body, "prefix")));
    assert!(created.body["created_at"].is_string());

    let test_key = create_api_key(&app, &app.api_key, json!({"name": "Dev"})).await.1;
    assert!(test_key.starts_with("sk_test_"), "defaults to the caller's environment: {test_key}");

    let list = app.get("/api/v1/api-keys", &app.api_key).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    for answer in [&list, &app.get("/api/v1/me", &secret).await, &app.get("/api/v1/audit-events", &app.api_key).await] {
        for s in [&secret, &test_key, &app.api_key] {
            assert!(!answer.text.contains(s.as_str()), "a secret leaked into {}", answer.text);
            // Not even the random middle of it.
            assert!(!answer.text.contains(&s[14..40]), "part of a secret leaked into {}", answer.text);
        }
        assert!(!answer.text.contains("\"key\""), "{}", answer.text);
    }
    let listed = list.body["data"].as_array().unwrap().iter().find(|k| k["name"] == "Production").unwrap();
    assert_eq!(listed["last_four"], &secret[secret.len() - 4..]);
    assert!(listed["prefix"].as_str().unwrap().starts_with("sk_live_"));
    // The live key works and acts as the owner.
    let me = app.get("/api/v1/me", &secret).await;
    assert_eq!(me.body["api_key"]["environment"], "live");
    assert_eq!(me.body["member"]["role"], "owner");
}

#[tokio::test]
async fn a_member_sees_and_revokes_only_their_own_keys() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let (_, other_member) = app.member_key(&app.api_key, "n@example.com", "member").await;
    let (own_id, _) = create_api_key(&app, &member, json!({"name": "my laptop"})).await;
    let (others_id, _) = create_api_key(&app, &other_member, json!({"name": "their laptop"})).await;
    let owner_key_id = str_of(&app.get("/api/v1/me", &app.api_key).await.body["api_key"], "id").to_owned();

    let list = app.get("/api/v1/api-keys", &member).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body["data"].as_array().unwrap().iter().all(|k| k["member_id"] == member_id.as_str()),
        "{}",
        list.text
    );
    let listed = ids(&list);
    assert_eq!(listed.len(), 2, "the key the owner made for them and their own: {listed:?}");
    assert!(listed.contains(&own_id));

    // Another member's or the owner's key answers exactly like a missing one.
    let missing = app.delete("/api/v1/api-keys/key_00000000000000000000000000000000", &member).await;
    missing.assert_code(404, "NOT_FOUND");
    for id in [&others_id, &owner_key_id] {
        let answer = app.delete(&format!("/api/v1/api-keys/{id}"), &member).await;
        assert_eq!(answer.text, missing.text);
        assert_eq!(answer.status, 404);
    }
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200, "the owner's key still works");
    // A member may not create a key for someone else either.
    app.post("/api/v1/api-keys", &member, json!({"name": "x", "member_id": app.owner_id}))
        .await
        .assert_code(403, "FORBIDDEN");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{own_id}"), &member).await.status, 204);
}

#[tokio::test]
async fn an_admin_creates_keys_for_members_but_not_for_equal_or_higher_roles() {
    let app = spawn_app().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;
    let (other_admin_id, _) = app.member_key(&app.api_key, "admin2@example.com", "admin").await;
    let member = app.post("/api/v1/members", &app.api_key, json!({"email": "m@example.com", "role": "member"})).await;
    let member_id = str_of(&member.body, "id").to_owned();

    let for_member = app.post("/api/v1/api-keys", &admin, json!({"name": "for m", "member_id": member_id})).await;
    assert_eq!(for_member.status, 201, "{}", for_member.text);
    assert_eq!(for_member.body["member_id"], member_id.as_str());
    let key = str_of(&for_member.body, "key").to_owned();
    let me = app.get("/api/v1/me", &key).await;
    assert_eq!(me.body["member"]["id"], member_id.as_str());
    assert_eq!(me.body["member"]["role"], "member");

    for target in [&app.owner_id, &other_admin_id] {
        app.post("/api/v1/api-keys", &admin, json!({"name": "escalate", "member_id": target}))
            .await
            .assert_code(403, "FORBIDDEN");
    }
    // The owner may create a key for an admin.
    let by_owner = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "ok", "member_id": other_admin_id})).await;
    assert_eq!(by_owner.status, 201, "{}", by_owner.text);
}

// ---------------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_organization_s_ids_answer_404_exactly_like_missing_ids() {
    let app = spawn_app().await;
    // Organization A (default) has a member, a project and an API key.
    let member = app.post("/api/v1/members", &app.api_key, json!({"email": "a@example.com", "role": "member"})).await;
    let member_id = str_of(&member.body, "id").to_owned();
    let project_id = create_project(&app, &app.api_key, "A's project").await;
    let (key_id, key_a) = create_api_key(&app, &app.api_key, json!({"name": "A's key"})).await;

    let b = app.new_org("bcorp", Plan::Pro).await;
    let random = |prefix: &str| format!("{prefix}_0190000000007000800000000000abcd");

    let cases: Vec<(Method, String, String, Option<Value>)> = vec![
        (Method::PATCH, format!("/api/v1/members/{member_id}"), random("mem"), Some(json!({"role": "admin"}))),
        (Method::DELETE, format!("/api/v1/members/{member_id}"), random("mem"), None),
        (Method::DELETE, format!("/api/v1/members/{}", app.owner_id), random("mem"), None),
        (Method::GET, format!("/api/v1/projects/{project_id}"), random("prj"), None),
        (Method::DELETE, format!("/api/v1/projects/{project_id}"), random("prj"), None),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), random("key"), None),
    ];
    for (method, foreign, missing, body) in cases {
        let send = |path: String| {
            let mut request = app.request(method.clone(), &path, &b);
            if let Some(body) = &body {
                request = request.json(body);
            }
            async move { Answer::of(request.send().await.unwrap()).await }
        };
        let foreign_answer = send(foreign.clone()).await;
        let missing_path = format!("{}/{missing}", foreign.rsplit_once('/').unwrap().0);
        let missing_answer = send(missing_path).await;
        assert_eq!(foreign_answer.status, 404, "{method} {foreign}: {}", foreign_answer.text);
        assert_eq!(foreign_answer.body["error"]["code"], "NOT_FOUND");
        assert_eq!(foreign_answer.text, missing_answer.text, "{method} {foreign}");
    }
    // B cannot create a key for A's member either.
    app.post("/api/v1/api-keys", &b, json!({"name": "x", "member_id": member_id})).await.assert_code(404, "NOT_FOUND");

    // B's lists show none of A's objects.
    for path in ["/api/v1/members", "/api/v1/projects", "/api/v1/api-keys", "/api/v1/audit-events"] {
        let list = app.get(path, &b).await;
        assert_eq!(list.status, 200, "{path}: {}", list.text);
        for id in [&member_id, &project_id, &key_id, &app.owner_id, &app.org_id] {
            assert!(!list.text.contains(id.as_str()), "{path} of B shows A's {id}");
        }
    }
    // And everything of A is untouched.
    assert_eq!(app.get("/api/v1/me", &key_a).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/projects/{project_id}"), &app.api_key).await.status, 200);
    assert!(ids(&app.get("/api/v1/members", &app.api_key).await).contains(&member_id));
    assert_eq!(app.get("/api/v1/me", &b).await.body["organization"]["name"], "bcorp");
}

// ---------------------------------------------------------------------------------------------
// Validation and error shapes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let answer = app.post("/api/v1/projects", &app.api_key, json!({"name": "x", "colour": "red"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("colour"), "{}", answer.text);

    let answer = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "x", "scopes": ["all"]})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("scopes"), "{}", answer.text);

    // A wrong type names its field too.
    let answer =
        app.post("/api/v1/members", &app.api_key, json!({"email": "a@example.com", "role": "superuser"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(answer.body["error"]["field"], "role", "{}", answer.text);
    // A missing field is named.
    let answer = app.post("/api/v1/members", &app.api_key, json!({"role": "member"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("email"), "{}", answer.text);
    assert!(ids(&app.get("/api/v1/projects", &app.api_key).await).is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    for body in ["{\"name\": ", "not json", "", "[1, 2"] {
        let answer = app.post_raw("/api/v1/projects", &app.api_key, body).await;
        answer.assert_code(400, "VALIDATION_ERROR");
    }
    // The right JSON without the JSON content type is refused with a JSON error too.
    let answer = Answer::of(
        app.request(Method::POST, "/api/v1/projects", &app.api_key).body(r#"{"name": "x"}"#).send().await.unwrap(),
    )
    .await;
    answer.assert_code(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_json_error() {
    let app = spawn_app_with(Options { body_limit: Some(1024), ..Default::default() }).await;
    let big = json!({"name": "x".repeat(2048)});
    let answer = app.post("/api/v1/projects", &app.api_key, big).await;
    answer.assert_code(413, "PAYLOAD_TOO_LARGE");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    // Also without a Content-Length (chunked), the limit holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"{\"name\": \"".to_vec()), Ok(vec![b'y'; 4096]), Ok(b"\"}".to_vec())];
    let answer = app
        .post_raw("/api/v1/projects", &app.api_key, reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .await;
    answer.assert_code(413, "PAYLOAD_TOO_LARGE");
    // A body under the limit is fine.
    assert_eq!(app.post("/api/v1/projects", &app.api_key, json!({"name": "small"})).await.status, 201);
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    for path in ["/api/v1/nope", "/nope", "/api/v2/me"] {
        let answer = app.get(path, &app.api_key).await;
        answer.assert_code(404, "NOT_FOUND");
        let anonymous = Answer::of(app.http.get(app.url(path)).send().await.unwrap()).await;
        anonymous.assert_code(404, "NOT_FOUND");
    }
    // A known route with the wrong method is JSON too.
    let answer = app.put("/api/v1/me", &app.api_key, json!({})).await;
    assert_eq!(answer.status, 405, "{}", answer.text);
    assert!(answer.body["error"]["code"].is_string(), "{}", answer.text);
    // Health probes need no key.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Audit, settings, restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_audit_log_records_creations_revocations_and_role_changes_without_secrets() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let (key_id, secret) = create_api_key(&app, &app.api_key, json!({"name": "ci", "environment": "live"})).await;
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), &app.api_key).await.status, 204);
    assert_eq!(
        app.patch(&format!("/api/v1/members/{member_id}"), &app.api_key, json!({"role": "admin"})).await.status,
        200
    );
    let project_id = create_project(&app, &app.api_key, "audited").await;

    let events = app.get("/api/v1/audit-events", &app.api_key).await;
    assert_eq!(events.status, 200, "{}", events.text);
    let list = events.body["data"].as_array().unwrap();
    let find = |action: &str, object: &str| {
        list.iter()
            .find(|e| e["action"] == action && e["object_id"] == object)
            .unwrap_or_else(|| panic!("no {action} event for {object} in {}", events.text))
            .clone()
    };
    let created = find("api_key.created", &key_id);
    assert_eq!(created["object_type"], "api_key");
    assert_eq!(created["actor"]["member_id"], app.owner_id.as_str());
    assert!(created["created_at"].is_string());
    find("api_key.revoked", &key_id);
    let changed = find("member.role_changed", &member_id);
    assert_eq!(changed["detail"]["from"], "member");
    assert_eq!(changed["detail"]["to"], "admin");
    find("member.created", &member_id);
    find("project.created", &project_id);
    for s in [&secret, &member, &app.api_key] {
        assert!(!events.text.contains(s.as_str()), "a secret is in the audit log");
        assert!(!events.text.contains(&s[14..40]), "part of a secret is in the audit log");
    }

    // The promoted admin may read it; a member may not.
    assert_eq!(app.get("/api/v1/audit-events", &member).await.status, 200);
    let (_, plain) = app.member_key(&app.api_key, "p@example.com", "member").await;
    app.get("/api/v1/audit-events", &plain).await.assert_code(403, "FORBIDDEN");
}

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
    assert_eq!(changed.body, json!({"enabled": false, "tone": "friendly"}));
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
