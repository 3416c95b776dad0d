//! Tests of a Responses request translated into a Chat Completions body: the exact body of a
//! Codex turn (what DeepSeek receives), the advisory fields named, and every field that cannot be
//! carried refused by name.

use converra::Provider;
use serde_json::{Value, json};

use super::*;

fn chat(body: &str) -> Result<ChatTranslation, Error> {
    ResponsesView::parse(body.as_bytes()).unwrap().to_chat(Provider::Deepseek)
}

fn refused(body: &str) -> String {
    match chat(body).unwrap_err() {
        Error::UnsupportedField { field, .. } => field,
        other => panic!("not UNSUPPORTED_FIELD: {other:?}"),
    }
}

/// A Codex 0.169 turn on a model it has no metadata for, as it writes it (trimmed): developer
/// and user messages, its functions and a namespace of them, no `instructions`.
const CODEX_TURN: &str = r#"{"model":"deepseek/deepseek-chat","stream":true,
 "input":[{"type":"message","id":"msg_d2ee","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"say hi"}]}],
 "tools":[{"type":"function","name":"exec_command","description":"Runs a command.","strict":false,
   "parameters":{"type":"object","properties":{"cmd":{"type":"string"},"login":{"type":"boolean"}},"required":["cmd"],"additionalProperties":false}},
  {"type":"namespace","name":"multi_agent_v1","description":"Tools for sub-agents.","tools":[
   {"type":"function","name":"wait_agent","description":"Waits.","strict":false,"parameters":{"type":"object","properties":{}}}]}],
 "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto"},"store":false,
 "include":["reasoning.encrypted_content"],"prompt_cache_key":"01a2-session","client_metadata":{"turn_id":"01a2"}}"#;

#[test]
fn a_codex_turn_becomes_this_chat_body_and_names_what_it_leaves_out() {
    let t = chat(CODEX_TURN).unwrap();
    let body = String::from_utf8(t.body).unwrap();
    // The client's schema bytes are carried as written.
    assert!(body.contains(r#""parameters":{"type":"object","properties":{"cmd":{"type":"string"},"login":{"type":"boolean"}},"required":["cmd"],"additionalProperties":false}"#), "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "deepseek/deepseek-chat",
            "messages": [
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": "say hi"}
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [
                {"type": "function", "function": {"name": "exec_command", "description": "Runs a command.", "strict": false,
                    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "login": {"type": "boolean"}},
                        "required": ["cmd"], "additionalProperties": false}}},
                {"type": "function", "function": {"name": "multi_agent_v1__wait_agent", "description": "Tools for sub-agents.\n\nWaits.",
                    "strict": false, "parameters": {"type": "object", "properties": {}}}}
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true
        })
    );
    assert_eq!(
        t.dropped,
        ["reasoning.summary", "include: reasoning.encrypted_content", "prompt_cache_key", "client_metadata"]
    );
    assert_eq!(t.names.split("multi_agent_v1__wait_agent"), (Some("multi_agent_v1"), "wait_agent"));
    assert_eq!(t.names.split("exec_command"), (None, "exec_command"));
}

#[test]
fn instructions_output_cap_sampling_format_and_a_chosen_function_are_carried() {
    let body = r#"{"model":"deepseek-chat","instructions":"Answer in JSON.","input":"Weather?","max_output_tokens":300,
      "temperature":0.2,"top_p":0.9,"reasoning":{"effort":"high"},"tool_choice":{"type":"function","name":"get_weather"},
      "text":{"format":{"type":"json_schema","name":"weather","schema":{"type":"object"},"strict":true}},
      "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],
      "store":true,"metadata":{"k":"v"},"user":"u1","truncation":"disabled","background":false}"#;
    let t = chat(body).unwrap();
    let body: Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "deepseek-chat",
            "messages": [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Weather?"}],
            "max_tokens": 300,
            "temperature": 0.2,
            "top_p": 0.9,
            "reasoning_effort": "high",
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": {"type": "object"}, "strict": true}},
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        })
    );
    assert_eq!(t.dropped, ["store", "metadata", "user"]);
    let json_object =
        chat(r#"{"model":"deepseek-chat","input":"x","text":{"format":{"type":"json_object"}}}"#).unwrap();
    let json_object: Value = serde_json::from_slice(&json_object.body).unwrap();
    assert_eq!(json_object["response_format"], json!({"type": "json_object"}));
}

#[test]
fn what_chat_cannot_carry_is_refused_by_name() {
    for (extra, field) in [
        (r#""tools":[{"type":"web_search","external_web_access":true}]"#, "tools: web_search"),
        (r#""tools":[{"type":"file_search","vector_store_ids":[]}]"#, "tools: file_search"),
        (r#""tools":[{"type":"code_interpreter","container":{"type":"auto"}}]"#, "tools: code_interpreter"),
        (r#""tools":[{"type":"computer_use_preview"}]"#, "tools: computer_use_preview"),
        (r#""tools":[{"type":"mcp","server_label":"x","server_url":"https://mcp.example"}]"#, "tools: mcp"),
        (r#""tools":[{"type":"image_generation"}]"#, "tools: image_generation"),
        (r#""tools":[{"type":"local_shell"}]"#, "tools: local_shell"),
        (r#""tools":[{"type":"custom","name":"apply_patch","format":{"type":"grammar"}}]"#, "tools: custom"),
        (r#""tools":[{"type":"namespace","name":"n","tools":[{"type":"custom","name":"x"}]}]"#, "tools: custom"),
        (r#""tools":[{"type":"function","name":"f","defer_loading":true}]"#, "tools[0].defer_loading"),
        (r#""tool_choice":{"type":"web_search"}"#, "tool_choice"),
        (r#""tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}"#, "tool_choice"),
        (r#""background":true"#, "background"),
        (r#""truncation":"auto""#, "truncation"),
        (r#""top_logprobs":3"#, "top_logprobs"),
        (r#""max_tool_calls":2"#, "max_tool_calls"),
        (
            r#""include":["reasoning.encrypted_content","message.output_text.logprobs"]"#,
            "include: message.output_text.logprobs",
        ),
        (r#""text":{"verbosity":"low"}"#, "text.verbosity"),
        (r#""text":{"format":{"type":"grammar"}}"#, "text.format"),
        (r#""reasoning":{"effort":"low","mode":"x"}"#, "reasoning.mode"),
        (r#""future_field_2027":1"#, "future_field_2027"),
    ] {
        assert_eq!(refused(&format!(r#"{{"model":"deepseek-chat","input":"hi",{extra}}}"#)), field, "{extra}");
    }
    let twice = chat(
        r#"{"model":"deepseek-chat","input":"hi","tools":[{"type":"function","name":"n__f"},{"type":"namespace","name":"n","tools":[{"type":"function","name":"f"}]}]}"#,
    );
    assert!(matches!(twice.unwrap_err(), Error::Validation { field: Some(f), .. } if f == "tools"));
}

#[test]
fn a_refusal_of_a_renamed_chat_field_names_the_responses_field() {
    assert_eq!(responses_field("reasoning_effort"), "reasoning.effort");
    assert_eq!(responses_field("max_tokens"), "max_output_tokens");
    assert_eq!(responses_field("response_format.type"), "text.format.type");
    assert_eq!(responses_field("response_format.json_schema.description"), "text.format.description");
    assert_eq!(responses_field("max_tokens_x"), "max_tokens_x");
    assert_eq!(responses_field("tools[0].function.parameters"), "tools[0].function.parameters");
}
