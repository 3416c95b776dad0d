//! The real Claude Code (npm, pinned by `.ci/run`) running its agent loop through `/v1/messages`:
//! `ANTHROPIC_BASE_URL` at Converra, a Converra key as `ANTHROPIC_AUTH_TOKEN`, and Converra's
//! Anthropic base URL at a scripted Messages mock that plays the model — it first calls Claude
//! Code's built-in `Read` tool on a file, then, once the tool's result arrives, answers with a
//! final text quoting it. `claude -p` must exit 0 and print that text; the mock must have seen
//! the organization's key and never the Converra key, Claude Code's own `anthropic-beta` list,
//! and the usage must show the calls. The same loop runs on an organization that has only an
//! OpenAI key, Claude Code asking for an OpenAI model: Converra translates each call to Chat
//! Completions, and OpenAI's scripted chunks (first the `Read` call, then the text) back into
//! the Messages events Claude Code parses.

use std::path::Path;
use std::time::Duration;

use converra::Provider;
use converra_test_kit::openai_script::{call_chunks, text_chunks};
use converra_test_kit::providers::{MockProviders, openai_chat_body, valid_key};
use converra_test_kit::responses::sse;
use converra_test_kit::{TestApp, spawn_app_on};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::clients::{both, client_command, missing, npm_tool, path_with, run};

/// The word the prompt carries, so the scripted model knows its own conversation.
const PROMPT_MARK: &str = "CONVERRA-AGENT-TEST";
/// What the file holds; it reaches the model only if Claude Code really ran the tool.
const SECRET_WORD: &str = "PAPAYA-42";

/// A Messages stream whose one content block is `block` (a text or a tool call, its deltas
/// given), ending with `stop_reason` (10 in, 5 out).
fn stream(model: &str, block: Value, delta: Value, stop_reason: &str) -> ResponseTemplate {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message", "role": "assistant",
                "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": block})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": delta})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let body: String = events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

fn text_stream(model: &str, text: &str) -> ResponseTemplate {
    stream(model, json!({"type": "text", "text": ""}), json!({"type": "text_delta", "text": text}), "end_turn")
}

#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_runs_a_tool_loop_through_v1_messages_on_the_organizations_anthropic_key() {
    let claude = match npm_tool("claude") {
        Ok(tool) => tool,
        Err(why) => missing("Claude Code (`claude`)", &why),
    };
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let org_key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, org_key, Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "agent@example.com", "member").await;
    let model = "claude-sonnet-4-5";

    let work = tempfile::tempdir().unwrap();
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, format!("The code word is {SECRET_WORD}.\n")).unwrap();
    let final_text = format!("Done: the code word is {SECRET_WORD}.");

    // The scripted model: after the tool's result, the final text; on the prompt, a call of
    // Claude Code's own `Read` tool; anything else Claude Code asks (a title, a check), "ok".
    let messages = || Mock::given(method("POST")).and(path("/v1/messages"));
    messages()
        .and(body_string_contains(PROMPT_MARK))
        .and(body_string_contains("tool_result"))
        .respond_with(text_stream(model, &final_text))
        .with_priority(1)
        .mount(&mocks.anthropic)
        .await;
    let input = json!({"file_path": notes.to_str().unwrap()}).to_string();
    messages()
        .and(body_string_contains(PROMPT_MARK))
        .respond_with(stream(
            model,
            json!({"type": "tool_use", "id": "toolu_01Scripted", "name": "Read", "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input}),
            "tool_use",
        ))
        .with_priority(2)
        .mount(&mocks.anthropic)
        .await;
    messages()
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(text_stream(model, "ok"))
        .with_priority(3)
        .mount(&mocks.anthropic)
        .await;
    messages()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "msg_side", "type": "message",
            "role": "assistant", "model": model, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}})))
        .with_priority(4)
        .mount(&mocks.anthropic)
        .await;

    let home = tempfile::tempdir().unwrap();
    let command = claude_session(&claude, work.path(), home.path(), &app, &member, (model, "claude-haiku-4-5"));
    let out = run(command, Duration::from_secs(180)).await;
    assert!(out.status.success(), "{}", both(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&final_text), "{}", both(&out));

    let calls: Vec<wiremock::Request> = mocks
        .anthropic
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/messages")
        .collect();
    let loop_calls: Vec<&wiremock::Request> =
        calls.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK)).collect();
    assert!(loop_calls.len() >= 2, "the prompt, then the tool's result: {} calls", loop_calls.len());
    // Claude Code really ran the tool: the file's word came back to the model as its result.
    assert!(String::from_utf8_lossy(&loop_calls.last().unwrap().body).contains(SECRET_WORD));
    for call in &calls {
        let header = |name: &str| call.headers.get(name).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(header("x-api-key").as_deref(), Some(org_key), "the organization's key, as Anthropic wants it");
        assert_eq!(header("authorization"), None);
        for (name, value) in call.headers.iter() {
            assert!(
                !value.to_str().unwrap_or_default().contains(&member),
                "the Converra key reached the mock in {name}"
            );
        }
        // Claude Code's own beta list (`claude-code-…` first, then the features it uses), whole.
        let beta = header("anthropic-beta").expect("Claude Code's anthropic-beta");
        assert!(beta.contains("claude-code-20250219") && beta.contains(','), "{beta}");
        assert!(header("anthropic-version").is_some());
    }

    let usage = app.get("/api/v1/usage", &member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
    assert!(usage.body["totals"]["output_tokens"].as_u64().unwrap() >= 10, "{}", usage.text);
}

/// `claude -p` asking for the code word, run in `work` with `home` as its home, its model
/// traffic at Converra with the Converra key `member`; `models`: the main and the small one.
fn claude_session(
    claude: &Path,
    work: &Path,
    home: &Path,
    app: &TestApp,
    member: &str,
    models: (&str, &str),
) -> tokio::process::Command {
    let mut command = client_command(claude);
    let prompt = format!("{PROMPT_MARK}: read notes.txt and tell me the code word.");
    command
        .args(["-p", &prompt, "--allowedTools", "Read"])
        .current_dir(work)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("PATH", path_with(claude.parent().unwrap()))
        .env("ANTHROPIC_BASE_URL", &app.base_url)
        .env("ANTHROPIC_AUTH_TOKEN", member)
        .env("ANTHROPIC_MODEL", models.0)
        .env("ANTHROPIC_SMALL_FAST_MODEL", models.1)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    command
}

#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_runs_a_tool_loop_on_an_openai_model_translated_on_the_organizations_openai_key() {
    let claude = match npm_tool("claude") {
        Ok(tool) => tool,
        Err(why) => missing("Claude Code (`claude`)", &why),
    };
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let org_key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, org_key, Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "agent@example.com", "member").await;
    let model = "gpt-5-mini";

    let work = tempfile::tempdir().unwrap();
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, format!("The code word is {SECRET_WORD}.\n")).unwrap();
    let final_text = format!("Done: the code word is {SECRET_WORD}.");

    // OpenAI plays the model, in its own chunks: once the tool's result (a `tool` message) is in,
    // the final text; on the prompt, a call of Claude Code's `Read` tool, its arguments in two
    // pieces; anything else Claude Code asks, "ok" (streamed or whole, as asked).
    let chat = || Mock::given(method("POST")).and(path("/v1/chat/completions"));
    chat()
        .and(body_string_contains(PROMPT_MARK))
        .and(body_string_contains(r#""role":"tool""#))
        .respond_with(sse(&text_chunks(model, &["Done: the code word ", &format!("is {SECRET_WORD}.")])))
        .with_priority(1)
        .mount(&mocks.openai)
        .await;
    let input = json!({"file_path": notes.to_str().unwrap()}).to_string();
    let (head, tail) = input.split_at(input.len() / 2);
    chat()
        .and(body_string_contains(PROMPT_MARK))
        .respond_with(sse(&call_chunks(model, "call_Scripted01", "Read", &[head, tail])))
        .with_priority(2)
        .mount(&mocks.openai)
        .await;
    chat()
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(sse(&text_chunks(model, &["ok"])))
        .with_priority(3)
        .mount(&mocks.openai)
        .await;
    chat()
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat_body(model, "ok")))
        .with_priority(4)
        .mount(&mocks.openai)
        .await;

    let home = tempfile::tempdir().unwrap();
    let command = claude_session(&claude, work.path(), home.path(), &app, &member, (model, "gpt-5-nano"));
    let out = run(command, Duration::from_secs(180)).await;
    assert!(out.status.success(), "{}", both(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&final_text), "{}", both(&out));

    let calls: Vec<wiremock::Request> = mocks
        .openai
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/chat/completions")
        .collect();
    let loop_calls: Vec<&wiremock::Request> =
        calls.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK)).collect();
    assert!(loop_calls.len() >= 2, "the prompt, then the tool's result: {} calls", loop_calls.len());
    // Claude Code really ran the tool: the file's word came back as the call's `tool` message.
    let last: Value = serde_json::from_slice(&loop_calls.last().unwrap().body).unwrap();
    let results: Vec<&Value> = last["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 1, "{last}");
    assert_eq!(results[0]["tool_call_id"], "call_Scripted01");
    assert!(results[0]["content"].to_string().contains(SECRET_WORD), "{}", results[0]);
    for call in &calls {
        let auth = call.headers.get("authorization").map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(auth, Some(format!("Bearer {org_key}")), "the organization's OpenAI key");
        for (name, value) in call.headers.iter() {
            assert!(!value.to_str().unwrap_or_default().contains(&member), "the Converra key reached OpenAI in {name}");
        }
        assert!(!String::from_utf8_lossy(&call.body).contains(&member), "the Converra key reached OpenAI in a body");
    }
    // Nothing reached Anthropic: the organization has no key there, and none was needed.
    let anthropic = mocks.anthropic.received_requests().await.unwrap_or_default();
    assert!(anthropic.iter().all(|r| r.method.as_str() == "GET"), "{} calls reached Anthropic", anthropic.len());

    let usage = app.get("/api/v1/usage", &member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
    assert!(usage.body["totals"]["output_tokens"].as_u64().unwrap() >= 14, "{}", usage.text);
    assert_eq!(usage.body["by_key_source"][0]["key"], "organization", "{}", usage.text);
}
