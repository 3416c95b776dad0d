//! End to end: authentication, roles, tenancy, Converra API keys, rate limits,
//! validation, audit and restarts — all against the real server on a random port and a real
//! SQLite file.

use std::time::Duration;

use converra::{Environment, Plan};
use converra_test_kit::{Answer, Options, TestApp, rfc3339, spawn_app, spawn_app_with, str_of, unix_now};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

mod api_keys;
mod audit;
mod authentication;
mod bound_keys;
mod members;
mod projects;
mod rate_limits;
mod requests;
mod restart;
mod settings;
mod tenancy;

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
