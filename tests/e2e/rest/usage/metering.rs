//! Metering that nothing escapes, and provider timeouts that do not cut long generations:
//! a stream the caller abandons or the provider breaks is still counted; platform-allowance
//! calls reserve their worst case, so concurrent calls never overshoot the allowance; the
//! provider is sent the capped `max_tokens`; a silent stream ends at the idle timeout while a
//! slow whole answer does not.
//!
//! Most providers here are wiremock servers. A stream that must go silent halfway comes from
//! [`Trickle`], a stand-in sending OpenAI's real events one at a time (wiremock answers a
//! body whole, so it cannot stall mid-stream).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use converra::{Plan, Provider};
use converra_server::config::Config;
use converra_test_kit::providers::{MockProviders, chat_answer, stream_events};
use converra_test_kit::{Options, TestApp, spawn_app_with};
use futures_util::StreamExt;
use serde_json::{Value, json};

const PLATFORM: &str = "sk-platformKEY0123456789abcdef";
const MODEL: &str = "gpt-4o-mini";

/// The documented estimate when a provider's count is missing: one token per 4 bytes, rounded up.
fn estimate(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// A provider stand-in streaming `events` one by one, `pause` apart, after the first `send`
/// of them going silent (holding the connection open). Records every request body.
struct Trickle {
    base_url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct TrickleState {
    events: Vec<String>,
    send: usize,
    pause: Duration,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn trickle_answer(State(s): State<TrickleState>, body: Bytes) -> axum::response::Response {
    s.bodies.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let pause = s.pause;
    let sent = futures_util::stream::iter(s.events.into_iter().take(s.send)).then(move |event| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, Infallible>(Bytes::from(event))
    });
    let body = Body::from_stream(sent.chain(futures_util::stream::pending()));
    axum::response::Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
}

impl Trickle {
    async fn start(events: Vec<String>, send: usize, pause: Duration) -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let state = TrickleState { events, send, pause, bodies: bodies.clone() };
        let app = axum::Router::new().fallback(trickle_answer).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url: format!("http://{addr}/v1"), bodies }
    }
}

/// The app with the operator's OpenAI key behind the allowance, reached at `openai`.
async fn platform_app(openai: String, configure: Option<fn(&mut Config)>) -> TestApp {
    spawn_app_with(Options {
        base_urls: [(Provider::Openai, openai)].into(),
        platform_keys: [(Provider::Openai, PLATFORM.to_owned())].into(),
        configure,
        ..Default::default()
    })
    .await
}

/// Reads a streamed completion's raw SSE text until `until` shows up in it (or it ends).
async fn read_until(response: &mut reqwest::Response, until: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(until) {
        match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(_) => break,
            Err(_) => panic!("no `{until}` within 10 s; got {seen}"),
        }
    }
    seen
}

/// Polls the usage report until `ready` holds for it: an abandoned stream is counted once the
/// server notices the disconnect. Slow enough to stay within the plan's 60 requests a minute.
async fn usage_when(app: &TestApp, ready: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let usage = app.get("/api/v1/usage", &app.api_key).await;
        assert_eq!(usage.status, 200, "{}", usage.text);
        if ready(&usage.body) {
            return usage.body;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "usage never showed it: {}", usage.text);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_is_counted_with_estimated_tokens() {
    // The provider streams the text, then its final usage chunk is slow to come.
    let parts = ["Hello", ", world", " and all who dwell in it"];
    let trickle = Trickle::start(stream_events(Provider::Openai, MODEL, &parts), 1 + parts.len(), Duration::ZERO).await;
    let app = platform_app(trickle.base_url.clone(), None).await;
    let prompt = "Say hello to the whole wide world";
    let ask =
        json!({"model": format!("openai/{MODEL}"), "stream": true, "messages": [{"role": "user", "content": prompt}]});

    let mut response =
        app.request(reqwest::Method::POST, "/api/v1/completions", &app.api_key).json(&ask).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = read_until(&mut response, "dwell in it").await;
    assert!(!seen.contains("usage\":{"), "no usage before the client leaves: {seen}");
    drop(response);
    let asked = trickle.bodies.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["max_completion_tokens"], 1024, "the platform call's output cap");
    assert_eq!(asked[0]["stream_options"], json!({"include_usage": true}));

    let (input, output) = (estimate(prompt), estimate(&parts.concat()));
    let usage = usage_when(&app, |u| u["totals"]["requests"] == 1).await;
    // An estimate has no cached or reasoning tokens; it is costed like any count, here by
    // gpt-4o-mini's row (0.15 and 0.60 micro-USD a token, rounded once, half up).
    let cost_of = |input: u64, output: u64| (input * 150 + output * 600 + 500) / 1000;
    let estimated = |requests: u64, input: u64, output: u64, cost: u64| {
        json!({"requests": requests, "input_tokens": input, "output_tokens": output,
            "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
            "cost_micro_usd": cost, "unpriced_requests": 0, "cost_known": true})
    };
    assert_eq!(usage["totals"], estimated(1, input, output, cost_of(input, output)));
    assert_eq!(usage["allowance"]["used"], input + output, "{usage}");

    // The same through the OpenAI-compatible face.
    let ask = json!({"model": format!("openai/{MODEL}"), "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": prompt}]});
    let mut response =
        app.request(reqwest::Method::POST, "/v1/chat/completions", &app.api_key).json(&ask).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-converra-key-source"], "platform");
    assert!(response.headers().get("x-converra-key-id").is_none(), "the platform key has no id to show");
    read_until(&mut response, "dwell in it").await;
    drop(response);
    // Forwarded, the prompt is estimated from the messages as sent (roles and all).
    let forwarded_input = estimate(&ask["messages"].to_string());
    let usage = usage_when(&app, |u| u["totals"]["requests"] == 2).await;
    assert_eq!(
        usage["totals"],
        estimated(2, input + forwarded_input, 2 * output, cost_of(input, output) + cost_of(forwarded_input, output))
    );
}

#[tokio::test]
async fn a_stream_that_goes_silent_ends_at_the_idle_timeout_and_is_counted() {
    let parts = ["Thinking", " very", " hard"];
    let trickle = Trickle::start(stream_events(Provider::Openai, MODEL, &parts), 1 + parts.len(), Duration::ZERO).await;
    let app =
        platform_app(trickle.base_url.clone(), Some(|c| c.providers.timeouts.idle = Duration::from_secs(1))).await;
    let prompt = "Prove it";
    let ask =
        json!({"model": format!("openai/{MODEL}"), "stream": true, "messages": [{"role": "user", "content": prompt}]});

    let started = std::time::Instant::now();
    let mut response =
        app.request(reqwest::Method::POST, "/api/v1/completions", &app.api_key).json(&ask).send().await.unwrap();
    let seen = read_until(&mut response, "[DONE]").await;
    assert!(started.elapsed() < Duration::from_secs(5), "ended by the 1 s idle timeout, took {:?}", started.elapsed());
    assert!(seen.contains(" hard"), "the text came first: {seen}");
    assert!(seen.contains("event: error"), "{seen}");
    assert!(
        seen.contains(r#""code":"PROVIDER_ERROR""#) && seen.contains(r#""provider_status":"unreachable""#),
        "{seen}"
    );

    // A failed completion is not in the totals, but the tokens it spent count against the allowance.
    let spent = estimate(prompt) + estimate(&parts.concat());
    let usage = usage_when(&app, |u| u["allowance"]["used"] != 0).await;
    assert_eq!(usage["allowance"]["used"], spent, "{usage}");
    assert_eq!(usage["totals"]["requests"], 0);
}

#[tokio::test]
async fn a_slow_whole_answer_is_not_held_to_the_stream_idle_timeout() {
    let mocks = MockProviders::start().await;
    let slow = chat_answer(Provider::Openai, MODEL, "worth the wait").set_delay(Duration::from_secs(2));
    mocks.answer_chat(Provider::Openai, PLATFORM, MODEL, false, slow).await;
    let openai = mocks.base_urls()[&Provider::Openai].clone();
    let app = platform_app(openai, Some(|c| c.providers.timeouts.idle = Duration::from_secs(1))).await;

    let ask = json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Take your time"}]});
    let answer = app.post("/api/v1/completions", &app.api_key, ask).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["content"], "worth the wait");
}

#[tokio::test]
async fn platform_calls_send_the_capped_max_tokens_to_the_provider() {
    let mocks = MockProviders::start().await;
    mocks.answer_text(Provider::Openai, PLATFORM, MODEL, "ok").await;
    let openai = mocks.base_urls()[&Provider::Openai].clone();
    let app = platform_app(openai.clone(), None).await;
    let ask = |max: Option<u32>| {
        let mut body = json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "hi"}]});
        if let Some(max) = max {
            body["max_tokens"] = json!(max);
        }
        body
    };
    for max in [None, Some(100_000), Some(50)] {
        assert_eq!(app.post("/api/v1/completions", &app.api_key, ask(max)).await.status, 200);
    }
    let sent: Vec<Value> =
        mocks.chat_bodies(Provider::Openai).await.iter().map(|b| b["max_completion_tokens"].clone()).collect();
    assert_eq!(sent, [json!(1024), json!(16384), json!(50)], "default, maximum, the caller's own");

    // Both caps are the operator's to set.
    let configured = platform_app(
        openai,
        Some(|c| {
            c.providers.allowance.default_output_tokens = 200;
            c.providers.allowance.max_output_tokens = 300;
        }),
    )
    .await;
    for max in [None, Some(100_000)] {
        assert_eq!(configured.post("/api/v1/completions", &configured.api_key, ask(max)).await.status, 200);
    }
    let sent: Vec<Value> =
        mocks.chat_bodies(Provider::Openai).await.iter().skip(3).map(|b| b["max_completion_tokens"].clone()).collect();
    assert_eq!(sent, [json!(200), json!(300)]);
}

#[tokio::test]
async fn concurrent_platform_calls_never_spend_more_than_the_allowance() {
    let mocks = MockProviders::start().await;
    // Slow enough that every call below is in flight at once.
    let answer = chat_answer(Provider::Openai, MODEL, "ok").set_delay(Duration::from_millis(700));
    mocks.answer_chat(Provider::Openai, PLATFORM, MODEL, false, answer).await;
    let app = platform_app(mocks.base_urls()[&Provider::Openai].clone(), None).await;
    // 60 bytes of prompt (15 tokens) + max_tokens 5: each call reserves 20 and spends 17.
    let prompt = "Reply with one short word, please, and nothing else at all!";
    assert_eq!(estimate(prompt), 15);
    let ask =
        json!({"model": format!("openai/{MODEL}"), "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]});
    // One call has spent 17; 17 + 5 × 20 + 10 leaves room for exactly five more.
    let limit = 17 + 5 * 20 + 10;
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, None, Some(limit), None).await.unwrap();
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200);

    let calls = (0..12).map(|_| app.post("/api/v1/completions", &app.api_key, ask.clone()));
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    for refused in answers.iter().filter(|a| a.status != 200) {
        refused.assert_code(402, "ALLOWANCE_EXHAUSTED");
    }
    assert_eq!(ok, 5, "exactly the calls that fit");

    let usage = usage_when(&app, |u| u["totals"]["requests"] == 6).await;
    let used = usage["allowance"]["used"].as_u64().unwrap();
    assert_eq!(used, 6 * 17);
    assert!(used <= limit, "{used} > {limit}");
    assert!(mocks.chat_bodies(Provider::Openai).await.iter().all(|b| b["max_completion_tokens"] == 5));
}

#[test]
fn timeouts_and_output_caps_are_the_operators_to_set() {
    let defaults = Config::from_lookup(|_| None).unwrap().providers;
    assert_eq!(
        (defaults.timeouts.connect, defaults.timeouts.idle, defaults.timeouts.response),
        (Duration::from_secs(5), Duration::from_secs(120), Duration::from_secs(600))
    );
    assert_eq!((defaults.allowance.default_output_tokens, defaults.allowance.max_output_tokens), (1024, 16384));

    let set = [
        ("CONVERRA_PROVIDER_CONNECT_TIMEOUT_SECS", "2"),
        ("CONVERRA_PROVIDER_IDLE_TIMEOUT_SECS", "300"),
        ("CONVERRA_PROVIDER_TIMEOUT_SECS", "1800"),
        ("CONVERRA_ALLOWANCE_DEFAULT_OUTPUT_TOKENS", "512"),
        ("CONVERRA_ALLOWANCE_MAX_OUTPUT_TOKENS", "4096"),
    ];
    let lookup = |name: &str| set.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
    let configured = Config::from_lookup(lookup).unwrap().providers;
    assert_eq!(
        (configured.timeouts.connect, configured.timeouts.idle, configured.timeouts.response),
        (Duration::from_secs(2), Duration::from_secs(300), Duration::from_secs(1800))
    );
    assert_eq!((configured.allowance.default_output_tokens, configured.allowance.max_output_tokens), (512, 4096));

    for (name, bad) in [("CONVERRA_PROVIDER_IDLE_TIMEOUT_SECS", "0"), ("CONVERRA_ALLOWANCE_MAX_OUTPUT_TOKENS", "lots")]
    {
        let e = Config::from_lookup(|n| (n == name).then(|| bad.to_owned())).err().expect("refused");
        assert_eq!(e.to_string(), format!("{name} is not valid: `{bad}` is not a whole number of at least 1"));
    }
}
