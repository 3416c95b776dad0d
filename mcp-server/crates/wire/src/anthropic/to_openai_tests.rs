//! Tests of `to_openai.rs`: Messages requests and the exact Chat Completions bodies they become,
//! the fields left out and named, and those refused by name.

use converra::Provider;
use serde_json::{Value, json};

use super::*;

fn translate(body: &str) -> Result<(Value, Vec<&'static str>, Option<String>), Error> {
    let view = MessagesView::parse(body.as_bytes())?;
    let out = to_chat(&view, "gpt-5-mini".into(), Provider::Openai)?;
    let json: Value = serde_json::to_value(&out.body).unwrap();
    Ok((json, out.dropped, out.end_user))
}

fn refused(body: &str) -> String {
    match translate(body) {
        Err(Error::UnsupportedField { field, provider: Provider::Openai }) => field,
        other => panic!("expected UNSUPPORTED_FIELD, got {other:?}"),
    }
}

/// What Claude Code 2.1.197 sends for an OpenAI model (captured; shortened), one turn into a
/// tool loop.
const CLAUDE_CODE: &str = r#"{
  "model": "openai/gpt-5-mini",
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
      {"type": "text", "text": "Read notes.txt and look at this", "cache_control": {"type": "ephemeral"}},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    ]},
    {"role": "system", "content": "Available agent types: claude"},
    {"role": "assistant", "content": [
      {"type": "text", "text": "I'll read it."},
      {"type": "tool_use", "id": "call_A1", "name": "Read", "input": {"file_path": "/w/notes.txt"}},
      {"type": "tool_use", "id": "call_B2", "name": "Bash", "input": {"command": "ls"}}
    ]},
    {"role": "user", "content": [
      {"type": "text", "text": "and hurry"},
      {"type": "tool_result", "tool_use_id": "call_A1", "content": "The code word is PAPAYA-42.", "cache_control": {"type": "ephemeral"}},
      {"type": "tool_result", "tool_use_id": "call_B2", "is_error": true, "content": [{"type": "text", "text": "denied"}]}
    ]}
  ],
  "system": [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=sdk-cli;"},
    {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}}
  ],
  "tools": [
    {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}},
    {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}}
  ],
  "metadata": {"user_id": "{\"device_id\":\"c476\",\"account_uuid\":\"\",\"session_id\":\"dcdf\"}"},
  "max_tokens": 32000,
  "thinking": {"type": "adaptive"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
  "output_config": {"effort": "high"},
  "stream": true
}"#;

#[test]
fn a_claude_code_turn_becomes_this_exact_chat_completions_body() {
    let (body, dropped, end_user) = translate(CLAUDE_CODE).unwrap();
    let expected = json!({
        "model": "gpt-5-mini",
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=sdk-cli;"},
                {"type": "text", "text": "You are a Claude agent."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "Read notes.txt and look at this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "system", "content": "Available agent types: claude"},
            {"role": "assistant", "content": [{"type": "text", "text": "I'll read it."}], "tool_calls": [
                {"id": "call_A1", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\": \"/w/notes.txt\"}"}},
                {"id": "call_B2", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\": \"ls\"}"}}]},
            // The results first, in order, right after the calls; then the user's own text.
            {"role": "tool", "tool_call_id": "call_A1", "content": "The code word is PAPAYA-42."},
            {"role": "tool", "tool_call_id": "call_B2", "content": [{"type": "text", "text": "Error:"}, {"type": "text", "text": "denied"}]},
            {"role": "user", "content": [{"type": "text", "text": "and hurry"}]}
        ],
        "max_completion_tokens": 32000,
        "tools": [
            {"type": "function", "function": {"name": "Read", "description": "Read a file",
                "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}},
            {"type": "function", "function": {"name": "Bash",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}
        ],
        "reasoning_effort": "high",
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    assert_eq!(body, expected);
    assert_eq!(dropped, ["cache_control", "thinking", "context_management"]);
    // Handed to the core, which sends a hash of it, never the client's text.
    assert_eq!(end_user.as_deref(), Some(r#"{"device_id":"c476","account_uuid":"","session_id":"dcdf"}"#));
    assert!(!serde_json::to_string(&body).unwrap().contains("device_id"));
}

#[test]
fn sampling_stops_tool_choice_urls_pdfs_and_structured_output_are_carried() {
    let sent = r#"{"model":"gpt-4.1","max_tokens":100,"temperature":0.2,"top_p":0.9,"stop_sequences":["END","\n\nHuman:"],
      "system":"Be brief.",
      "tools":[{"type":"custom","name":"get_weather","input_schema":{"type":"object"},"strict":true}],
      "tool_choice":{"type":"any","disable_parallel_tool_use":true},
      "output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}},
      "messages":[{"role":"user","content":[
        {"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}},
        {"type":"document","title":"report.pdf","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}},
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0y"}}]},
        {"role":"assistant","content":"Sure."},
        {"role":"user","content":"Go on"}],
      "thinking":{"type":"disabled"},"service_tier":"auto"}"#;
    let (body, dropped, end_user) = translate(sent).unwrap();
    let expected = json!({
        "model": "gpt-5-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
                {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0y"}}]},
            {"role": "assistant", "content": "Sure."},
            {"role": "user", "content": "Go on"}
        ],
        "max_completion_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END", "\n\nHuman:"],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "output", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}}}
    });
    assert_eq!(body, expected);
    assert_eq!((dropped, end_user), (vec!["service_tier"], None));

    let choice = |choice: &str| {
        let sent = format!(
            r#"{{"model":"gpt-4o","max_tokens":5,"messages":[],"tools":[{{"name":"f","input_schema":{{}}}}],"tool_choice":{choice}}}"#
        );
        let (body, ..) = translate(&sent).unwrap();
        (body["tool_choice"].clone(), body.get("parallel_tool_calls").cloned())
    };
    assert_eq!(choice(r#"{"type":"auto"}"#), (json!("auto"), None));
    assert_eq!(choice(r#"{"type":"none"}"#), (json!("none"), None));
    assert_eq!(
        choice(r#"{"type":"tool","name":"f","disable_parallel_tool_use":true}"#),
        (json!({"type": "function", "function": {"name": "f"}}), Some(json!(false)))
    );
}

#[test]
fn what_would_change_the_answer_and_cannot_be_carried_is_refused_by_name() {
    let with = |extra: &str| {
        format!(r#"{{"model":"gpt-4o","max_tokens":5,"messages":[{{"role":"user","content":"hi"}}],{extra}}}"#)
    };
    assert_eq!(refused(&with(r#""top_k":5"#)), "top_k");
    assert_eq!(refused(&with(r#""thinking":{"type":"enabled","budget_tokens":2048}"#)), "thinking");
    assert_eq!(refused(&with(r#""output_config":{"effort":"max"}"#)), "output_config.effort");
    assert_eq!(refused(&with(r#""output_config":{"task_budget":1}"#)), "output_config.task_budget");
    assert_eq!(refused(&with(r#""metadata":{"user_id":"u","tags":["x"]}"#)), "metadata.tags");
    assert_eq!(refused(&with(r#""inference_geo":"us""#)), "inference_geo");
    assert_eq!(
        refused(&with(r#""tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}]"#)),
        "tools: web_search_20250305"
    );
    assert_eq!(
        refused(&with(r#""tools":[{"name":"f","input_schema":{},"input_examples":[{}]}]"#)),
        "tools[0].input_examples"
    );
    assert_eq!(refused(&with(r#""tool_choice":{"type":"auto","extra":1}"#)), "tool_choice.extra");

    let block = |block: &str| {
        format!(r#"{{"model":"gpt-4o","max_tokens":5,"messages":[{{"role":"user","content":[{block}]}}]}}"#)
    };
    let file = r#"{"type":"image","source":{"type":"file","file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}}"#;
    assert_eq!(refused(&block(file)), "messages[0].content[0].source.file_id");
    let text_doc = r#"{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hi"}}"#;
    assert_eq!(refused(&block(text_doc)), "messages[0].content[0].source.text");
    let cited = r#"{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JV"},"citations":{"enabled":true}}"#;
    assert_eq!(refused(&block(cited)), "messages[0].content[0].citations");
    assert_eq!(
        refused(&block(r#"{"type":"search_result","source":"s","title":"t","content":[]}"#)),
        "messages[0].content[0].search_result"
    );
    let image_result = r#"{"type":"tool_result","tool_use_id":"c","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA"}}]}"#;
    assert_eq!(refused(&block(image_result)), "messages[0].content[0].content[0].image");
    let server = r#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}]}]}"#;
    assert_eq!(refused(server), "messages[0].content[0].server_tool_use");
    let extra = r#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"system","content":"x","output_config":{"effort":"low"}}]}"#;
    assert_eq!(refused(extra), "messages[0].output_config");
}

#[test]
fn thinking_of_earlier_turns_is_left_out_and_named_and_a_malformed_value_is_a_validation_error() {
    let sent = r#"{"model":"gpt-5","max_tokens":5,"messages":[{"role":"assistant","content":[
      {"type":"thinking","thinking":"hmm","signature":"EqQB"},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"Hi"}]}]}"#;
    let (body, dropped, _) = translate(sent).unwrap();
    assert_eq!(body["messages"], json!([{"role": "assistant", "content": [{"type": "text", "text": "Hi"}]}]));
    assert_eq!(dropped, ["content.thinking", "content.redacted_thinking"]);
    let bad = r#"{"model":"gpt-5","max_tokens":"many","messages":[]}"#;
    assert!(matches!(translate(bad), Err(Error::Validation { field: Some(f), .. }) if f == "max_tokens"));
    let no_input = r#"{"model":"gpt-5","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":[1]}]}]}"#;
    assert!(
        matches!(translate(no_input), Err(Error::Validation { field: Some(f), .. }) if f == "messages[0].content[0].input")
    );
}
