//! The real Codex CLI (npm `@openai/codex`, pinned by `.ci/run`) running a turn through
//! `/v1/responses`: a `config.toml` provider block with `base_url` at Converra's `/v1`,
//! `wire_api = "responses"` and the Converra key in `env_key`, and Converra's OpenAI base URL at
//! a scripted Responses mock that plays the model with the full event sequence Codex's parser
//! wants — it first calls Codex's own shell tool to read a file, then, once the command's output
//! comes back, answers with a final text quoting it. `codex exec` must exit 0 and print that
//! text; the mock must have seen the organization's OpenAI key and never the Converra key.

use std::time::Duration;

use converra::Provider;
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::responses::{responses_call_events, responses_events, sse};
use converra_test_kit::spawn_app_on;
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
        // Codex's shell tool, by the name and arguments of the version at hand.
        let (name, arguments) = if tools.contains(&"shell") {
            ("shell", json!({"command": ["cat", "notes.txt"]}))
        } else if tools.contains(&"shell_command") {
            ("shell_command", json!({"command": "cat notes.txt"}))
        } else if tools.contains(&"exec_command") {
            ("exec_command", json!({"cmd": "cat notes.txt"}))
        } else {
            return ResponseTemplate::new(400).set_body_string(format!("no shell tool among {tools:?}"));
        };
        sse(&responses_call_events("resp_call", model, CALL_ID, name, &arguments.to_string()))
    }
}

#[tokio::test]
#[ignore = "needs Codex (npm), installed by .ci/run"]
async fn codex_runs_a_shell_tool_turn_through_v1_responses_on_the_organizations_openai_key() {
    let codex = match npm_tool("codex") {
        Ok(tool) => tool,
        Err(why) => missing("Codex (`codex`)", &why),
    };
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let org_key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, org_key, Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "codex@example.com", "member").await;

    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("notes.txt"), format!("The code word is {SECRET_WORD}.\n")).unwrap();
    let final_text = format!("the code word is {SECRET_WORD}.");
    Mock::given(method("POST"))
        .and(path("/v1/responses"))
        .respond_with(Model { final_text: final_text.clone() })
        .mount(&mocks.openai)
        .await;

    let home = tempfile::tempdir().unwrap();
    let config = format!(
        "model = \"gpt-4o-mini\"\nmodel_provider = \"converra\"\n\n[model_providers.converra]\nname = \"Converra\"\n\
         base_url = \"{}/v1\"\nenv_key = \"CONVERRA_API_KEY\"\nwire_api = \"responses\"\n",
        app.base_url
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let mut command = client_command(&codex);
    let prompt = format!("{PROMPT_MARK}: read notes.txt and tell me the code word.");
    command
        // Commands run without Codex's sandbox (bubblewrap is not installed here); the work
        // folder is a fresh temporary one.
        .args(["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", &prompt])
        .current_dir(work.path())
        .env("HOME", home.path())
        .env("CODEX_HOME", home.path())
        .env("PATH", path_with(codex.parent().unwrap()))
        .env("CONVERRA_API_KEY", &member);
    let out = run(command, Duration::from_secs(180)).await;
    assert!(out.status.success(), "{}", both(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&final_text), "{}", both(&out));

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
    for call in &calls {
        let auth = call.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(format!("Bearer {org_key}").as_str()), "the organization's OpenAI key");
        for (name, value) in call.headers.iter() {
            assert!(
                !value.to_str().unwrap_or_default().contains(&member),
                "the Converra key reached the mock in {name}"
            );
        }
        assert!(!String::from_utf8_lossy(&call.body).contains(&member), "the Converra key reached the mock's body");
    }
    let usage = app.get("/api/v1/usage", &member).await;
    assert_eq!(usage.body["totals"]["requests"], calls.len(), "{}", usage.text);
}
