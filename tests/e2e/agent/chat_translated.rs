//! `/v1/chat/completions` on Claude and Gemini models, translated wire to wire: an agent's tool
//! loop (the model calls a tool, the client sends its result, the model answers), whole and
//! streamed (the tool call's deltas reassemble to the exact arguments), an image, JSON output,
//! the usage in the provider's own figures; the exact bodies each provider received, on the
//! organization's key and never the Converra key; a field that cannot be carried refused by
//! name with nothing sent, the advisory ones named in `X-Converra-Dropped-Fields`; the platform
//! allowance's output cap; and a provider's error event mid-stream as OpenAI's error.

use converra::Provider;
use converra_test_kit::providers::valid_key;
use converra_test_kit::translated::{
    anthropic_json_tool, anthropic_text, anthropic_tool_use, anthropic_tool_use_events, gemini_function_call,
    gemini_function_call_events, gemini_text, sse,
};
use converra_test_kit::{Answer, TestApp, app_with_mocks};
use serde_json::{Value, json};

use super::post_chat;

const CLAUDE: &str = "claude-sonnet-4-5";
const GEMINI: &str = "gemini-2.5-flash";
const IMAGE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

/// The first step of the loop: a system prompt, the question, the tool.
fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"}], "tools": weather_tool(), "tool_choice": "auto",
        "max_completion_tokens": 300})
}

/// The next step, as the OpenAI SDK sends it: the assistant's message as answered, then the
/// tool's result for its call.
fn with_result(ask: &Value, answer: &Answer, result: &str) -> Value {
    let message = answer.body["choices"][0]["message"].clone();
    let call = message["tool_calls"][0]["id"].clone();
    let mut next = ask.clone();
    let messages = next["messages"].as_array_mut().unwrap();
    messages.extend([message, json!({"role": "tool", "tool_call_id": call, "content": result})]);
    next
}

/// The answer without its `created` time.
fn timeless(answer: &Answer) -> Value {
    let mut body = answer.body.clone();
    assert!(body["created"].as_u64().is_some(), "{}", answer.text);
    body.as_object_mut().unwrap().remove("created");
    body
}

/// A streamed answer's chunks (after checking it ends in `[DONE]`), and its calls reassembled
/// from their deltas by index: (id, name, arguments).
fn read_stream(answer: &Answer) -> (Vec<Value>, Vec<(String, String, String)>) {
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    let data: Vec<&str> = answer.text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{}", answer.text);
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for call in
        chunks.iter().flat_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned().unwrap_or_default())
    {
        let index = call["index"].as_u64().unwrap() as usize;
        if index == calls.len() {
            calls.push((
                call["id"].as_str().unwrap().into(),
                call["function"]["name"].as_str().unwrap().into(),
                String::new(),
            ));
        }
        calls[index].2.push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    (chunks, calls)
}

fn content_of(chunks: &[Value]) -> String {
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

/// Every request `provider` received went with the organization's key where the provider
/// wants it, and nothing of the Converra key anywhere.
async fn only_the_organizations_key_was_sent(
    app: &TestApp,
    mocks: &converra_test_kit::providers::MockProviders,
    provider: Provider,
) {
    let (name, value) = converra_test_kit::providers::auth_header(provider, valid_key(provider));
    for (at, headers, _) in mocks.requests(provider).await {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value.as_str()), "{at}");
        assert!(!at.contains("key="), "the key never goes in the URL: {at}");
        for (header, v) in &headers {
            assert!(
                !String::from_utf8_lossy(v.as_bytes()).contains(&app.api_key),
                "the Converra key went upstream in {header}"
            );
        }
    }
}

async fn usage_totals(app: &TestApp) -> Value {
    app.get("/api/v1/usage", &app.api_key).await.body["totals"].clone()
}

#[tokio::test]
async fn a_tool_loop_on_claude_runs_through_chat_completions_on_the_organizations_key() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    let stored = app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let (first, last) = (anthropic_tool_use(CLAUDE), anthropic_text(CLAUDE, "It is 18°C and sunny in Paris."));
    mocks.play_tool_loop(Provider::Anthropic, key, CLAUDE, "tool_result", first, last).await;

    let ask = ask("anthropic/claude-sonnet-4-5");
    let called = post_chat(&app, ask.to_string()).await;
    assert_eq!(called.status, 200, "{}", called.text);
    let expected = json!({"id": "chatcmpl-msg_01Aq9w938a90dw8q", "object": "chat.completion", "model": "anthropic/claude-sonnet-4-5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking the weather.", "refusal": null,
            "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 125, "completion_tokens": 9, "total_tokens": 134, "prompt_tokens_details": {"cached_tokens": 100}}});
    assert_eq!(timeless(&called), expected);
    assert_eq!(called.header("x-converra-key-source"), Some("organization"));
    assert_eq!(called.header("x-converra-key-id"), stored["id"].as_str());
    assert_eq!(called.header("x-converra-dropped-fields"), None);
    // The translated answer's cost: 20 × 3 + 5 × 3.75 + 100 × 0.30 + 9 × 15 = 243.75 micro-USD.
    assert_eq!(called.header("x-converra-cost-usd"), Some("0.000244"));

    let next = with_result(&ask, &called, "18°C, sunny");
    let answered = post_chat(&app, next.to_string()).await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(
        answered.body["choices"][0]["message"],
        json!({"role": "assistant", "content": "It is 18°C and sunny in Paris.", "refusal": null})
    );
    assert_eq!(answered.body["choices"][0]["finish_reason"], "stop");

    // What Anthropic received: the Messages API, the call and its result as its own blocks.
    let sent = mocks.requests(Provider::Anthropic).await;
    assert_eq!(sent.len(), 2);
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let asked = json!({"model": CLAUDE, "max_tokens": 300, "system": "You are a weather bot.", "messages": [user],
        "tools": [{"name": "get_weather", "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
        "tool_choice": {"type": "auto"}});
    assert_eq!((sent[0].0.as_str(), &sent[0].2), ("/v1/messages", &asked));
    let mut looped = asked;
    looped["messages"] = json!([user,
        {"role": "assistant", "content": [{"type": "text", "text": "Checking the weather."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18°C, sunny"}]}]);
    assert_eq!(sent[1].2, looped);
    assert!(sent.iter().all(|(_, headers, _)| headers.get("anthropic-version").is_some_and(|v| v == "2023-06-01")));
    only_the_organizations_key_was_sent(&app, &mocks, Provider::Anthropic).await;

    // Metered from Anthropic's own usage: cache reads and writes are parts of the prompt.
    // Costed by claude-sonnet-4-5's row per call: uncached input 3, cache reads 0.30, cache writes
    // 3.75, output 15 micro-USD per token (50 × 3 + 100 × 0.3 + 5 × 3.75 + 15 × 15 = 423.75 in all).
    let totals = json!({"requests": 2, "input_tokens": 155, "output_tokens": 15, "cache_read_tokens": 100,
        "cache_write_tokens": 5, "reasoning_tokens": 0, "cost_micro_usd": 424, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage_totals(&app).await, totals);
}

#[tokio::test]
async fn a_streamed_tool_call_from_claude_reassembles_to_its_exact_arguments() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    mocks.answer_chat(Provider::Anthropic, key, CLAUDE, true, sse(&anthropic_tool_use_events(CLAUDE))).await;

    let mut asked = ask(CLAUDE);
    asked["stream"] = json!(true);
    asked["stream_options"] = json!({"include_usage": true});
    let answer = post_chat(&app, asked.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
    let (chunks, calls) = read_stream(&answer);
    assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    assert_eq!(content_of(&chunks), "Checking the weather.");
    assert_eq!(
        calls,
        [("toolu_01T1x1fJ34qAmk2tNTrN7Up6".to_owned(), "get_weather".to_owned(), "{\"city\": \"Paris\"}".to_owned())]
    );
    let finishes: Vec<&Value> =
        chunks.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
    assert_eq!(finishes, [&json!("tool_calls")]);
    // Asked for: the usage-only chunk, last (372 in + 100 cache reads; 89 out).
    let last = chunks.last().unwrap();
    assert_eq!(
        (last["choices"].clone(), last["usage"].clone()),
        (
            json!([]),
            json!({"prompt_tokens": 472,
        "completion_tokens": 89, "total_tokens": 561, "prompt_tokens_details": {"cached_tokens": 100}})
        )
    );

    let sent = mocks.requests(Provider::Anthropic).await;
    assert_eq!((sent.len(), &sent[0].2["stream"]), (1, &json!(true)));
    assert!(sent[0].2.get("stream_options").is_none(), "Anthropic has no stream_options");
    only_the_organizations_key_was_sent(&app, &mocks, Provider::Anthropic).await;
    // 372 × 3 + 100 × 0.30 + 89 × 15 = 2,481 micro-USD.
    let totals = json!({"requests": 1, "input_tokens": 472, "output_tokens": 89, "cache_read_tokens": 100,
        "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_micro_usd": 2481, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage_totals(&app).await, totals);
}

#[tokio::test]
async fn an_image_and_json_output_reach_claude_in_its_own_forms() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let schema = json!({"type": "object", "properties": {"celsius": {"type": "number"}}, "required": ["celsius"],
        "additionalProperties": false});
    // A structured answer is JSON text; a `json_object` one comes through the forced tool.
    let answer = anthropic_text(CLAUDE, "{\"celsius\":18}");
    mocks
        .play_tool_loop(
            Provider::Anthropic,
            key,
            CLAUDE,
            "json_object",
            answer,
            anthropic_json_tool(CLAUDE, json!({"celsius": 18})),
        )
        .await;

    let photo = json!([{"type": "text", "text": "How warm does it look?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE}")}}]);
    let structured = json!({"model": CLAUDE, "messages": [{"role": "user", "content": photo}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "warmth", "strict": true, "schema": schema}}});
    let answer = post_chat(&app, structured.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["choices"][0]["message"]["content"], "{\"celsius\":18}");
    let object = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Warmth as JSON?"}],
        "response_format": {"type": "json_object"}});
    let answer = post_chat(&app, object.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["choices"][0]["message"],
        json!({"role": "assistant", "content": "{\"celsius\":18}", "refusal": null})
    );
    assert_eq!(answer.body["choices"][0]["finish_reason"], "stop");

    let sent = mocks.requests(Provider::Anthropic).await;
    assert_eq!(
        sent[0].2["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "How warm does it look?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE}}]}])
    );
    assert_eq!(sent[0].2["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
    assert_eq!(sent[1].2["tool_choice"], json!({"type": "tool", "name": "json_object"}));
}

#[tokio::test]
async fn a_tool_loop_on_gemini_carries_the_calls_thought_signature_and_its_image_and_schema() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Gemini);
    app.add_provider_key(&app.api_key, Provider::Gemini, key, Value::Null).await;
    let (first, last) = (gemini_function_call(GEMINI), gemini_text(GEMINI, "{\"celsius\":18}"));
    mocks.play_tool_loop(Provider::Gemini, key, GEMINI, "functionResponse", first, last).await;

    let schema = json!({"type": "object", "properties": {"celsius": {"type": "number"}}, "required": ["celsius"]});
    let mut asked = ask(GEMINI);
    asked["messages"][1]["content"] = json!([{"type": "text", "text": "Weather where this was taken?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE}")}}]);
    asked["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "w", "schema": schema}});
    let called = post_chat(&app, asked.to_string()).await;
    assert_eq!(called.status, 200, "{}", called.text);
    let mut body = timeless(&called);
    let id = body["choices"][0]["message"]["tool_calls"][0]["id"].take();
    let id = id.as_str().expect("a call id");
    assert!(id.starts_with("call_") && id.ends_with("__thought__CiQBVKhc7oSIG2k="), "{id}");
    let expected = json!({"id": "chatcmpl-mfmgZ-2aHZu2nvgPxu2S8Aw", "object": "chat.completion", "model": GEMINI,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": null, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 7}}});
    assert_eq!(body, expected);

    let answered = post_chat(&app, with_result(&asked, &called, "18°C, sunny").to_string()).await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(answered.body["choices"][0]["message"]["content"], "{\"celsius\":18}");

    let sent = mocks.requests(Provider::Gemini).await;
    assert_eq!(sent.len(), 2);
    let user = json!({"role": "user", "parts": [{"text": "Weather where this was taken?"},
        {"inlineData": {"mimeType": "image/png", "data": IMAGE}}]});
    let asked_gemini = json!({"systemInstruction": {"parts": [{"text": "You are a weather bot."}]},
        "contents": [user],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather in a city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 300, "responseMimeType": "application/json", "responseJsonSchema": schema}});
    assert_eq!((sent[0].0.as_str(), &sent[0].2), ("/v1beta/models/gemini-2.5-flash:generateContent", &asked_gemini));
    // The call goes back with its signature (Gemini 3 refuses it without), the result by the call's name.
    assert_eq!(
        sent[1].2["contents"],
        json!([user,
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "CiQBVKhc7oSIG2k="}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18°C, sunny"}}}]}])
    );
    only_the_organizations_key_was_sent(&app, &mocks, Provider::Gemini).await;
    let totals = json!({"requests": 2, "input_tokens": 70, "output_tokens": 18, "cache_read_tokens": 20,
        "cache_write_tokens": 0, "reasoning_tokens": 7, "cost_micro_usd": 61, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage_totals(&app).await, totals);
}

#[tokio::test]
async fn a_streamed_call_from_gemini_reassembles_and_the_stream_ends_with_the_body() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Gemini);
    app.add_provider_key(&app.api_key, Provider::Gemini, key, Value::Null).await;
    mocks.answer_chat(Provider::Gemini, key, GEMINI, true, sse(&gemini_function_call_events(GEMINI))).await;

    let mut asked = ask(GEMINI);
    asked["stream"] = json!(true);
    let answer = post_chat(&app, asked.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (chunks, calls) = read_stream(&answer);
    assert_eq!(content_of(&chunks), "Checking the weather.");
    assert_eq!(calls.len(), 1);
    assert!(calls[0].0.ends_with("__thought__CiQBVKhc7oSIG2k="), "{calls:?}");
    assert_eq!((calls[0].1.as_str(), calls[0].2.as_str()), ("get_weather", "{\"city\":\"Paris\"}"));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()), "the client did not ask for the usage chunk");

    let sent = mocks.requests(Provider::Gemini).await;
    assert_eq!(sent[0].0, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    assert!(sent[0].2.get("stream").is_none());
    only_the_organizations_key_was_sent(&app, &mocks, Provider::Gemini).await;
    let totals = json!({"requests": 1, "input_tokens": 12, "output_tokens": 8, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_micro_usd": 24, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage_totals(&app).await, totals);
}

#[tokio::test]
async fn what_cannot_be_carried_is_refused_by_name_and_advisory_fields_are_named() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for provider in [Provider::Anthropic, Provider::Gemini] {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
    }
    let user = json!([{"role": "user", "content": "Weather?"}]);
    let pattern = json!({"type": "json_schema", "json_schema": {"name": "w",
        "schema": {"type": "object", "properties": {"city": {"type": "string", "pattern": "^[A-Z]"}}}}});
    for (body, field) in [
        (json!({"model": CLAUDE, "messages": user, "logprobs": true}), "logprobs"),
        (json!({"model": CLAUDE, "messages": user, "seed": 7}), "seed"),
        (
            json!({"model": GEMINI, "messages": user, "response_format": pattern}),
            "response_format.json_schema.schema.properties.city.pattern",
        ),
    ] {
        let refused = post_chat(&app, body.to_string()).await;
        assert_eq!(refused.status, 400, "{field}: {}", refused.text);
        assert_eq!(
            (
                refused.body["error"]["code"].as_str(),
                refused.body["error"]["type"].as_str(),
                refused.body["error"]["param"].as_str()
            ),
            (Some("unsupported_field"), Some("invalid_request_error"), Some(field)),
            "{}",
            refused.text
        );
        assert!(refused.body["error"]["message"].as_str().unwrap().contains(&format!("`{field}`")), "{}", refused.text);
        assert_eq!(refused.header("x-should-retry"), Some("false"));
    }
    assert!(
        mocks.requests(Provider::Anthropic).await.is_empty() && mocks.requests(Provider::Gemini).await.is_empty(),
        "nothing sent"
    );

    mocks.answer_text(Provider::Gemini, valid_key(Provider::Gemini), GEMINI, "Sunny").await;
    let advisory = r#"{"model":"gemini-2.5-flash","store":false,"messages":[{"role":"user","content":"Weather?"}],"user":"u-1","prompt_cache_key":"k"}"#;
    let kept = post_chat(&app, advisory).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.body["choices"][0]["message"]["content"], "Sunny");
    assert_eq!(kept.header("x-converra-dropped-fields"), Some("store, user, prompt_cache_key"));
    assert_eq!(
        mocks.requests(Provider::Gemini).await[0].2,
        json!({"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}]})
    );
}

#[tokio::test]
async fn on_the_platform_key_the_output_cap_is_set_and_clamped() {
    const PLATFORM: &str = "sk-ant-api03-platformKEY0123456789abcd";
    let (app, mocks) = app_with_mocks(&[(Provider::Anthropic, PLATFORM)]).await;
    mocks
        .answer_chat(
            Provider::Anthropic,
            PLATFORM,
            CLAUDE,
            false,
            converra_test_kit::providers::chat_answer(Provider::Anthropic, CLAUDE, "Hi"),
        )
        .await;
    let user = json!([{"role": "user", "content": "Hi"}]);
    for (body, cap) in [
        (json!({"model": CLAUDE, "messages": user}), 1024),
        (json!({"model": CLAUDE, "messages": user, "max_tokens": 1_000_000}), 16_384),
    ] {
        let answer = post_chat(&app, body.to_string()).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.header("x-converra-key-source"), Some("platform"));
        assert_eq!(mocks.requests(Provider::Anthropic).await.pop().unwrap().2["max_tokens"], cap);
    }
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_in_openais_error_shape() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let mut events: Vec<String> = anthropic_tool_use_events(CLAUDE)[..4].to_vec();
    events.push("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into());
    mocks.answer_chat(Provider::Anthropic, key, CLAUDE, true, sse(&events)).await;

    let answer = post_chat(
        &app,
        json!({"model": CLAUDE, "stream": true, "messages": [{"role": "user", "content": "Hi"}]}).to_string(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let data: Vec<Value> = answer
        .text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(content_of(&data), "Checking the weather.");
    let error = &data.last().unwrap()["error"];
    assert_eq!(
        (error["code"].as_str(), error["type"].as_str()),
        (Some("provider_error"), Some("api_error")),
        "{}",
        answer.text
    );
    assert!(!answer.text.contains("[DONE]") && !answer.text.contains("event:"), "{}", answer.text);
}
