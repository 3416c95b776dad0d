//! Fixture-driven tests of the `/v1/messages` translation for an OpenAI model, one folder of
//! cases per direction under `fixtures/`: each case a JSON file `{"about", "input", "expected"}`
//! (or `"expected_error"` for a refusal; `"expected_dropped"` for the advisory fields a request
//! leaves out and names; `"expected_end_user"` for the end-user id handed to the core), the
//! expected output written from the providers' API references. A case whose `known_defect` says
//! how the code differs from the documentation is reported, not failed, until the code is fixed
//! (then the mark must go). A folder without a case fails: a suite that cannot fail proves
//! nothing. The runner is `fixtures.rs`, shared with the OpenAI wire's suite.

use converra::Provider;
use serde_json::{Value, json};

use super::{MessagesView, StreamMapper, Untranslatable, message_from_chat, to_chat};
use crate::fixtures;
use converra_base::Error;

/// The message id every translated answer carries here (the core makes up its own `msg_…`).
const MESSAGE_ID: &str = "msg_fixture";

/// Runs every case of `fixtures/<direction>` through `translate` (the case's `input`), which
/// answers what the case compares: `output`, and for a request `dropped` and `end_user`.
fn run(direction: &str, translate: impl Fn(&str) -> Result<Value, Error>) {
    fixtures::run(fixtures::folder("anthropic", direction), |case| {
        let got = translate(case.input.get()).unwrap_or_else(|e| json!({"error": fixtures::error_text(&e)}));
        let extra = if got.get("dropped").is_some() {
            vec![("dropped", "expected_dropped", json!([])), ("end_user", "expected_end_user", Value::Null)]
        } else {
            Vec::new()
        };
        (got, fixtures::expected(case, &extra))
    });
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
