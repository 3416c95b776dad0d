//! End to end: live key health. A provider mock turns a key bad mid-traffic; the next
//! completion flags it and its error names the key's health; every face lists it; the
//! background re-test turns it green when the mock recovers; a local webhook receiver gets
//! both events, signed, and checks them the way `docs/webhooks.md` tells users to. A 403 does
//! not flag; a key older than the organization's rotation period is `rotation_due`; a budget's
//! threshold is announced through the same webhook (`budget_threshold.rs`).

mod budget_threshold;
mod flagged;
mod forbidden;
mod lease;
mod rotation;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use converra::Provider;
use converra_test_kit::providers::{
    MockProviders, auth_header, chat_answer, chat_path, insufficient_quota, models_body, models_path,
};
use converra_test_kit::{Options, TestApp, spawn_app_with, unix_now};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// The OpenAI key of these tests; only the switchable mocks below know it.
const KEY: &str = "sk-proj-HEALTHopenaiKEY0123456789qrst";
const MODEL: &str = "gpt-4o-mini";
const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef";

/// The provider's account: in credit, or out of quota (OpenAI's real 429) until topped up.
#[derive(Clone, Default)]
struct Account {
    out_of_quota: Arc<AtomicBool>,
}

impl Account {
    fn run_dry(&self) {
        self.out_of_quota.store(true, Ordering::SeqCst);
    }

    fn top_up(&self) {
        self.out_of_quota.store(false, Ordering::SeqCst);
    }
}

/// Answers `ok` while the account has credit, OpenAI's `insufficient_quota` 429 otherwise.
struct Switch {
    account: Account,
    ok: ResponseTemplate,
}

impl Respond for Switch {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.account.out_of_quota.load(Ordering::SeqCst) { insufficient_quota() } else { self.ok.clone() }
    }
}

/// Mounts OpenAI's models list and chat for [`KEY`] behind `account`.
async fn mount_account(mocks: &MockProviders, account: &Account) {
    let (name, value) = auth_header(Provider::Openai, KEY);
    let server = mocks.server(Provider::Openai);
    let models = ResponseTemplate::new(200).set_body_json(models_body(Provider::Openai));
    Mock::given(method("GET"))
        .and(path(models_path(Provider::Openai)))
        .and(header(name, value.as_str()))
        .respond_with(Switch { account: account.clone(), ok: models })
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, MODEL, false)))
        .and(header(name, value.as_str()))
        .respond_with(Switch { account: account.clone(), ok: chat_answer(Provider::Openai, MODEL, "Hi!") })
        .with_priority(1)
        .mount(server)
        .await;
}

/// What the webhook receiver got: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A small HTTP server standing in for the operator's webhook endpoint.
async fn webhook_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hooks/converra",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/converra", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Re-tests after a second, and the background looks every 100 ms.
fn fast_health(config: &mut converra_server::config::Config) {
    config.health.retest_first = Duration::from_secs(1);
    config.health.retest_max = Duration::from_secs(2);
    config.health.interval = Duration::from_millis(100);
}

/// The app in front of the mocks, with the webhook at `webhook` and fast background health.
async fn health_app(mocks: &MockProviders, webhook: &str, sqlite_file: bool) -> TestApp {
    spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        webhook: Some((webhook.to_owned(), WEBHOOK_SECRET.to_owned())),
        configure: Some(fast_health),
        sqlite_file,
        ..Default::default()
    })
    .await
}

/// Checks a delivery as `docs/webhooks.md` tells a receiver to: split the header into `t` and
/// `v1`, refuse a timestamp more than 5 minutes off, compute HMAC-SHA256 over `t.body` with
/// the secret and compare in constant time. Returns the event.
fn verified(headers: &HeaderMap, body: &str) -> Value {
    let signature = headers.get("converra-signature").expect("a Converra-Signature header").to_str().unwrap();
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("t=<timestamp>"), v1.expect("v1=<signature>"));
    assert!(unix_now().abs_diff(t) <= 300, "the timestamp is within the 5-minute tolerance");
    let expected: Vec<u8> = (0..v1.len()).step_by(2).map(|i| u8::from_str_radix(&v1[i..i + 2], 16).unwrap()).collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected).expect("the signature is valid");
    let event: Value = serde_json::from_str(body).expect("a JSON event");
    assert_eq!(headers.get("converra-event-id").unwrap().to_str().unwrap(), event["id"], "the id header");
    event
}

/// Waits until the receiver holds `n` events; returns them verified.
async fn events(received: &Received, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), n, "webhook events: {:?}", got.iter().map(|(_, b)| b).collect::<Vec<_>>());
    got.iter().map(|(h, b)| verified(h, b)).collect()
}

/// Adds [`KEY`] as the organization's OpenAI key (not tested); returns its id.
async fn add_key(app: &TestApp) -> String {
    let key = app.add_provider_key(&app.api_key, Provider::Openai, KEY, json!({"name": "OpenAI-Production"})).await;
    key["id"].as_str().unwrap().to_owned()
}

async fn complete(app: &TestApp) -> converra_test_kit::Answer {
    app.post(
        "/api/v1/completions",
        &app.api_key,
        json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Hello"}]}),
    )
    .await
}

/// The one key listed at `query`, as the owner sees it.
async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let answer = app.get(&format!("/api/v1/provider-keys{query}"), &app.api_key).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["data"].as_array().unwrap().clone()
}

/// Asserts that no part of [`KEY`] but its last four characters appears in `text`.
fn assert_no_secret(text: &str) {
    assert!(!text.contains(KEY) && !text.contains(&KEY[..12]) && !text.contains(&KEY[8..30]), "secret in {text}");
}
