//! Fixture-driven tests of every translation this module makes, one folder of cases per
//! direction under `fixtures/`: each case a JSON file `{"about", "input", "expected"}` (or
//! `"expected_error"` for a refusal, `"expected_dropped"` for the advisory fields a request
//! leaves out and names, `"request"` for the client request an answer is to), the expected
//! output written from the provider's API reference. A case whose `known_defect` names how the
//! code differs from the documentation is reported, not failed, until the code is fixed (then
//! the mark must go). A folder without a case fails: a suite that cannot fail proves nothing.

use std::path::PathBuf;

use converra::Provider;
use serde_json::{Value, json};

use crate::fixtures;
use crate::openai::{
    ChatView, DEFAULT_MAX_TOKENS, FromAnthropic, FromGemini, ResponsesStream, ResponsesView, ToChunks,
    anthropic_completion, gemini_completion, response_json, to_anthropic, to_gemini,
};
use converra_base::Error;

/// The `created` every translated chat answer carries here (the core stamps the clock's).
const CREATED: u64 = 1_757_000_000;

/// The id and time a translated Responses answer carries here (the core makes up its own).
const RESPONSE_ID: &str = "resp_fixture";

/// What a translation produced: a body (or events), and the advisory fields it left out.
struct Produced {
    value: Value,
    dropped: Vec<String>,
}

impl Produced {
    fn of(value: Value) -> Self {
        Produced { value, dropped: Vec::new() }
    }
}

/// Runs every case of `fixtures/<direction>` through `translate` (the case's `input` and its
/// optional `request`).
fn run(folder: PathBuf, translate: impl Fn(&str, &Value) -> Result<Produced, Error>) {
    fixtures::run(folder, |case| {
        let request = case.case.get("request").cloned().unwrap_or(Value::Null);
        let got = match translate(case.input.get(), &request) {
            Ok(p) => json!({"output": p.value, "dropped": p.dropped}),
            Err(e) => json!({"error": fixtures::error_text(&e)}),
        };
        (got, fixtures::expected(case, &[("dropped", "expected_dropped", json!([]))]))
    });
}

fn folder(direction: &str) -> PathBuf {
    fixtures::folder("openai", direction)
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value writes")
}

fn parsed(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// One SSE event as the provider writes it: `{"event": name, "data": {…}}` with its name, a
/// string as raw data (`[DONE]`), any other value as its JSON data.
fn sse(event: &Value, line_end: &str) -> Vec<u8> {
    let data = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (event.get("event").and_then(Value::as_str), event.get("data")) {
        (Some(name), Some(d)) => format!("event: {name}{line_end}data: {}{line_end}{line_end}", data(d)),
        _ => format!("data: {}{line_end}{line_end}", data(event)),
    }
    .into_bytes()
}

/// Chunk frames (`data: {…}`) as their data: each chunk's JSON, `[DONE]` as a string.
fn frames_data(frames: &[bytes::Bytes]) -> Vec<Value> {
    frames
        .iter()
        .map(|frame| {
            let text = String::from_utf8_lossy(frame);
            let data = text.strip_prefix("data: ").unwrap_or(&text).trim_end();
            serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()))
        })
        .collect()
}

/// Named events (`event: x` / `data: {…}`) as `{"event", "data"}` values.
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

fn events_of(input: &str) -> Vec<Value> {
    serde_json::from_str(input).expect("a stream case's input is an array of events")
}

/// The chat request a chat answer is to: the model the client named, whether it asked for the
/// usage chunk, and whether `json_object` output came through the forced tool.
fn chat_request(request: &Value, model: &str) -> (String, bool, bool) {
    let model = request["model"].as_str().unwrap_or(model).to_owned();
    let include_usage = request["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let json_tool = request["response_format"]["type"] == "json_object";
    (model, include_usage, json_tool)
}

fn chat_to(provider: Provider, input: &str) -> Result<Produced, Error> {
    let view = ChatView::parse(input.as_bytes())?;
    let chat = view.translated(provider)?;
    let out = match provider {
        Provider::Anthropic => {
            let model = view.model.strip_prefix("anthropic/").unwrap_or(&view.model);
            to_anthropic(&chat, model, chat.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS))?
        }
        _ => to_gemini(&chat, chat.max_tokens)?,
    };
    Ok(Produced { value: parsed(&out), dropped: chat.dropped })
}

#[test]
fn chat_to_anthropic() {
    run(folder("chat_to_anthropic"), |input, _| chat_to(Provider::Anthropic, input));
}

#[test]
fn chat_to_gemini() {
    run(folder("chat_to_gemini"), |input, _| chat_to(Provider::Gemini, input));
}

#[test]
fn anthropic_to_chat() {
    run(folder("anthropic_to_chat"), |input, request| {
        let (model, _, json_tool) = chat_request(request, "claude-sonnet-4-5");
        let out = anthropic_completion(input.as_bytes(), &model, CREATED, json_tool);
        Ok(Produced::of(out.map_or(Value::Null, |b| parsed(&b))))
    });
}

#[test]
fn anthropic_stream_to_chat() {
    run(folder("anthropic_stream_to_chat"), |input, request| {
        let (model, include_usage, json_tool) = chat_request(request, "claude-sonnet-4-5");
        let mut mapper = FromAnthropic::new(model, CREATED, json_tool, include_usage);
        Ok(Produced::of(Value::Array(stream_chunks(&mut mapper, &events_of(input), "\n"))))
    });
}

#[test]
fn gemini_to_chat() {
    run(folder("gemini_to_chat"), |input, request| {
        let (model, _, _) = chat_request(request, "gemini-2.5-flash");
        let out = gemini_completion(input.as_bytes(), &model, CREATED);
        Ok(Produced::of(out.map_or(Value::Null, |b| parsed(&b))))
    });
}

#[test]
fn gemini_stream_to_chat() {
    run(folder("gemini_stream_to_chat"), |input, request| {
        let (model, include_usage, _) = chat_request(request, "gemini-2.5-flash");
        let mut mapper = FromGemini::new(model, CREATED, include_usage);
        Ok(Produced::of(Value::Array(stream_chunks(&mut mapper, &events_of(input), "\r\n"))))
    });
}

/// Every chunk a provider's events become, then the end of the stream; a fault as `"fault: …"`.
fn stream_chunks(mapper: &mut dyn ToChunks, events: &[Value], line_end: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for event in events {
        match mapper.event(&sse(event, line_end)) {
            Ok(frames) => out.extend(frames_data(&frames)),
            Err(fault) => {
                out.push(json!(format!("fault: {fault:?}")));
                return out;
            }
        }
    }
    match mapper.end() {
        Ok(frames) => out.extend(frames_data(&frames)),
        Err(fault) => out.push(json!(format!("fault: {fault:?}"))),
    }
    out
}

#[test]
fn responses_to_chat() {
    run(folder("responses_to_chat"), |input, _| {
        let t = ResponsesView::parse(input.as_bytes())?.to_chat(Provider::Deepseek)?;
        Ok(Produced { value: parsed(&t.body), dropped: t.dropped })
    });
}

/// The head of the Responses answer to `request` (as the core makes it, under a fixed id).
fn response_head(request: &Value) -> Result<crate::openai::ResponseHead, Error> {
    let body = bytes(request);
    let view = ResponsesView::parse(&body)?;
    let names = view.to_chat(Provider::Deepseek)?.names;
    Ok(view.response_head(RESPONSE_ID.into(), CREATED, names))
}

#[test]
fn chat_to_responses() {
    run(folder("chat_to_responses"), |input, request| {
        let mut head = response_head(request)?;
        Ok(Produced::of(response_json(input.as_bytes(), &mut head).map_or(Value::Null, |b| parsed(&b))))
    });
}

#[test]
fn chat_stream_to_responses() {
    run(folder("chat_stream_to_responses"), |input, request| {
        let mut stream = ResponsesStream::new(response_head(request)?);
        let mut out = Vec::new();
        for event in &events_of(input) {
            out.extend(stream.push(&sse(event, "\n")));
        }
        out.extend(stream.end());
        Ok(Produced::of(Value::Array(named_events(&String::from_utf8_lossy(&out)))))
    });
}
