//! The official `anthropic` Python client against `/v1/messages`, changing only its base URL and
//! key (script: `anthropic_client.py` beside this file): a whole answer with its thinking block,
//! a streamed tool call read with the SDK's stream helper, `count_tokens`, and each kind of
//! refusal raising the SDK's own typed error, with `max_retries` at its default: the SDK retries
//! a rate limit and an overload (Converra lets it), and sends Converra's refusals that a retry
//! cannot change (`x-should-retry: false`) exactly once, a 409 included.

use std::time::{Duration, Instant};

use converra::Provider;
use converra_test_kit::providers::valid_key;
use converra_test_kit::{Options, spawn_app_with};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{both, client_command, missing, run};
use converra_test_kit::providers::MockProviders;

const MODEL: &str = "claude-sonnet-4-5";

/// The Python that imports `anthropic`: `CONVERRA_PYTHON`, else `python3`.
async fn python_with_anthropic() -> Result<(String, String), String> {
    let python = std::env::var("CONVERRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut probe = client_command(&python);
    probe.args(["-c", "import anthropic; print(anthropic.__version__)"]).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(30), probe.output()).await {
        Ok(Ok(out)) if out.status.success() => Ok((python, String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Ok(Ok(_)) => Err(format!("`{python}` cannot import anthropic")),
        Ok(Err(e)) => Err(format!("`{python}` does not run: {e}")),
        Err(_) => Err(format!("`{python} -c 'import anthropic'` did not finish within 30 s")),
    }
}

/// Anthropic's streamed answer: a sentence, then a tool call whose input comes in two pieces
/// (20 in, 9 out).
fn tool_call_events() -> String {
    [
        ("message_start", json!({"type": "message_start", "message": {"id": "msg_01Wq8v", "type": "message", "role": "assistant",
            "content": [], "model": MODEL, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 20, "output_tokens": 1}}})),
        ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
        ("ping", json!({"type": "ping"})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ("content_block_start", json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_01T1x", "name": "get_weather", "input": {}}})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 9}})),
        ("message_stop", json!({"type": "message_stop"})),
    ]
    .into_iter()
    .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
    .collect()
}

/// Anthropic's error body of `kind` saying `message`.
fn refusal(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"type": "error", "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}))
}

/// The Messages calls Anthropic received for `model`, each with the key it came with.
async fn received(mocks: &MockProviders, at: &str, model: Option<&str>) -> Vec<String> {
    let all = mocks.anthropic.received_requests().await.unwrap_or_default();
    all.into_iter()
        .filter(|r| r.url.path() == at)
        .filter(|r| model.is_none_or(|m| serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["model"] == m)))
        .map(|r| r.headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
#[ignore = "needs the anthropic Python client, installed by .ci/run"]
async fn the_official_anthropic_python_client_works_with_only_base_url_and_key_changed() {
    let (python, version) = match python_with_anthropic().await {
        Ok(found) => found,
        Err(why) => missing("the anthropic Python client", &why),
    };
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let at = |p: &str| Mock::given(method("POST")).and(path(p)).and(header("x-api-key", key));
    let whole = json!({"id": "msg_013Zva2C", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "thinking", "thinking": "The user greets me.", "signature": "EqQBCgIYAhIM"},
                    {"type": "text", "text": "Hello there!"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 5}});
    let limited = refusal(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute.",
    )
    .insert_header("retry-after", "1");
    for (model, answer) in [
        (
            "claude-opus-4-1",
            refusal(403, "permission_error", "Your API key does not have permission to use the specified resource."),
        ),
        ("claude-3-nope", refusal(404, "not_found_error", "model: claude-3-nope")),
        ("claude-haiku-4-5", limited),
        ("claude-opus-4-5", refusal(529, "overloaded_error", "Overloaded")),
    ] {
        at("/v1/messages")
            .and(body_partial_json(json!({"model": model})))
            .respond_with(answer)
            .with_priority(1)
            .mount(&mocks.anthropic)
            .await;
    }
    at("/v1/messages")
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(tool_call_events(), "text/event-stream"))
        .with_priority(1)
        .mount(&mocks.anthropic)
        .await;
    at("/v1/messages")
        .respond_with(ResponseTemplate::new(200).set_body_json(whole))
        .with_priority(2)
        .mount(&mocks.anthropic)
        .await;
    at("/v1/messages/count_tokens")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"input_tokens": 14})))
        .mount(&mocks.anthropic)
        .await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/clients/anthropic_client.py");
    let started = Instant::now();
    let mut command = client_command(&python);
    command.arg(script).arg(&app.base_url).arg(&app.api_key);
    let output = run(command, Duration::from_secs(120)).await;
    eprintln!("anthropic {version} (Python): {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the anthropic client failed:\n{}", both(&output));
    for line in [
        "ok content types: ['thinking', 'text']",
        "ok thinking: ('The user greets me.', 'EqQBCgIYAhIM')",
        "ok text: 'Hello there!'",
        "ok usage: (12, 5)",
        "ok stream text: 'Let me check.'",
        "ok stream tool call: ('get_weather', {'city': 'Paris'})",
        "ok stream usage: (20, 9)",
        "ok count_tokens: 14",
        "ok bad key status: 401",
        "ok forbidden model status: 403",
        "ok forbidden model requests: 1",
        "ok unknown model status: 404",
        "ok unknown model message: 'model: claude-3-nope'",
        "ok rate limited status: 429",
        "ok rate limited requests: 3",
        "ok rate limited retry-after: '1'",
        "ok overloaded status: 529",
        "ok overloaded requests: 3",
        "ok account beta status: 400",
        "ok account beta requests: 1",
        "ok no deepseek key status: 409",
        "ok no deepseek key requests: 1",
        "ok budget exceeded status: 402",
        "ok budget exceeded requests: 1",
        "ok budget exceeded type: 'billing_error'",
        "ok budget exceeded code: 'BUDGET_EXCEEDED'",
        "all checks passed",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing `{line}` in:\n{stdout}");
    }

    // What reached Anthropic: each retry the SDK made, on the organization's key, never the
    // Converra key; Converra's own refusals reached nobody.
    for (model, calls) in
        [("claude-opus-4-1", 1), ("claude-3-nope", 1), ("claude-haiku-4-5", 3), ("claude-opus-4-5", 3)]
    {
        assert_eq!(received(&mocks, "/v1/messages", Some(model)).await.len(), calls, "{model}");
    }
    let keys = received(&mocks, "/v1/messages", None).await;
    // The above, the whole answer, the stream; the refused beta never went out.
    assert_eq!(keys.len(), 8 + 2, "{keys:?}");
    assert!(keys.iter().all(|k| k == key), "{keys:?}");
    assert_eq!(received(&mocks, "/v1/messages/count_tokens", None).await, [key]);
    let deepseek = mocks.deepseek.received_requests().await.unwrap_or_default();
    assert!(deepseek.iter().all(|r| r.method.as_str() == "GET"), "nothing but key tests reached DeepSeek");
}
