//! End to end: the provider-key vault — adding, masking, rotation, testing against
//! wiremock stand-ins of the four providers, resolution, members' view, tenancy, and the
//! encryption at rest (raw database bytes, swapped ciphertexts, master-key rotation).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use converra::{Plan, Provider};
use converra_core::vault::crypto::unwrap_data_key;
use converra_core::vault::{Key, MasterRotation};
use converra_test_kit::providers::{
    MockProviders, auth_header, insufficient_quota, models_path, permission_denied, revoked_key, valid_key,
};
use converra_test_kit::{Answer, Options, TestApp, id_of, spawn_app_on, spawn_app_with, str_of};
use futures_util::FutureExt;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

mod adding;
mod encryption;
mod master_key_rotation;
mod members;
mod not_stored;
mod resolution;
mod rotation;
mod tenancy;
mod testing_keys;

/// A second OpenAI key the mocks accept (rotation, replacement).
const SECOND_OPENAI: &str = "sk-proj-SECONDopenaiKEY0123456789mnop";

const INTERNAL: &str = r#"{"error":{"code":"INTERNAL","message":"Internal error"}}"#;

/// For tests that read or write the SQLite file itself.
async fn sqlite_app_with(mocks: &MockProviders) -> TestApp {
    spawn_app_with(Options { base_urls: mocks.base_urls(), sqlite_file: true, ..Default::default() }).await
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

/// Whether `needle` occurs in `haystack` (raw database bytes).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Opens the app's database beside the running server.
fn sqlite(app: &TestApp) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&app.db_path).expect("open the database file");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}
