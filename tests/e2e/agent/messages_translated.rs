//! `/v1/messages` on an OpenAI model, translated: a Claude Code turn becomes the exact Chat
//! Completions body OpenAI receives, on the organization's OpenAI key and never the Converra key,
//! with what is left out named in `X-Converra-Dropped-Fields`; the answer comes back as an
//! Anthropic `message`, or streamed as Anthropic's events, through a whole tool loop; images are
//! carried; a field that would change the answer is refused by name with nothing sent;
//! `count_tokens` is Converra's estimate; each organization and project is served by its own key.

use converra::{Plan, Provider};
use converra_test_kit::app_with_mocks;
use converra_test_kit::openai_script::{call_body, call_chunks, text_chunks};
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::responses::sse;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::messages::{BETA, assert_totals, post_with};

/// The model OpenAI reports answering as.
const ANSWERED_BY: &str = "gpt-5-mini-2025-08-07";

/// The chat calls OpenAI received: each body as JSON, and its `Authorization` header.
async fn chat_calls(mocks: &MockProviders) -> Vec<(Value, String)> {
    let all = mocks.openai.received_requests().await.unwrap_or_default();
    all.into_iter()
        .filter(|r| r.url.path() == "/v1/chat/completions")
        .map(|r| {
            let auth = r.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            (serde_json::from_slice(&r.body).expect("JSON"), auth)
        })
        .collect()
}

/// OpenAI's chat endpoint with `key` answers `template`.
async fn answer_with(mocks: &MockProviders, key: &str, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(template)
        .mount(&mocks.openai)
        .await;
}

fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A Claude Code turn (whole), in the shape it sends for an OpenAI model: cached system blocks
/// and tools, a pasted screenshot and an image URL, its metadata, adaptive thinking, context
/// management and an effort.
const TURN: &str = r#"{
  "model": "gpt-5-mini",
  "max_tokens": 1024,
  "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
  "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object",
    "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}, "cache_control": {"type": "ephemeral"}}],
  "messages": [{"role": "user", "content": [
    {"type": "text", "text": "What is in R\u00e9sum\u00e9.png?"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
  ]}],
  "metadata": {"user_id": "{\"device_id\":\"c476\",\"session_id\":\"s1\"}"},
  "thinking": {"type": "adaptive"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
  "output_config": {"effort": "medium"}
}"#;

#[tokio::test]
async fn a_turn_on_an_openai_key_becomes_chat_completions_and_its_answer_an_anthropic_message() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    let stored = app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let arguments = r#"{"file_path":"/w/Résumé.png"}"#;
    let answer = call_body(ANSWERED_BY, "Let me read it.", "call_Read1", "Read", arguments);
    let template = ResponseTemplate::new(200)
        .insert_header("x-request-id", "req_7f3a9c")
        .insert_header("openai-organization", "org-secret-of-the-account")
        .set_body_json(answer);
    answer_with(&mocks, key, template).await;

    let headers = [("x-api-key", member.as_str()), ("anthropic-version", "2023-06-01"), ("anthropic-beta", BETA)];
    let answer = post_with(&app, "/v1/messages", &headers, TURN).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("msg_") && id.len() > 20, "Converra's own id: {id}");
    let expected = json!({"id": id, "type": "message", "role": "assistant", "model": ANSWERED_BY,
        "content": [{"type": "text", "text": "Let me read it."},
                    {"type": "tool_use", "id": "call_Read1", "name": "Read", "input": {"file_path": "/w/Résumé.png"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 7}});
    assert_eq!(answer.body, expected);
    assert_eq!(
        answer.header("x-converra-dropped-fields"),
        Some("cache_control, thinking, context_management, anthropic-beta")
    );
    assert_eq!(answer.header("request-id"), Some("req_7f3a9c"), "OpenAI's request id, under Anthropic's name");
    assert_eq!(answer.header("openai-organization"), None, "the provider account's id stays behind");
    assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
    assert_eq!(answer.header("x-converra-key-id"), stored["id"].as_str());

    // What OpenAI received: the translation, on the organization's key; both images carried.
    let calls = chat_calls(&mocks).await;
    assert_eq!(calls.len(), 1);
    let (mut sent, auth) = calls.into_iter().next().unwrap();
    assert_eq!(auth, format!("Bearer {key}"));
    let safety = sent.as_object_mut().unwrap().remove("safety_identifier").expect("an end-user id");
    assert!(safety.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())), "{safety}");
    let expected = json!({
        "model": "gpt-5-mini",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "You are Claude Code."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in Résumé.png?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}],
        "max_completion_tokens": 1024,
        "tools": [{"type": "function", "function": {"name": "Read", "description": "Read a file", "parameters":
            {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}}],
        "reasoning_effort": "medium"
    });
    assert_eq!(sent, expected);
    let received = mocks.openai.received_requests().await.unwrap();
    for (name, value) in received.iter().flat_map(|r| r.headers.iter()) {
        assert!(!value.to_str().unwrap_or_default().contains("sk_"), "the Converra key reached OpenAI in {name}");
    }

    // Metered from OpenAI's own figures, under the member.
    let usage = app.get("/api/v1/usage", &member).await;
    assert_totals(&usage, 1, 30, 7, (10, 0));
    assert_eq!(usage.body["totals"]["reasoning_tokens"], 2, "{}", usage.text);
    assert_eq!(usage.body["by_model"][0]["key"], "gpt-5-mini", "{}", usage.text);
}

#[tokio::test]
async fn a_streamed_tool_loop_comes_back_as_anthropics_events_frame_by_frame() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    // The scripted model: a call of `Read` (its arguments in two pieces), then, once the result
    // is in, the text.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains(r#""role":"tool""#))
        .respond_with(sse(&text_chunks(ANSWERED_BY, &["The code word ", "is PAPAYA-42."])))
        .with_priority(1)
        .mount(&mocks.openai)
        .await;
    let pieces = [r#"{"file_path":"#, r#""/w/notes.txt"}"#];
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(sse(&call_chunks(ANSWERED_BY, "call_Read1", "Read", &pieces)))
        .with_priority(2)
        .mount(&mocks.openai)
        .await;
    let bearer = format!("Bearer {}", app.api_key);
    let headers = [("authorization", bearer.as_str()), ("anthropic-version", "2023-06-01")];
    let tools = r#"[{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]"#;
    let first = format!(
        r#"{{"model":"openai/gpt-5-mini","max_tokens":512,"stream":true,"tools":{tools},"messages":[{{"role":"user","content":"Read notes.txt"}}]}}"#
    );
    let answer = post_with(&app, "/v1/messages", &headers, first).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.header("x-converra-dropped-fields"), None, "nothing was left out");
    let id = answer.text.split(r#""id":""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    let usage =
        r#""usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":7}"#;
    let expected = [
        event("message_start", &format!(r#"{{"type":"message_start","message":{{"id":"{id}","type":"message","role":"assistant","content":[],"model":"{ANSWERED_BY}","stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":0,"output_tokens":0}}}}}}"#)),
        event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_Read1","name":"Read","input":{}}}"#),
        event("ping", r#"{"type":"ping"}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\":"}}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"/w/notes.txt\"}"}}"#),
        event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        event("message_delta", &format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"tool_use","stop_sequence":null}},{usage}}}"#)),
        event("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .concat();
    assert_eq!(answer.text, expected);

    // The client runs the tool and sends its result: a `tool` message right after the call.
    let second = format!(
        r#"{{"model":"openai/gpt-5-mini","max_tokens":512,"stream":true,"tools":{tools},"messages":[
        {{"role":"user","content":"Read notes.txt"}},
        {{"role":"assistant","content":[{{"type":"tool_use","id":"call_Read1","name":"Read","input":{{"file_path":"/w/notes.txt"}}}}]}},
        {{"role":"user","content":[{{"type":"tool_result","tool_use_id":"call_Read1","content":"The code word is PAPAYA-42."}}]}}]}}"#
    );
    let answer = post_with(&app, "/v1/messages", &headers, second).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.text.contains(&event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
    )));
    for piece in ["The code word ", "is PAPAYA-42."] {
        let delta =
            format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{piece}"}}}}"#);
        assert!(answer.text.contains(&event("content_block_delta", &delta)), "{}", answer.text);
    }
    assert!(answer.text.contains(r#""stop_reason":"end_turn""#), "{}", answer.text);
    assert!(answer.text.ends_with(&event("message_stop", r#"{"type":"message_stop"}"#)), "{}", answer.text);

    let calls = chat_calls(&mocks).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0["stream_options"], json!({"include_usage": true}), "asked so it can be metered");
    assert_eq!(
        calls[1].0["messages"],
        json!([
            {"role": "user", "content": "Read notes.txt"},
            {"role": "assistant", "tool_calls": [{"id": "call_Read1", "type": "function",
                "function": {"name": "Read", "arguments": "{\"file_path\":\"/w/notes.txt\"}"}}]},
            {"role": "tool", "tool_call_id": "call_Read1", "content": "The code word is PAPAYA-42."}
        ])
    );
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_totals(&usage, 2, 60, 14, (20, 0));
}

#[tokio::test]
async fn what_cannot_be_carried_is_refused_by_name_and_count_tokens_is_converras_estimate() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for p in [Provider::Openai, Provider::Gemini] {
        app.add_provider_key(&app.api_key, p, valid_key(p), Value::Null).await;
    }
    let headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01")];
    let with = |extra: &str| {
        format!(r#"{{"model":"gpt-4.1","max_tokens":64,"messages":[{{"role":"user","content":"hi"}}]{extra}}}"#)
    };
    for (field, body) in [
        ("top_k", with(r#","top_k":40"#)),
        ("thinking", with(r#","thinking":{"type":"enabled","budget_tokens":2048}"#)),
        ("tools: web_search_20250305", with(r#","tools":[{"type":"web_search_20250305","name":"web_search"}]"#)),
        ("container", with(r#","container":"container_011CNhqC""#)),
        (
            "messages[0].content[0].source.text",
            r#"{"model":"gpt-4.1","max_tokens":64,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}"#.to_owned(),
        ),
        // Gemini's models are not carried on this endpoint.
        ("model", r#"{"model":"gemini-2.5-flash","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#.to_owned()),
    ] {
        for at in ["/v1/messages", "/v1/messages/count_tokens"] {
            let refused = post_with(&app, at, &headers, body.clone()).await;
            assert_eq!(refused.status, 400, "{at} {field}: {}", refused.text);
            assert_eq!(refused.body["type"], "error");
            assert_eq!(refused.body["error"]["type"], "invalid_request_error");
            assert_eq!(refused.body["error"]["code"], "UNSUPPORTED_FIELD");
            assert_eq!(refused.body["error"]["field"], field, "{at}: {}", refused.text);
            assert_eq!(refused.header("x-should-retry"), Some("false"));
        }
    }

    // count_tokens of an OpenAI model: the estimate the allowance reserves, said so; nothing sent.
    let counted = post_with(&app, "/v1/messages/count_tokens", &headers, with("")).await;
    assert_eq!(counted.status, 200, "{}", counted.text);
    // `[{"role":"user","content":"hi"}]`: 31 bytes, 8 tokens.
    assert_eq!(counted.body, json!({"input_tokens": 8}));
    assert_eq!(counted.header("x-converra-estimate"), Some("true"));
    assert!(chat_calls(&mocks).await.is_empty(), "nothing reached OpenAI");
    assert!(mocks.gemini.received_requests().await.unwrap().iter().all(|r| r.method.as_str() == "GET"));
}

#[tokio::test]
async fn each_organization_and_project_is_served_by_its_own_openai_key_and_the_platform_key_is_capped() {
    const PLATFORM: &str = "sk-proj-PLATFORMopenaiKEY0123456789";
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, PLATFORM)]).await;
    let org_key = valid_key(Provider::Openai);
    let project_key = "sk-proj-PROJECTopenaiKEY0123456789ab";
    let other_key = "sk-proj-OTHERorgOpenaiKEY0123456789a";
    app.add_provider_key(&app.api_key, Provider::Openai, org_key, Value::Null).await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "Agents"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_provider_key(&app.api_key, Provider::Openai, project_key, json!({"project_id": project})).await;
    let other = app.new_org("globex", Plan::Free).await;
    app.add_provider_key(&other, Provider::Openai, other_key, Value::Null).await;
    let third = app.new_org("initech", Plan::Free).await;
    for (key, text) in
        [(org_key, "from org"), (project_key, "from project"), (other_key, "from globex"), (PLATFORM, "from platform")]
    {
        answer_with(
            &mocks,
            key,
            ResponseTemplate::new(200).set_body_json(converra_test_kit::providers::openai_chat_body("gpt-4.1", text)),
        )
        .await;
    }
    let hi = r#"{"model":"gpt-4.1","max_tokens":64000,"messages":[{"role":"user","content":"hi"}]}"#;
    let ask = |key: &str, project: Option<&str>| {
        let mut headers = vec![("x-api-key", key.to_owned()), ("anthropic-version", "2023-06-01".to_owned())];
        if let Some(project) = project {
            headers.push(("x-converra-project", project.to_owned()));
        }
        headers
    };
    for (key, project, text, source) in [
        (app.api_key.as_str(), None, "from org", "organization"),
        (app.api_key.as_str(), Some(project.as_str()), "from project", "project"),
        (other.as_str(), None, "from globex", "organization"),
        (third.as_str(), None, "from platform", "platform"),
    ] {
        let headers = ask(key, project);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = post_with(&app, "/v1/messages", &headers, hi).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["content"], json!([{"type": "text", "text": text}]), "{}", answer.text);
        assert_eq!(
            (answer.body["stop_reason"].as_str(), answer.header("x-converra-key-source")),
            (Some("end_turn"), Some(source))
        );
    }
    let calls = chat_calls(&mocks).await;
    let auths: Vec<&str> = calls.iter().map(|(_, auth)| auth.as_str()).collect();
    let expected: Vec<String> =
        [org_key, project_key, other_key, PLATFORM].iter().map(|k| format!("Bearer {k}")).collect();
    assert_eq!(auths, expected);
    // The client's cap goes as asked on its own keys; on the platform key, clamped.
    let caps: Vec<&Value> = calls.iter().map(|(body, _)| &body["max_completion_tokens"]).collect();
    assert_eq!(caps, [&json!(64000), &json!(64000), &json!(64000), &json!(16384)]);
    // Each organization's usage is its own.
    for key in [other.as_str(), third.as_str()] {
        assert_totals(&app.get("/api/v1/usage", key).await, 1, 12, 5, (0, 0));
    }
}
