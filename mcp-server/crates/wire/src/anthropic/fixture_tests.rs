//! Fixture-driven tests of the `/v1/messages` translation for an OpenAI model, one folder of
//! cases per direction under `fixtures/`: each case a JSON file `{"about", "input", "expected"}`
//! (or `"expected_error"` for a refusal; `"expected_dropped"` for the advisory fields a request
//! leaves out and names; `"expected_end_user"` for the end-user id handed to the core), the
//! expected output written from the providers' API references. A case whose `known_defect` says
//! how the code differs from the documentation is reported, not failed, until the code is fixed
//! (then the mark must go). A folder without a case fails: a suite that cannot fail proves
//! nothing. (The runner is the twin of `openai_wire/fixture_tests.rs`: each wire's tests stand
//! alone while the wires move into their own crate.)

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use converra::Provider;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{MessagesView, StreamMapper, Untranslatable, message_from_chat, to_chat};
use converra_base::Error;

/// The message id every translated answer carries here (the core makes up its own `msg_…`).
const MESSAGE_ID: &str = "msg_fixture";

/// A refusal as a case writes it: the code and the field it names.
fn error_text(e: &Error) -> String {
    match e {
        Error::UnsupportedField { field, .. } => format!("UNSUPPORTED_FIELD {field}"),
        Error::Validation { field, message } => {
            format!("VALIDATION_ERROR {}: {message}", field.as_deref().unwrap_or("-"))
        }
        other => format!("{:?}: {other}", other.code()),
    }
}

/// Runs every case of `fixtures/<direction>` through `translate` (the case's `input` as the
/// file writes it: a client's member order matters), which answers what the case compares:
/// `output`, and for a request `dropped` and `end_user`.
fn run(direction: &str, translate: impl Fn(&str) -> Result<Value, Error>) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/anthropic/fixtures").join(direction);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no case; a suite without a case cannot fail", folder.display());
    let (mut failures, mut known) = (String::new(), String::new());
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        let raw: HashMap<String, Box<RawValue>> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let about = case["about"].as_str().unwrap_or_else(|| panic!("{name}: `about` is required"));
        let input = raw.get("input").unwrap_or_else(|| panic!("{name}: `input` is required"));
        let got = translate(input.get()).unwrap_or_else(|e| json!({"error": error_text(&e)}));
        let want = match (case.get("expected"), case.get("expected_error")) {
            (Some(expected), None) if got.get("dropped").is_some() => json!({
                "output": expected,
                "dropped": case.get("expected_dropped").cloned().unwrap_or(json!([])),
                "end_user": case.get("expected_end_user").cloned().unwrap_or(Value::Null),
            }),
            (Some(expected), None) => json!({"output": expected}),
            (None, Some(error)) => json!({"error": error}),
            _ => panic!("{name}: exactly one of `expected` and `expected_error` is required"),
        };
        let report = |defect: &str| {
            format!(
                "\n== {name}\n   about: {about}\n{defect}   expected:\n{}\n   got:\n{}\n",
                serde_json::to_string_pretty(&want).unwrap_or_default(),
                serde_json::to_string_pretty(&got).unwrap_or_default()
            )
        };
        match (got == want, case.get("known_defect").and_then(Value::as_str)) {
            (true, None) => {}
            (false, None) => failures.push_str(&report("")),
            (false, Some(defect)) => known.push_str(&report(&format!("   known defect: {defect}\n"))),
            (true, Some(defect)) => {
                let _ = write!(failures, "\n== {name}\n   passes now: remove its `known_defect` ({defect})\n");
            }
        }
    }
    if !known.is_empty() {
        eprintln!("{}: known differences from the documentation:{known}", folder.display());
    }
    assert!(failures.is_empty(), "{}: cases that fail:{failures}", folder.display());
}

fn parsed(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Anthropic's events (`event: x` / `data: {…}`) as `{"event", "data"}` values.
fn named_events(text: &str) -> Vec<Value> {
    text.split_terminator("\n\n")
        .map(|event| {
            let (mut name, mut data) = (Value::Null, Value::Null);
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = json!(n);
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or_else(|_| json!(d));
                }
            }
            json!({"event": name, "data": data})
        })
        .collect()
}

#[test]
fn messages_to_chat() {
    run("messages_to_chat", |input| {
        let view = MessagesView::parse(input.as_bytes())?;
        let model = view.model.strip_prefix("openai/").unwrap_or(&view.model).to_owned();
        let out = to_chat(&view, model, Provider::Openai)?;
        let body = serde_json::to_value(&out.body).expect("a chat body writes");
        Ok(json!({"output": body, "dropped": out.dropped, "end_user": out.end_user}))
    });
}

#[test]
fn chat_to_message() {
    run("chat_to_message", |input| {
        let out = message_from_chat(input.as_bytes(), MESSAGE_ID);
        Ok(json!({"output": out.map_or(Value::Null, |b| parsed(&b))}))
    });
}

#[test]
fn chat_stream_to_messages() {
    run("chat_stream_to_messages", |input| {
        let frames: Vec<Value> = serde_json::from_str(input).expect("a stream case's input is an array of chunks");
        let mut mapper = StreamMapper::new(MESSAGE_ID.into());
        let mut out = String::new();
        let mut events = Vec::new();
        for frame in &frames {
            let data = match frame {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match mapper.map(format!("data: {data}\n\n").as_bytes()) {
                Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
                Err(Untranslatable) => {
                    events = vec![json!("untranslatable")];
                    break;
                }
            }
        }
        if events.is_empty() {
            match mapper.end() {
                Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
                Err(Untranslatable) => events = vec![json!("untranslatable")],
            }
        }
        let mut all = named_events(&out);
        all.extend(events);
        Ok(json!({"output": all}))
    });
}
