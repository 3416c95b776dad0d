//! OpenAI's Responses API as a wiremock stand-in: a whole `response` object and the full event
//! sequence of a stream as OpenAI writes it (and as Codex's parser needs it: `response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta`…, the `.done` events, then `response.completed` — or
//! `response.incomplete` / `response.failed` — with the usage), a function call's events, and
//! the mounts and records of `POST /v1/responses`, `/v1/responses/compact` and `/v1/embeddings`.

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::providers::{MockProviders, auth_header};
use converra::Provider;

/// The usage every recorded answer reports: 30 in (12 cached), 9 out (4 reasoning).
pub fn responses_usage() -> Value {
    json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 12}, "output_tokens": 9,
           "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 39})
}

/// A `response` object: `id`, `status`, its output items, and (when done) the usage.
fn response(id: &str, model: &str, status: &str, output: Value, usage: Value) -> Value {
    json!({"id": id, "object": "response", "created_at": 1757000000, "status": status, "error": null,
           "incomplete_details": if status == "incomplete" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
           "instructions": null, "max_output_tokens": null, "model": model, "output": output,
           "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
           "store": true, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
           "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": null, "metadata": {}})
}

/// A message output item saying `text`.
fn message_item(text: &str, status: &str) -> Value {
    json!({"id": "msg_67ccd3acc8d48190a77525dc6de64b4104becbd8f1c3c7e1", "type": "message", "status": status,
           "role": "assistant", "content": if status == "completed" {
               json!([{"type": "output_text", "text": text, "annotations": []}]) } else { json!([]) }})
}

/// OpenAI's whole answer saying `text`, as the exact text it sends (for byte comparisons).
pub fn responses_body(id: &str, model: &str, text: &str) -> String {
    serde_json::to_string_pretty(&response(
        id,
        model,
        "completed",
        json!([message_item(text, "completed")]),
        responses_usage(),
    ))
    .expect("JSON")
}

fn event(kind: &str, mut data: Value, sequence: &mut u64) -> String {
    data["type"] = json!(kind);
    data["sequence_number"] = json!(*sequence);
    *sequence += 1;
    format!("event: {kind}\ndata: {data}\n\n")
}

/// The stream of a response saying `parts` joined, ending with `end` (`response.completed`,
/// `response.incomplete` or `response.failed`) which carries the usage.
pub fn responses_events(id: &str, model: &str, parts: &[&str], end: &str) -> Vec<String> {
    let mut n = 0;
    let text: String = parts.concat();
    let pending = response(id, model, "in_progress", json!([]), Value::Null);
    let item_id = message_item("", "in_progress")["id"].clone();
    let mut out = vec![
        event("response.created", json!({"response": pending}), &mut n),
        event("response.in_progress", json!({"response": pending}), &mut n),
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": message_item("", "in_progress")}),
            &mut n,
        ),
        event(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
            &mut n,
        ),
    ];
    for part in parts {
        out.push(event(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": part, "logprobs": []}),
            &mut n,
        ));
    }
    out.push(event(
        "response.output_text.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        &mut n,
    ));
    out.push(event(
        "response.content_part.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": text, "annotations": []}}),
        &mut n,
    ));
    out.push(event(
        "response.output_item.done",
        json!({"output_index": 0, "item": message_item(&text, "completed")}),
        &mut n,
    ));
    let status = end.trim_start_matches("response.");
    out.push(event(
        end,
        json!({"response": response(id, model, status, json!([message_item(&text, "completed")]), responses_usage())}),
        &mut n,
    ));
    out
}

/// The stream of a response that calls the function `name` with `arguments` (a JSON text).
pub fn responses_call_events(id: &str, model: &str, call_id: &str, name: &str, arguments: &str) -> Vec<String> {
    let mut n = 0;
    let pending = response(id, model, "in_progress", json!([]), Value::Null);
    let item = |status: &str, args: &str| {
        json!({"id": "fc_67ccf18f64008190a39b619f4c8455ef087f80b4c5b2a8ea", "type": "function_call", "status": status,
               "arguments": args, "call_id": call_id, "name": name})
    };
    vec![
        event("response.created", json!({"response": pending}), &mut n),
        event("response.in_progress", json!({"response": pending}), &mut n),
        event("response.output_item.added", json!({"output_index": 0, "item": item("in_progress", "")}), &mut n),
        event(
            "response.function_call_arguments.delta",
            json!({"item_id": item("", "")["id"], "output_index": 0, "delta": arguments}),
            &mut n,
        ),
        event(
            "response.function_call_arguments.done",
            json!({"item_id": item("", "")["id"], "output_index": 0, "arguments": arguments}),
            &mut n,
        ),
        event("response.output_item.done", json!({"output_index": 0, "item": item("completed", arguments)}), &mut n),
        event(
            "response.completed",
            json!({"response": response(id, model, "completed", json!([item("completed", arguments)]), responses_usage())}),
            &mut n,
        ),
    ]
}

/// A stream answer of these events.
pub fn sse(events: &[String]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(events.concat(), "text/event-stream")
}

impl MockProviders {
    /// `POST <OpenAI>/v1/<endpoint>` (`responses`, `responses/compact`, `embeddings`) with `key`
    /// answers `template`; with `stream`, only bodies asking for a stream match (and take
    /// precedence).
    pub async fn answer_openai(&self, endpoint: &str, key: &str, stream: bool, template: ResponseTemplate) {
        let (name, value) = auth_header(Provider::Openai, key);
        let mock = Mock::given(method("POST")).and(path(format!("/v1/{endpoint}"))).and(header(name, value.as_str()));
        let (mock, priority) =
            if stream { (mock.and(body_partial_json(json!({"stream": true}))), 1) } else { (mock, 2) };
        mock.respond_with(template).with_priority(priority).mount(&self.openai).await;
    }

    /// The bodies OpenAI received at `/v1/<endpoint>`, byte for byte, with the `Authorization`
    /// header each came with.
    pub async fn openai_received(&self, endpoint: &str) -> Vec<(String, String)> {
        let wanted = format!("/v1/{endpoint}");
        self.openai
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == wanted)
            .map(|r| {
                let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                (String::from_utf8(r.body).expect("UTF-8"), auth)
            })
            .collect()
    }
}
