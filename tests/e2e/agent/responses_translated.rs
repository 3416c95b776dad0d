//! `/v1/responses` on a provider without the Responses API, translated where the fields allow, else
//! `UNSUPPORTED_FIELD`: a function tool round trip on a DeepSeek model, whole and streamed — the
//! exact chat bodies DeepSeek receives, the `response` objects and event sequences that come back,
//! each call metered from DeepSeek's own usage on the member's key; hosted tools, custom tools,
//! stored state and compaction refused by name with nothing sent (on the platform key stored state
//! is `UNSUPPORTED_FIELD` and the output cap clamped); the advisory fields left out and named in
//! `X-Converra-Dropped-Fields`. Then the same round trip on Claude (whole and streamed) and Gemini,
//! through chat and on to their own APIs: the bodies Anthropic and Gemini received, Gemini's signed
//! call id carried back, a refusal of the chat translation named as the Responses request names the
//! field.

use converra::Provider;
use converra_test_kit::chat_script::ToolThenText;
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::translated::{
    anthropic_text, anthropic_tool_use, anthropic_tool_use_events, gemini_function_call, gemini_text, sse,
};
use converra_test_kit::{Answer, TestApp, app_with_mocks};
use serde_json::{Value, json};
use wiremock::Mock;
use wiremock::matchers::{method, path};

use super::received;

const CALL_ID: &str = "call_0_8d1f2e";
const ARGUMENTS: &str = r#"{"city":"Paris"}"#;
const ANSWER: &str = "It is sunny in Paris.";

/// The function the model may call, in Responses' flat shape, and as chat carries it.
fn weather_tool() -> (Value, Value) {
    let parameters = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    (
        json!({"type": "function", "name": "get_weather", "description": "Current weather", "parameters": parameters, "strict": false}),
        json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": parameters, "strict": false}}),
    )
}

/// The conversation after the model's call and the tool's result, in Responses items.
fn after_the_call() -> Value {
    json!([{"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "id": "fc_1", "call_id": CALL_ID, "name": "get_weather", "arguments": ARGUMENTS},
        {"type": "function_call_output", "call_id": CALL_ID, "output": "{\"sky\":\"sunny\"}"}])
}

/// DeepSeek's scripted model: the weather call, then the answer.
async fn deepseek_model(mocks: &MockProviders) {
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ToolThenText::calling("get_weather", ARGUMENTS, CALL_ID, ANSWER))
        .mount(&mocks.deepseek)
        .await;
}

async fn post(app: &TestApp, key: &str, endpoint: &str, body: &Value) -> Answer {
    app.post_raw(&format!("/v1/{endpoint}"), key, body.to_string()).await
}

/// A stream's events, each one's data parsed; every `event:` line names its data's type.
fn events(text: &str) -> Vec<Value> {
    text.split_terminator("\n\n")
        .filter(|event| !event.starts_with(':'))
        .map(|event| {
            let (name, data) = event.split_once("\ndata: ").unwrap_or_else(|| panic!("not an event: {event}"));
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(name.strip_prefix("event: "), data["type"].as_str(), "{event}");
            data
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// DeepSeek's usage of each scripted answer (20 in, 8 of them cached; 9 out), as Responses
/// reports it.
fn usage() -> Value {
    json!({"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 29})
}

#[tokio::test]
async fn a_function_tool_round_trip_on_deepseek_is_translated_there_and_back_whole_and_streamed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let stored =
        app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "agent@example.com", "member").await;
    deepseek_model(&mocks).await;
    let (tool, chat_tool) = weather_tool();
    let first = json!({"model": "deepseek/deepseek-chat", "instructions": "Be brief.",
        "input": [{"role": "user", "content": "Weather in Paris?"}], "tools": [tool], "store": false});
    let second = json!({"model": "deepseek-chat", "instructions": "Be brief.", "input": after_the_call(),
        "tools": [tool], "store": false});

    // Whole: the call, then the answer.
    let call = post(&app, &member, "responses", &first).await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("x-converra-key-source"), Some("organization"));
    assert_eq!(call.header("x-converra-key-id"), stored["id"].as_str());
    assert_eq!(call.header("x-converra-dropped-fields"), None);
    let id = call.body["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"), "{id}");
    let call_item = json!({"type": "function_call", "id": format!("fc_{}_0", &id[5..]), "status": "completed",
        "arguments": ARGUMENTS, "call_id": CALL_ID, "name": "get_weather"});
    assert_eq!(
        (&call.body["object"], &call.body["status"], &call.body["model"], &call.body["store"]),
        (&json!("response"), &json!("completed"), &json!("deepseek-chat"), &json!(false))
    );
    assert_eq!((&call.body["output"], &call.body["usage"]), (&json!([call_item]), &usage()));
    assert_eq!(call.body["instructions"], "Be brief.");

    let text = post(&app, &member, "responses", &second).await;
    assert_eq!(text.status, 200, "{}", text.text);
    let id = text.body["id"].as_str().unwrap();
    let message = json!({"type": "message", "id": format!("msg_{}_0", &id[5..]), "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": ANSWER, "annotations": [], "logprobs": []}]});
    assert_eq!((&text.body["output"], &text.body["usage"]), (&json!([message]), &usage()));

    // What DeepSeek received: chat bodies, the model's turn as one assistant message.
    let system = json!({"role": "system", "content": "Be brief."});
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let assistant = json!({"role": "assistant", "content": null,
        "tool_calls": [{"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}]});
    let tool_result = json!({"role": "tool", "content": "{\"sky\":\"sunny\"}", "tool_call_id": CALL_ID});
    let sent: Vec<Value> =
        received(&mocks, Provider::Deepseek).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(
        sent,
        [
            json!({"model": "deepseek-chat", "messages": [system, user], "tools": [chat_tool]}),
            json!({"model": "deepseek-chat", "messages": [system, user, assistant, tool_result], "tools": [chat_tool]}),
        ]
    );

    // Streamed: the same turns as Responses events, frame by frame.
    let streamed = |mut body: Value| {
        body["stream"] = json!(true);
        body
    };
    let call = post(&app, &member, "responses", &streamed(first)).await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.header("content-type"), Some("text/event-stream"));
    assert_eq!(call.header("x-converra-key-source"), Some("organization"));
    let call = events(&call.text);
    assert_eq!(
        kinds(&call),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(call.iter().enumerate().all(|(i, e)| e["sequence_number"] == i), "{call:?}");
    let id = call[0]["response"]["id"].as_str().unwrap();
    let call_item = json!({"type": "function_call", "id": format!("fc_{}_0", &id[5..]), "status": "completed",
        "arguments": ARGUMENTS, "call_id": CALL_ID, "name": "get_weather"});
    assert_eq!(call[6]["item"], call_item);
    assert_eq!((&call[7]["response"]["output"], &call[7]["response"]["usage"]), (&json!([call_item]), &usage()));

    let text = post(&app, &member, "responses", &streamed(second)).await;
    let text = events(&text.text);
    assert_eq!(
        kinds(&text),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let deltas: String = text.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!((deltas.as_str(), &text[6]["text"]), (ANSWER, &json!(ANSWER)));
    assert_eq!(text[9]["response"]["output"][0]["content"][0]["text"], ANSWER);
    assert_eq!(text[9]["response"]["usage"], usage());
    let sent: Vec<Value> =
        received(&mocks, Provider::Deepseek).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    for body in &sent[2..] {
        assert_eq!(
            (&body["stream"], &body["stream_options"]),
            (&json!(true), &json!({"include_usage": true})),
            "{body}"
        );
    }

    // Four calls, each metered from DeepSeek's own usage, on the member's call.
    let usage = app.get("/api/v1/usage", &member).await;
    let totals = &usage.body["totals"];
    assert_eq!(
        (&totals["requests"], &totals["input_tokens"], &totals["output_tokens"], &totals["cache_read_tokens"]),
        (&json!(4), &json!(80), &json!(36), &json!(32)),
        "{}",
        usage.text
    );
    assert_eq!(usage.body["by_provider"][0]["key"], "deepseek");
}

#[tokio::test]
async fn hosted_and_custom_tools_stored_state_and_compaction_are_refused_by_name_and_nothing_is_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), Value::Null).await;
    deepseek_model(&mocks).await;
    for (status, code, field, body) in [
        (
            400,
            "unsupported_field",
            "tools: web_search",
            json!({"model": "deepseek-chat", "input": "hi", "tools": [{"type": "web_search", "external_web_access": true}]}),
        ),
        (
            400,
            "unsupported_field",
            "tools: custom",
            json!({"model": "deepseek-chat", "input": "hi", "tools": [{"type": "custom", "name": "apply_patch"}]}),
        ),
        (
            400,
            "unsupported_field",
            "tools: code_interpreter",
            json!({"model": "deepseek-chat", "input": "hi", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
        ),
        (400, "unsupported_field", "background", json!({"model": "deepseek-chat", "input": "hi", "background": true})),
        (
            404,
            "not_found",
            "previous_response_id",
            json!({"model": "deepseek-chat", "input": "hi", "previous_response_id": "resp_1"}),
        ),
        (404, "not_found", "conversation", json!({"model": "deepseek-chat", "input": "hi", "conversation": "conv_1"})),
    ] {
        let refused = post(&app, &app.api_key, "responses", &body).await;
        assert_eq!(refused.status, status, "{}", refused.text);
        assert_eq!(
            (&refused.body["error"]["code"], &refused.body["error"]["param"]),
            (&json!(code), &json!(field)),
            "{}",
            refused.text
        );
        assert_eq!(refused.header("x-should-retry"), Some("false"));
    }
    let compact =
        post(&app, &app.api_key, "responses/compact", &json!({"model": "deepseek-chat", "input": "hi"})).await;
    assert_eq!(compact.status, 400, "{}", compact.text);
    assert_eq!(
        (&compact.body["error"]["code"], &compact.body["error"]["param"]),
        (&json!("unsupported_field"), &json!("model"))
    );
    assert!(received(&mocks, Provider::Deepseek).await.is_empty());
}

#[tokio::test]
async fn advisory_fields_are_left_out_and_named_in_x_converra_dropped_fields() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), Value::Null).await;
    deepseek_model(&mocks).await;
    // A Codex-like turn: OpenAI's encrypted reasoning from an earlier turn, tags and hints.
    let mut input = after_the_call();
    input
        .as_array_mut()
        .unwrap()
        .insert(1, json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB"}));
    let body = format!(
        r#"{{"model":"deepseek-chat","input":{input},"reasoning":{{"summary":"auto"}},"store":true,"include":["reasoning.encrypted_content"],"prompt_cache_key":"0199-session","metadata":{{"ticket":"7"}},"safety_identifier":"user-7","client_metadata":{{"turn_id":"1"}}}}"#
    );
    let answer = app.post_raw("/v1/responses", &app.api_key, body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("x-converra-dropped-fields"),
        Some(
            "reasoning.summary, store, include: reasoning.encrypted_content, prompt_cache_key, metadata, safety_identifier, client_metadata, input: reasoning"
        )
    );
    assert_eq!(answer.body["output"][0]["content"][0]["text"], ANSWER);
    let sent = &received(&mocks, Provider::Deepseek).await[0];
    let sent: Value = serde_json::from_str(sent).unwrap();
    let names: Vec<&String> = sent.as_object().unwrap().keys().collect();
    assert_eq!(names, ["messages", "model"], "{sent}");
    assert!(!sent.to_string().contains("gAAAAB"), "{sent}");
}

#[tokio::test]
async fn on_the_platform_key_the_output_cap_is_clamped_and_stored_state_is_unsupported() {
    let platform = "sk-platformDEEPSEEK0123456789abcdef";
    let (app, mocks) = app_with_mocks(&[(Provider::Deepseek, platform)]).await;
    deepseek_model(&mocks).await;
    let (tool, _) = weather_tool();
    let body =
        json!({"model": "deepseek-chat", "input": "Weather in Paris?", "tools": [tool], "max_output_tokens": 999_999});
    let answer = post(&app, &app.api_key, "responses", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("x-converra-key-source"), Some("platform"));
    assert_eq!(answer.body["output"][0]["call_id"], CALL_ID);
    let sent: Value = serde_json::from_str(&received(&mocks, Provider::Deepseek).await[0]).unwrap();
    assert_eq!(sent["max_tokens"], 16384, "{sent}");
    let mut named = body.clone();
    named["previous_response_id"] = json!("resp_1");
    let refused = post(&app, &app.api_key, "responses", &named).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        (&refused.body["error"]["code"], &refused.body["error"]["param"]),
        (&json!("unsupported_field"), &json!("previous_response_id"))
    );
    assert_eq!(received(&mocks, Provider::Deepseek).await.len(), 1);
}

const CLAUDE: &str = "claude-sonnet-4-5";
const GEMINI: &str = "gemini-2.5-flash";

#[tokio::test]
async fn a_function_tool_round_trip_on_claude_goes_through_chat_to_anthropic_and_back() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    mocks
        .play_tool_loop(
            Provider::Anthropic,
            key,
            CLAUDE,
            "tool_result",
            anthropic_tool_use(CLAUDE),
            anthropic_text(CLAUDE, ANSWER),
        )
        .await;
    mocks.answer_chat(Provider::Anthropic, key, CLAUDE, true, sse(&anthropic_tool_use_events(CLAUDE))).await;
    let (tool, _) = weather_tool();
    let first = json!({"model": CLAUDE, "instructions": "Be brief.", "input": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [tool], "max_output_tokens": 300, "store": false, "prompt_cache_key": "0199-session"});

    let call = post(&app, &app.api_key, "responses", &first).await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.header("x-converra-key-source"), Some("organization"));
    assert_eq!(call.header("x-converra-dropped-fields"), Some("prompt_cache_key"));
    let id = &call.body["id"].as_str().unwrap()[5..];
    let call_id = "toolu_01A09q90qw90lq917835lq9";
    let output = json!([
        {"type": "message", "id": format!("msg_{id}_0"), "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking the weather.", "annotations": [], "logprobs": []}]},
        {"type": "function_call", "id": format!("fc_{id}_1"), "status": "completed", "arguments": ARGUMENTS,
            "call_id": call_id, "name": "get_weather"}
    ]);
    assert_eq!(call.body["output"], output);
    // Anthropic's cache reads are a part of the input, as OpenAI counts them.
    let usage = json!({"input_tokens": 125, "input_tokens_details": {"cached_tokens": 100}, "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 134});
    assert_eq!((&call.body["status"], &call.body["usage"]), (&json!("completed"), &usage));

    let mut second = first.clone();
    second["input"] = json!([{"role": "user", "content": "Weather in Paris?"}, call.body["output"][0], call.body["output"][1],
        {"type": "function_call_output", "call_id": call_id, "output": "18°C, sunny"}]);
    let text = post(&app, &app.api_key, "responses", &second).await;
    assert_eq!(text.status, 200, "{}", text.text);
    assert_eq!(text.body["output"][0]["content"][0]["text"], ANSWER);

    // What Anthropic received: its own Messages API, the call and its result as its blocks.
    let sent = mocks.requests(Provider::Anthropic).await;
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let tools = json!([{"name": "get_weather", "description": "Current weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    assert_eq!(
        sent[0].2,
        json!({"model": CLAUDE, "max_tokens": 300, "system": "Be brief.", "messages": [user], "tools": tools})
    );
    assert_eq!(
        sent[1].2["messages"],
        json!([user,
            {"role": "assistant", "content": [{"type": "text", "text": "Checking the weather."},
                {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "18°C, sunny"}]}])
    );

    // Streamed: Anthropic's events, through chat chunks, as Responses events.
    let mut streamed = first.clone();
    streamed["stream"] = json!(true);
    let stream = post(&app, &app.api_key, "responses", &streamed).await;
    assert_eq!(stream.status, 200, "{}", stream.text);
    let events = events(&stream.text);
    assert_eq!(
        kinds(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let end = &events.last().unwrap()["response"];
    let id = &end["id"].as_str().unwrap()[5..];
    assert_eq!(
        end["output"][1],
        // The arguments as Anthropic streamed them, piece by piece.
        json!({"type": "function_call", "id": format!("fc_{id}_1"), "status": "completed", "arguments": "{\"city\": \"Paris\"}",
            "call_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather"})
    );
    assert_eq!(
        (&end["usage"]["input_tokens"], &end["usage"]["input_tokens_details"]["cached_tokens"]),
        (&json!(472), &json!(100))
    );
    assert_eq!(end["usage"]["output_tokens"], 89);
    assert_eq!(app.get("/api/v1/usage", &app.api_key).await.body["totals"]["requests"], 3);

    // A refusal of the chat translation names the field as the Responses request has it.
    let mut effort = first.clone();
    effort["reasoning"] = json!({"effort": "high"});
    let refused = post(&app, &app.api_key, "responses", &effort).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.body["error"]["param"], "reasoning.effort");
    assert_eq!(mocks.requests(Provider::Anthropic).await.len(), 3);
}

#[tokio::test]
async fn a_function_call_on_gemini_goes_back_with_its_signed_call_id() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Gemini);
    app.add_provider_key(&app.api_key, Provider::Gemini, key, Value::Null).await;
    mocks
        .play_tool_loop(
            Provider::Gemini,
            key,
            GEMINI,
            "functionResponse",
            gemini_function_call(GEMINI),
            gemini_text(GEMINI, ANSWER),
        )
        .await;
    let (tool, _) = weather_tool();
    let first = json!({"model": GEMINI, "input": "Weather in Paris?", "tools": [tool]});
    let call = post(&app, &app.api_key, "responses", &first).await;
    assert_eq!(call.status, 200, "{}", call.text);
    let item = &call.body["output"][0];
    assert_eq!(
        (&item["type"], &item["name"], &item["arguments"]),
        (&json!("function_call"), &json!("get_weather"), &json!(ARGUMENTS))
    );
    let mut second = first.clone();
    second["input"] = json!([{"role": "user", "content": "Weather in Paris?"}, item,
        {"type": "function_call_output", "call_id": item["call_id"], "output": "18°C, sunny"}]);
    let text = post(&app, &app.api_key, "responses", &second).await;
    assert_eq!(text.status, 200, "{}", text.text);
    assert_eq!(text.body["output"][0]["content"][0]["text"], ANSWER);
    // Gemini got its own call back, signed as it signed it.
    let sent = mocks.requests(Provider::Gemini).await;
    let model_turn = &sent[1].2["contents"][1];
    assert_eq!(model_turn["role"], "model", "{}", sent[1].2);
    assert_eq!(model_turn["parts"][0]["thoughtSignature"], "CiQBVKhc7oSIG2k=", "{}", sent[1].2);
    assert_eq!(model_turn["parts"][0]["functionCall"], json!({"name": "get_weather", "args": {"city": "Paris"}}));
}
