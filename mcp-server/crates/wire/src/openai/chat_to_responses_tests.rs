//! Tests of chat answers translated back into the Responses API: a whole answer's exact
//! `response` object, and recorded chunk sequences (DeepSeek's reasoning, text and tool calls)
//! mapped to the exact event sequence Codex parses.

use serde_json::{Value, json};

use super::*;
use crate::openai::chat_to_responses_stream::ResponsesStream;

const REQUEST: &str = r#"{"model":"deepseek/deepseek-reasoner","input":"Weather in Paris?","stream":true,
  "tools":[{"type":"namespace","name":"weather","description":"Weather tools.","tools":[{"type":"function","name":"get","parameters":{"type":"object"}}]}],
  "tool_choice":"auto","store":false}"#;

fn head() -> ResponseHead {
    let view = ResponsesView::parse(REQUEST.as_bytes()).unwrap();
    let names = view.to_chat(converra::Provider::Deepseek).unwrap().names;
    view.response_head("resp_T1".into(), 1_757_000_000, names)
}

/// The `response` object of these tests with `status`, `output` and `usage`.
fn response(status: &str, output: Value, usage: Value) -> Value {
    json!({"id": "resp_T1", "object": "response", "created_at": 1_757_000_000, "status": status, "error": null,
        "incomplete_details": if status == "incomplete" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": null, "max_output_tokens": null, "model": "deepseek-reasoner", "output": output,
        "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
        "store": false, "temperature": null, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [{"type": "namespace", "name": "weather", "description": "Weather tools.",
            "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}]}],
        "top_p": null, "truncation": "disabled", "usage": usage, "user": null, "metadata": {}})
}

#[test]
fn a_whole_answer_with_reasoning_text_and_a_namespaced_call_is_this_response() {
    let chat = r#"{"id":"9b1c","object":"chat.completion","created":1757000000,"model":"deepseek-reasoner",
      "choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","reasoning_content":"Use the tool.",
        "tool_calls":[{"index":0,"id":"call_0_abc","type":"function","function":{"name":"weather__get","arguments":"{\"city\":\"Paris\"}"}}]},
        "logprobs":null,"finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":8},
        "completion_tokens_details":{"reasoning_tokens":3},"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":12}}"#;
    let mut head = head();
    let body: Value = serde_json::from_slice(&response_json(chat.as_bytes(), &mut head).unwrap()).unwrap();
    let output = json!([
        {"type": "reasoning", "id": "rs_T1_0", "summary": [], "content": [{"type": "reasoning_text", "text": "Use the tool."}]},
        {"type": "message", "id": "msg_T1_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
        {"type": "function_call", "id": "fc_T1_2", "status": "completed", "arguments": "{\"city\":\"Paris\"}",
            "call_id": "call_0_abc", "name": "get", "namespace": "weather"}
    ]);
    let usage = json!({"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 29});
    assert_eq!(body, response("completed", output, usage));
}

#[test]
fn an_answer_cut_by_the_output_cap_is_incomplete_and_an_unreadable_one_is_none() {
    let chat = r#"{"model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant","content":"Par"},"finish_reason":"length"}],
      "usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6,"prompt_cache_hit_tokens":0}}"#;
    let body: Value = serde_json::from_slice(&response_json(chat.as_bytes(), &mut head()).unwrap()).unwrap();
    let output = json!([{"type": "message", "id": "msg_T1_0", "status": "incomplete", "role": "assistant",
        "content": [{"type": "output_text", "text": "Par", "annotations": [], "logprobs": []}]}]);
    let usage = json!({"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 6});
    assert_eq!(body, response("incomplete", output, usage));
    assert_eq!(response_json(b"<html>", &mut head()), None);
    assert_eq!(response_json(br#"{"choices":[]}"#, &mut head()), None);
}

/// The events of `frames` (each one server-sent event), as (type, data) with the data parsed;
/// each event's `event:` line must name its type and its sequence number must be the next one.
fn events(frames: &[&str]) -> Vec<(String, Value)> {
    let mut stream = ResponsesStream::new(head());
    let mut out = Vec::new();
    for frame in frames {
        out.extend(stream.push(frame.as_bytes()));
    }
    out.extend(stream.end());
    let text = String::from_utf8(out).unwrap();
    let events: Vec<(String, Value)> = text
        .split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(name.strip_prefix("event: "), data["type"].as_str(), "{event}");
            (name["event: ".len()..].to_owned(), data)
        })
        .collect();
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i, "{data}");
    }
    events
}

/// DeepSeek's stream of a thinking model that reasons, then calls a tool, with the usage in
/// its last chunk (as DeepSeek sends it), then `[DONE]`.
const REASONING_THEN_CALL: [&str; 7] = [
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"Use \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"the tool.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_0_abc\",\"type\":\"function\",\"function\":{\"name\":\"weather__get\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"9b1c\",\"object\":\"chat.completion.chunk\",\"created\":1757000000,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":9,\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":8},\"completion_tokens_details\":{\"reasoning_tokens\":3},\"prompt_cache_hit_tokens\":8,\"prompt_cache_miss_tokens\":12}}\n\n",
    "data: [DONE]\n\n",
];

#[test]
fn a_reasoning_model_calling_a_tool_streams_these_events() {
    let events = events(&REASONING_THEN_CALL);
    let seq = |i: usize, mut v: Value| {
        v["sequence_number"] = json!(i);
        v
    };
    let pending = response("in_progress", json!([]), Value::Null);
    let reasoning = |text: &str| {
        json!({"type": "reasoning", "id": "rs_T1_0", "summary": [],
            "content": if text.is_empty() { json!([]) } else { json!([{"type": "reasoning_text", "text": text}]) }})
    };
    let call = |status: &str, arguments: &str| {
        json!({"type": "function_call", "id": "fc_T1_1", "status": status, "arguments": arguments,
            "call_id": "call_0_abc", "name": "get", "namespace": "weather"})
    };
    let arguments = "{\"city\":\"Paris\"}";
    let usage = json!({"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 29});
    let expected = vec![
        json!({"type": "response.created", "response": pending}),
        json!({"type": "response.in_progress", "response": pending}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": reasoning("")}),
        json!({"type": "response.content_part.added", "item_id": "rs_T1_0", "output_index": 0, "content_index": 0,
            "part": {"type": "reasoning_text", "text": ""}}),
        json!({"type": "response.reasoning_text.delta", "item_id": "rs_T1_0", "output_index": 0, "content_index": 0, "delta": "Use "}),
        json!({"type": "response.reasoning_text.delta", "item_id": "rs_T1_0", "output_index": 0, "content_index": 0, "delta": "the tool."}),
        json!({"type": "response.reasoning_text.done", "item_id": "rs_T1_0", "output_index": 0, "content_index": 0, "text": "Use the tool."}),
        json!({"type": "response.content_part.done", "item_id": "rs_T1_0", "output_index": 0, "content_index": 0,
            "part": {"type": "reasoning_text", "text": "Use the tool."}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning("Use the tool.")}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": call("in_progress", "")}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_T1_1", "output_index": 1, "delta": "{\"city\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_T1_1", "output_index": 1, "delta": "\"Paris\"}"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_T1_1", "output_index": 1, "name": "get", "arguments": arguments}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": call("completed", arguments)}),
        json!({"type": "response.completed",
            "response": response("completed", json!([reasoning("Use the tool."), call("completed", arguments)]), usage)}),
    ];
    let expected: Vec<Value> = expected.into_iter().enumerate().map(|(i, v)| seq(i, v)).collect();
    assert_eq!(events.into_iter().map(|(_, data)| data).collect::<Vec<_>>(), expected);
}

#[test]
fn text_streams_as_a_message_and_the_usage_chunk_after_the_finish_still_counts() {
    // OpenAI's shape: a role chunk, text, the finish, then a usage-only chunk.
    let frames = [
        "data: {\"id\":\"c\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"deepseek-chat\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}\n\n",
        "data: [DONE]\n\n",
    ];
    let events = events(&frames);
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.incomplete",
        ]
    );
    assert_eq!(events[1].1["response"]["model"], "deepseek-chat");
    assert_eq!(
        events[4].1,
        json!({"type": "response.output_text.delta", "item_id": "msg_T1_0", "output_index": 0, "content_index": 0,
            "delta": "Hel", "logprobs": [], "sequence_number": 4})
    );
    assert_eq!(
        events[6].1,
        json!({"type": "response.output_text.done", "item_id": "msg_T1_0", "output_index": 0, "content_index": 0,
            "text": "Hello.", "logprobs": [], "sequence_number": 6})
    );
    let message = json!({"type": "message", "id": "msg_T1_0", "status": "incomplete", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello.", "annotations": [], "logprobs": []}]});
    assert_eq!(events[8].1["item"], message);
    let end = &events[9].1["response"];
    assert_eq!((end["status"].clone(), end["output"].clone()), (json!("incomplete"), json!([message])));
    assert_eq!(end["usage"]["input_tokens"], 12);
    assert_eq!(end["usage"]["output_tokens"], 5);
}

#[test]
fn a_stream_cut_before_its_finish_gets_no_end_and_parallel_calls_each_get_an_item() {
    let cut = events(&REASONING_THEN_CALL[..4]);
    assert!(cut.iter().all(|(kind, _)| kind != "response.completed"), "{cut:?}");
    assert_eq!(cut.last().unwrap().0, "response.output_item.added");
    let two = [
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"x\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    ];
    let events = events(&two);
    let end = &events.last().unwrap().1["response"];
    let calls: Vec<(Value, Value, Value)> = end["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["call_id"].clone(), c["name"].clone(), c["arguments"].clone()))
        .collect();
    assert_eq!(calls, [(json!("call_a"), json!("f"), json!("{}")), (json!("call_b"), json!("g"), json!("{\"x\":1}"))]);
    assert_eq!(end["usage"], Value::Null);
}

#[test]
fn an_error_chunk_ends_the_stream_with_an_error_event_in_converras_words() {
    let frames = [
        REASONING_THEN_CALL[1],
        "data: {\"error\":{\"message\":\"Upstream overloaded, key sk-abc123\",\"type\":\"server_error\",\"code\":null}}\n\n",
        "data: [DONE]\n\n",
    ];
    let events = events(&frames);
    let last = &events.last().unwrap().1;
    assert_eq!(
        last,
        &json!({"type": "error", "code": "provider_error", "message": "Provider error", "param": null, "sequence_number": 5})
    );
    assert!(events.iter().all(|(kind, _)| kind != "response.completed"), "{events:?}");
}
