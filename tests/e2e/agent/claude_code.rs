//! The real Claude Code (npm, pinned by `.ci/run`) running its agent loop through `/v1/messages`:
//! `ANTHROPIC_BASE_URL` at Converra, a Converra key as `ANTHROPIC_AUTH_TOKEN`, and the provider's
//! base URL at a scripted model that first calls Claude Code's built-in `Read` tool on a file,
//! then, once the tool's result arrives, answers with a final text quoting it. `claude -p` must
//! exit 0 and print that text; the provider must have seen the organization's key and never the
//! Converra key, and the usage must show the calls. Three sessions, each on an organization with
//! one provider key: on Anthropic and on DeepSeek's Anthropic-compatible endpoint, forwarded as
//! sent (the kit's `messages_script` plays the model; Claude Code's own `anthropic-beta` list
//! arrives whole); on an OpenAI model, translated to Chat Completions and OpenAI's scripted
//! chunks (the `Read` call, then the text) back into the Messages events Claude Code parses. And
//! a spent budget: Claude Code shows Converra's refusal, and nothing reaches the provider.

use std::path::{Path, PathBuf};
use std::time::Duration;

use converra::Provider;
use converra_test_kit::chat_script::ToolThenText;
use converra_test_kit::messages_script::{MESSAGES_USAGE, ToolUseThenText};
use converra_test_kit::one_key::OneKeyOrg;
use converra_test_kit::openai_script::{call_chunks, text_chunks};
use converra_test_kit::providers::openai_chat_body;
use converra_test_kit::responses::sse;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, body_string_contains, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use super::messages::received_at;
use crate::clients::{both, client_command, missing, npm_tool, path_with, run};

/// The word the prompt carries, so the scripted model knows its own conversation.
const PROMPT_MARK: &str = "CONVERRA-AGENT-TEST";
/// What the file holds; it reaches the model only if Claude Code really ran the tool.
const SECRET_WORD: &str = "PAPAYA-42";
/// What the scripted model finally says, and Claude Code must print.
const FINAL_TEXT: &str = "Done: the code word is PAPAYA-42.";

/// One Claude Code session's setting: Claude Code itself, an organization whose one key is a
/// provider's with a member's Converra key, and a fresh folder holding `notes.txt`.
struct Session {
    claude: PathBuf,
    org: OneKeyOrg,
    work: tempfile::TempDir,
}

impl Session {
    async fn start(provider: Provider) -> Self {
        let claude = match npm_tool("claude") {
            Ok(tool) => tool,
            Err(why) => missing("Claude Code (`claude`)", &why),
        };
        let org = OneKeyOrg::start(provider, "agent@example.com").await;
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("notes.txt"), format!("The code word is {SECRET_WORD}.\n")).unwrap();
        Self { claude, org, work }
    }

    /// The `Read` tool's input the model sends: the file by its absolute path, as Claude Code wants.
    fn read_input(&self) -> String {
        json!({"file_path": self.work.path().join("notes.txt").to_str().unwrap()}).to_string()
    }

    /// Mounts the kit's scripted Messages model on the organization's provider at `at`: on the
    /// prompt, a call of `Read`; after its result, [`FINAL_TEXT`]; anything else, "ok".
    async fn play_the_model(&self, at: &str) {
        let model = ToolUseThenText(ToolThenText {
            mark: Some(PROMPT_MARK.into()),
            ..ToolThenText::calling("Read", &self.read_input(), "toolu_01Scripted", FINAL_TEXT)
        });
        let server = self.org.mocks.server(self.org.provider);
        Mock::given(method("POST")).and(path(at)).respond_with(model).mount(server).await;
    }

    /// `claude -p` asking for the code word, in the work folder with a fresh home, its model
    /// traffic at Converra on the member's key; `models`: the main and the small one. Fails the
    /// test unless it exits 0 and prints [`FINAL_TEXT`].
    async fn run(&self, models: (&str, &str)) {
        let home = tempfile::tempdir().unwrap();
        let out = run(self.command(home.path(), models), Duration::from_secs(180)).await;
        assert!(out.status.success(), "{}", both(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(FINAL_TEXT), "{}", both(&out));
    }

    fn command(&self, home: &Path, models: (&str, &str)) -> tokio::process::Command {
        let mut command = client_command(&self.claude);
        let prompt = format!("{PROMPT_MARK}: read notes.txt and tell me the code word.");
        command
            .args(["-p", &prompt, "--allowedTools", "Read"])
            .current_dir(self.work.path())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("PATH", path_with(self.claude.parent().unwrap()))
            .env("ANTHROPIC_BASE_URL", &self.org.app.base_url)
            .env("ANTHROPIC_AUTH_TOKEN", &self.org.member)
            .env("ANTHROPIC_MODEL", models.0)
            .env("ANTHROPIC_SMALL_FAST_MODEL", models.1)
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        command
    }

    /// The Messages calls the provider received, forwarded as Claude Code sent them: the loop
    /// (the prompt, then the tool's result holding the file's word), each on the organization's
    /// key as `x-api-key` with no `authorization` and never the Converra key, each with Claude
    /// Code's own `anthropic-beta` list whole and an `anthropic-version`.
    fn assert_messages_loop(&self, calls: &[Request]) {
        let loop_calls: Vec<&Request> =
            calls.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK)).collect();
        assert!(loop_calls.len() >= 2, "the prompt, then the tool's result: {} calls", loop_calls.len());
        // Claude Code really ran the tool: the file's word came back to the model as its result.
        let last: Value = serde_json::from_slice(&loop_calls.last().unwrap().body).unwrap();
        let results: Vec<&Value> = last["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(|b| b["type"] == "tool_result")
            .collect();
        assert_eq!(results.len(), 1, "{last}");
        assert_eq!(results[0]["tool_use_id"], "toolu_01Scripted");
        assert!(results[0]["content"].to_string().contains(SECRET_WORD), "{}", results[0]);
        self.org.assert_org_key_only(calls, "x-api-key", self.org.org_key);
        for call in calls {
            let header = |name: &str| call.headers.get(name).map(|v| v.to_str().unwrap_or_default().to_owned());
            assert_eq!(header("authorization"), None);
            // Claude Code's own beta list (`claude-code-…` first, then the features it uses), whole.
            let beta = header("anthropic-beta").expect("Claude Code's anthropic-beta");
            assert!(beta.starts_with("claude-code-20250219,"), "{beta}");
            assert!(header("anthropic-version").is_some());
        }
    }

    /// The month's usage, as the member reads it: the `calls` the provider answered, each
    /// `per_call` (input, output) tokens, all on the organization's key of this one provider.
    async fn assert_usage(&self, calls: usize, per_call: (u64, u64)) {
        let usage = self.org.app.get("/api/v1/usage", &self.org.member).await;
        let totals = &usage.body["totals"];
        let n = calls as u64;
        let counted = (&totals["requests"], &totals["input_tokens"], &totals["output_tokens"]);
        assert_eq!(counted, (&json!(n), &json!(per_call.0 * n), &json!(per_call.1 * n)), "{}", usage.text);
        assert_eq!(usage.body["by_provider"].as_array().map(Vec::len), Some(1), "{}", usage.text);
        assert_eq!(usage.body["by_provider"][0]["key"], self.org.provider.to_string(), "{}", usage.text);
        assert_eq!(usage.body["by_key_source"][0]["key"], "organization", "{}", usage.text);
    }

    /// No call but a GET (the key's check when it was stored) reached `provider`.
    async fn assert_untouched(&self, provider: Provider) {
        let seen = self.org.mocks.server(provider).received_requests().await.unwrap_or_default();
        let posts: Vec<&str> = seen.iter().filter(|r| r.method.as_str() != "GET").map(|r| r.url.path()).collect();
        assert!(posts.is_empty(), "{provider:?} was called: {posts:?}");
    }
}

#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_runs_a_tool_loop_through_v1_messages_on_the_organizations_anthropic_key() {
    let session = Session::start(Provider::Anthropic).await;
    session.play_the_model("/v1/messages").await;
    session.run(("claude-sonnet-4-5", "claude-haiku-4-5")).await;

    let calls = received_at(&session.org.mocks, Provider::Anthropic, "/v1/messages").await;
    session.assert_messages_loop(&calls);
    session.assert_usage(calls.len(), MESSAGES_USAGE).await;
}

#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_runs_a_tool_loop_on_a_deepseek_model_through_deepseeks_anthropic_endpoint() {
    let session = Session::start(Provider::Deepseek).await;
    session.play_the_model("/anthropic/v1/messages").await;
    session.run(("deepseek-chat", "deepseek-chat")).await;

    let calls = received_at(&session.org.mocks, Provider::Deepseek, "/anthropic/v1/messages").await;
    session.assert_messages_loop(&calls);
    // DeepSeek saw nothing else (no chat call), and Anthropic nothing at all.
    let deepseek = session.org.mocks.deepseek.received_requests().await.unwrap_or_default();
    let elsewhere: Vec<&str> = deepseek
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| r.url.path())
        .filter(|p| *p != "/anthropic/v1/messages")
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    session.assert_untouched(Provider::Anthropic).await;
    session.assert_usage(calls.len(), MESSAGES_USAGE).await;
}

#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_runs_a_tool_loop_on_an_openai_model_translated_on_the_organizations_openai_key() {
    let session = Session::start(Provider::Openai).await;
    let model = "gpt-5-mini";
    // OpenAI plays the model, in its own chunks: once the tool's result (a `tool` message) is in,
    // the final text; on the prompt, a call of Claude Code's `Read` tool, its arguments in two
    // pieces; anything else Claude Code asks, "ok" (streamed or whole, as asked).
    let openai = &session.org.mocks.openai;
    let chat = || Mock::given(method("POST")).and(path("/v1/chat/completions"));
    chat()
        .and(body_string_contains(PROMPT_MARK))
        .and(body_string_contains(r#""role":"tool""#))
        .respond_with(sse(&text_chunks(model, &["Done: the code word ", &format!("is {SECRET_WORD}.")])))
        .with_priority(1)
        .mount(openai)
        .await;
    let input = session.read_input();
    let (head, tail) = input.split_at(input.len() / 2);
    chat()
        .and(body_string_contains(PROMPT_MARK))
        .respond_with(sse(&call_chunks(model, "call_Scripted01", "Read", &[head, tail])))
        .with_priority(2)
        .mount(openai)
        .await;
    chat()
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(sse(&text_chunks(model, &["ok"])))
        .with_priority(3)
        .mount(openai)
        .await;
    chat()
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat_body(model, "ok")))
        .with_priority(4)
        .mount(openai)
        .await;
    session.run((model, "gpt-5-nano")).await;

    let calls = received_at(&session.org.mocks, Provider::Openai, "/v1/chat/completions").await;
    let loop_calls: Vec<&Request> =
        calls.iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PROMPT_MARK)).collect();
    assert!(loop_calls.len() >= 2, "the prompt, then the tool's result: {} calls", loop_calls.len());
    // Claude Code really ran the tool: the file's word came back as the call's `tool` message.
    let last: Value = serde_json::from_slice(&loop_calls.last().unwrap().body).unwrap();
    let results: Vec<&Value> = last["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 1, "{last}");
    assert_eq!(results[0]["tool_call_id"], "call_Scripted01");
    assert!(results[0]["content"].to_string().contains(SECRET_WORD), "{}", results[0]);
    session.org.assert_org_key_only(&calls, "authorization", &format!("Bearer {}", session.org.org_key));
    // Nothing reached Anthropic: the organization has no key there, and none was needed.
    session.assert_untouched(Provider::Anthropic).await;
    session.assert_usage(calls.len(), (30, 7)).await;
}

/// A spent budget: Converra refuses Claude Code's first call with 402 `billing_error` before the
/// provider sees it, and Claude Code shows Converra's message (it does not retry).
#[tokio::test]
#[ignore = "needs Claude Code (npm), installed by .ci/run"]
async fn claude_code_shows_a_spent_budgets_message_and_nothing_reaches_the_provider() {
    let session = Session::start(Provider::Anthropic).await;
    session.play_the_model("/v1/messages").await;
    let app = &session.org.app;
    let budget = json!({"scope": "organization", "limit_micro_usd": 1});
    assert_eq!(app.put("/api/v1/budgets", &app.api_key, budget).await.status, 200);

    let home = tempfile::tempdir().unwrap();
    let out =
        run(session.command(home.path(), ("claude-sonnet-4-5", "claude-haiku-4-5")), Duration::from_secs(180)).await;
    let said = both(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("The organization budget of $0.000001 for this month has no room for this call"), "{said}");
    session.assert_untouched(Provider::Anthropic).await;
}
