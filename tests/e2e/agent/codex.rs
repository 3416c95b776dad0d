//! The real Codex CLI (npm `@openai/codex`, pinned by `.ci/run`) running a turn through
//! `/v1/responses`: a `config.toml` provider block with `base_url` at Converra's `/v1`,
//! `wire_api = "responses"` and the Converra key in `env_key`, and Converra's OpenAI base URL at
//! a scripted Responses mock that plays the model with the full event sequence Codex's parser
//! wants — it first calls Codex's own shell tool to read a file, then, once the command's output
//! comes back, answers with a final text quoting it. `codex exec` must exit 0 and print that
//! text; the mock must have seen the organization's OpenAI key and never the Converra key.
//! Then the same turn on a DeepSeek model: Converra translates Codex's Responses requests into
//! chat, and DeepSeek's chat answers (a scripted tool call, then text: the kit's `chat_script`)
//! back into the Responses events Codex parses; and on a Claude model, through chat on to
//! Anthropic's Messages API (a scripted Anthropic stream: a `tool_use`, then text). The one
//! change on Codex's side is `web_search = "disabled"`: Codex offers OpenAI's hosted web search
//! by default, which cannot reach another provider and is refused by name.

use std::time::Duration;

use converra::Provider;
use converra_test_kit::chat_script::ToolThenText;
use converra_test_kit::one_key::OneKeyOrg;
use converra_test_kit::responses::{responses_call_events, responses_events, sse};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::clients::{both, client_command, missing, npm_tool, path_with, run};

/// The word the prompt carries, so the scripted model knows its own conversation.
const PROMPT_MARK: &str = "CONVERRA-CODEX-TEST";
/// What the file holds; it reaches the model only if Codex really ran the command.
const SECRET_WORD: &str = "MANGO-77";
const CALL_ID: &str = "call_converra_1";

/// The scripted model: the final text once the command's output is in the input; on the
/// prompt, a call of whichever shell tool Codex offers; anything else, "ok".
struct Model {
    final_text: String,
}

impl wiremock::Respond for Model {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = String::from_utf8_lossy(&request.body);
        let model = body["model"].as_str().unwrap_or("gpt-4o-mini");
        if text.contains(CALL_ID) && text.contains("function_call_output") {
            return sse(&responses_events("resp_final", model, &["Done: ", &self.final_text], "response.completed"));
        }
        if !text.contains(PROMPT_MARK) {
            return sse(&responses_events("resp_side", model, &["ok"], "response.completed"));
        }
        let tools: Vec<&str> =
            body["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        match shell_call(&tools) {
            Some((name, arguments)) => sse(&responses_call_events("resp_call", model, CALL_ID, &name, &arguments)),
            None => ResponseTemplate::new(400).set_body_string(format!("no shell tool among {tools:?}")),
        }
    }
}

/// A call of Codex's shell tool reading the file, by the name and arguments of the version at
/// hand, among the tools offered.
fn shell_call(tools: &[&str]) -> Option<(String, String)> {
    let (name, arguments) = if tools.contains(&"shell") {
        ("shell", json!({"command": ["cat", "notes.txt"]}))
    } else if tools.contains(&"shell_command") {
        ("shell_command", json!({"command": "cat notes.txt"}))
    } else if tools.contains(&"exec_command") {
        ("exec_command", json!({"cmd": "cat notes.txt"}))
    } else {
        return None;
    };
    Some((name.to_owned(), arguments.to_string()))
}

/// `codex exec` asked to read the file, in a fresh folder holding it, with `config` (the model,
/// its provider block at Converra's `/v1`) and the Converra key `key`; fails the test unless it
/// exits 0 and prints `final_text`.
async fn run_codex(codex: &std::path::Path, config: &str, key: &str, final_text: &str) {
    let out = codex_exec(codex, config, key).await;
    assert!(out.status.success(), "{}", both(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(final_text), "{}", both(&out));
}

/// What `codex exec` asked to read the file printed, and how it ended.
async fn codex_exec(codex: &std::path::Path, config: &str, key: &str) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("notes.txt"), format!("The code word is {SECRET_WORD}.\n")).unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let mut command = client_command(codex);
    let prompt = format!("{PROMPT_MARK}: read notes.txt and tell me the code word.");
    command
        // Commands run without Codex's sandbox (bubblewrap is not installed here); the work
        // folder is a fresh temporary one.
        .args(["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", &prompt])
        .current_dir(work.path())
        .env("HOME", home.path())
        .env("CODEX_HOME", home.path())
        .env("PATH", path_with(codex.parent().unwrap()))
        .env("CONVERRA_API_KEY", key);
    run(command, Duration::from_secs(180)).await
}

/// Codex's configuration: `model` from the provider block `converra` at `base_url`, and `extra`
/// top-level settings.
fn config(model: &str, base_url: &str, extra: &str) -> String {
    format!(
        "model = \"{model}\"\nmodel_provider = \"converra\"\n{extra}\n[model_providers.converra]\nname = \"Converra\"\n\
         base_url = \"{base_url}/v1\"\nenv_key = \"CONVERRA_API_KEY\"\nwire_api = \"responses\"\n"
    )
}

#[tokio::test]
#[ignore = "needs Codex (npm), installed by .ci/run"]
async fn codex_runs_a_shell_tool_turn_through_v1_responses_on_the_organizations_openai_key() {
    let codex = match npm_tool("codex") {
        Ok(tool) => tool,
        Err(why) => missing("Codex (`codex`)", &why),
    };
    let org = OneKeyOrg::start(Provider::Openai, "codex@example.com").await;
    let (mocks, app, org_key, member) = (&org.mocks, &org.app, org.org_key, org.member.as_str());

    let final_text = format!("the code word is {SECRET_WORD}.");
    Mock::given(method("POST"))
        .and(path("/v1/responses"))
        .respond_with(Model { final_text: final_text.clone() })
        .mount(&mocks.openai)
        .await;
    run_codex(&codex, &config("gpt-4o-mini", &app.base_url, ""), member, &final_text).await;

    let calls: Vec<Request> = mocks
        .openai
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/responses")
        .collect();
    let turn: Vec<&Request> = calls.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK)).collect();
    assert!(turn.len() >= 2, "the prompt, then the command's output: {} calls", turn.len());
    // Codex really ran the command: the file's word came back to the model as its output.
    assert!(String::from_utf8_lossy(&turn.last().unwrap().body).contains(SECRET_WORD));
    org.assert_org_key_only(&calls, "authorization", &format!("Bearer {org_key}"));
    let usage = app.get("/api/v1/usage", member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
}

#[tokio::test]
#[ignore = "needs Codex (npm), installed by .ci/run"]
async fn codex_runs_a_shell_tool_turn_on_a_deepseek_model_through_the_translated_v1_responses() {
    let codex = match npm_tool("codex") {
        Ok(tool) => tool,
        Err(why) => missing("Codex (`codex`)", &why),
    };
    let org = OneKeyOrg::start(Provider::Deepseek, "codex@example.com").await;
    let (mocks, app, org_key, member) = (&org.mocks, &org.app, org.org_key, org.member.as_str());

    let final_text = format!("the code word is {SECRET_WORD}.");
    let model = ToolThenText {
        call_id: CALL_ID.into(),
        choose: Box::new(|tools: &[&str]| shell_call(tools)),
        text: format!("Done: {final_text}"),
        mark: Some(PROMPT_MARK.into()),
    };
    Mock::given(method("POST")).and(path("/chat/completions")).respond_with(model).mount(&mocks.deepseek).await;
    let config = config("deepseek-chat", &app.base_url, "web_search = \"disabled\"\n");
    run_codex(&codex, &config, member, &final_text).await;

    let calls: Vec<Request> = mocks
        .deepseek
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/chat/completions")
        .collect();
    let turn: Vec<Value> = calls
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(turn.len() >= 2, "the prompt, then the command's output: {} calls", turn.len());
    // The second call carries the model's call as an assistant message and the command's
    // output, the file's word in it, as the tool's result.
    let messages = turn.last().unwrap()["messages"].as_array().unwrap();
    let call = messages.iter().find(|m| m["role"] == "assistant" && m["tool_calls"].is_array()).expect("the call");
    assert_eq!(call["tool_calls"][0]["id"], CALL_ID);
    let output = messages.iter().find(|m| m["role"] == "tool").expect("the tool's result");
    assert_eq!(output["tool_call_id"], CALL_ID);
    assert!(output["content"].as_str().is_some_and(|c| c.contains(SECRET_WORD)), "{output}");
    org.assert_org_key_only(&calls, "authorization", &format!("Bearer {org_key}"));
    for call in &calls {
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert!(body["messages"].is_array() && body.get("input").is_none(), "a chat body: {body}");
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }
    let usage = app.get("/api/v1/usage", member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
    assert_eq!(usage.body["totals"]["input_tokens"], 20 * calls.len(), "{}", usage.text);
}

/// Anthropic's stream of a scripted model: on the prompt, a `tool_use` of Codex's shell tool;
/// once its result is in the conversation, `final_text`; anything else, "ok".
struct Claude {
    final_text: String,
}

impl wiremock::Respond for Claude {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = String::from_utf8_lossy(&request.body);
        let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let start = event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01CodexTurn", "type": "message", "role": "assistant",
                "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        );
        let end = |reason: &str| {
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": 7}}),
            ) + &event("message_stop", json!({"type": "message_stop"}))
        };
        let said = |words: &str| {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ) + &event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": words}}),
            ) + &event("content_block_stop", json!({"type": "content_block_stop", "index": 0}))
        };
        let answer = if text.contains("tool_result") {
            start + &said(&format!("Done: {}", self.final_text)) + &end("end_turn")
        } else if !text.contains(PROMPT_MARK) {
            start + &said("ok") + &end("end_turn")
        } else {
            let tools: Vec<&str> =
                body["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
            let Some((name, arguments)) = shell_call(&tools) else {
                return ResponseTemplate::new(400).set_body_string(format!("no shell tool among {tools:?}"));
            };
            start
                + &event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "tool_use", "id": "toolu_01CodexShell", "name": name, "input": {}}}),
                )
                + &event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                )
                + &event("content_block_stop", json!({"type": "content_block_stop", "index": 0}))
                + &end("tool_use")
        };
        ResponseTemplate::new(200).set_body_raw(answer, "text/event-stream")
    }
}

#[tokio::test]
#[ignore = "needs Codex (npm), installed by .ci/run"]
async fn codex_runs_a_shell_tool_turn_on_a_claude_model_through_chat_on_to_anthropic() {
    let codex = match npm_tool("codex") {
        Ok(tool) => tool,
        Err(why) => missing("Codex (`codex`)", &why),
    };
    let org = OneKeyOrg::start(Provider::Anthropic, "codex@example.com").await;
    let (mocks, app, org_key, member) = (&org.mocks, &org.app, org.org_key, org.member.as_str());

    let final_text = format!("the code word is {SECRET_WORD}.");
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(Claude { final_text: final_text.clone() })
        .mount(&mocks.anthropic)
        .await;
    let config = config("claude-sonnet-4-5", &app.base_url, "web_search = \"disabled\"\n");
    run_codex(&codex, &config, member, &final_text).await;

    let calls: Vec<Request> = mocks
        .anthropic
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/messages")
        .collect();
    let turn: Vec<Value> = calls
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(turn.len() >= 2, "the prompt, then the command's output: {} calls", turn.len());
    // The command's output, the file's word in it, came back to Anthropic as the call's result.
    let last = turn.last().unwrap().to_string();
    assert!(last.contains(r#""tool_use_id":"toolu_01CodexShell""#) && last.contains(SECRET_WORD), "{last}");
    org.assert_org_key_only(&calls, "x-api-key", org_key);
    let usage = app.get("/api/v1/usage", member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
}

/// A spent budget: Converra refuses Codex's first Responses call with 402
/// `insufficient_quota` before OpenAI sees it, and Codex reports Converra's message (after
/// retrying on its own: Codex does not read `x-should-retry`). With its hosted web search on,
/// the call could not be bounded at all: a budget refuses it naming the search.
#[tokio::test]
#[ignore = "needs Codex (npm), installed by .ci/run"]
async fn codex_reports_a_spent_budget_and_nothing_reaches_the_provider() {
    let codex = match npm_tool("codex") {
        Ok(tool) => tool,
        Err(why) => missing("Codex (`codex`)", &why),
    };
    let org = OneKeyOrg::start(Provider::Openai, "codex@example.com").await;
    let budget = json!({"scope": "organization", "limit_micro_usd": 1});
    assert_eq!(org.app.put("/api/v1/budgets", &org.app.api_key, budget).await.status, 200);
    let searching = codex_exec(&codex, &config("gpt-4o-mini", &org.app.base_url, ""), &org.member).await;
    let said = both(&searching);
    assert!(!searching.status.success(), "{said}");
    assert!(said.contains("402 Payment Required: The organization budget applies to this call and its cost cannot be bounded: the `web_search` charge has no cap on its units"), "{said}");
    let plain = config("gpt-4o-mini", &org.app.base_url, "web_search = \"disabled\"\n");
    let out = codex_exec(&codex, &plain, &org.member).await;
    let said = both(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(
            "402 Payment Required: The organization budget of $0.000001 for this month has no room for this call"
        ),
        "{said}"
    );
    let posts = org.mocks.openai.received_requests().await.unwrap_or_default();
    assert!(posts.iter().all(|r| r.method.as_str() == "GET"), "nothing but the key's check reached OpenAI");
}
