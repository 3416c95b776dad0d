//! Tests of `from_openai_stream.rs`: recorded OpenAI chunk sequences and the exact Anthropic
//! events each frame becomes.

use super::*;

const HEAD: &str = r#""id":"chatcmpl-CFQ9stream","object":"chat.completion.chunk","created":1757000001,"model":"gpt-5-mini-2025-08-07","service_tier":"default","system_fingerprint":"fp_f33640a400""#;

/// One chunk event as OpenAI writes it when usage was asked for (`"usage":null` until the last).
fn chunk(choice: &str) -> String {
    format!("data: {{{HEAD},\"choices\":[{choice}],\"usage\":null}}\n\n")
}

fn usage_chunk() -> String {
    format!(
        "data: {{{HEAD},\"choices\":[],\"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":9,\"total_tokens\":29,\"prompt_tokens_details\":{{\"cached_tokens\":8,\"audio_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":3,\"audio_tokens\":0}}}}}}\n\n"
    )
}

fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Each frame through the mapper, then the end: what each frame made, as text.
fn run(frames: &[String]) -> Vec<String> {
    let mut mapper = StreamMapper::new("msg_0193conv".into());
    let mut out: Vec<String> =
        frames.iter().map(|f| String::from_utf8(mapper.map(f.as_bytes()).unwrap()).unwrap()).collect();
    out.push(String::from_utf8(mapper.end().unwrap()).unwrap());
    out
}

const START: &str = r#"{"type":"message_start","message":{"id":"msg_0193conv","type":"message","role":"assistant","content":[],"model":"gpt-5-mini-2025-08-07","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#;
const USAGE: &str =
    r#""usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":8,"output_tokens":9}"#;

#[test]
fn a_tool_call_split_across_chunks_becomes_one_tool_use_block_with_its_json_fragments() {
    // OpenAI's recorded stream of one call (the kit's `openai_tool_call_events`).
    let frames = vec![
        chunk(
            r#"{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Vx9x1","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}"#),
        usage_chunk(),
        "data: [DONE]\n\n".to_owned(),
    ];
    let out = run(&frames);
    let expected = vec![
        [
            event("message_start", START),
            event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_Vx9x1","name":"get_weather","input":{}}}"#),
            event("ping", r#"{"type":"ping"}"#),
        ]
        .concat(),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#),
        event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        // The usage-only chunk makes nothing yet: it goes into `message_delta`.
        String::new(),
        [
            event("message_delta", &format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"tool_use","stop_sequence":null}},{USAGE}}}"#)),
            event("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat(),
        String::new(),
    ];
    assert_eq!(out, expected);
}

#[test]
fn text_then_two_parallel_calls_each_get_their_own_block_in_order() {
    let frames = vec![
        chunk(r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}"#),
        chunk(r#"{"index":0,"delta":{"content":"Checking"},"finish_reason":null}"#),
        chunk(r#"{"index":0,"delta":{"content":" both."},"finish_reason":null}"#),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a\"}"}}]},"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"Read","arguments":""}}]},"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"file_path\":\"b\"}"}}]},"finish_reason":null}"#,
        ),
        chunk(r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        usage_chunk(),
        "data: [DONE]\n\n".to_owned(),
    ];
    let all = run(&frames).concat();
    let expected = [
        event("message_start", START),
        event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        event("ping", r#"{"type":"ping"}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" both."}}"#),
        event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        event("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"Read","input":{}}}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\":\"a\"}"}}"#),
        event("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        event("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_2","name":"Read","input":{}}}"#),
        event("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\":\"b\"}"}}"#),
        event("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        event("message_delta", &format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"tool_use","stop_sequence":null}},{USAGE}}}"#)),
        event("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .concat();
    assert_eq!(all, expected);
}

#[test]
fn the_end_closes_a_stream_without_done_and_a_cut_or_failing_stream_is_untranslatable() {
    // No `[DONE]` (the connection closed after the usage): the end writes the close.
    let frames = vec![chunk(r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}"#), usage_chunk()];
    let out = run(&frames);
    assert!(out[0].ends_with(&event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#)), "{}", out[0]);
    assert!(out[2].contains(r#""stop_reason":"max_tokens""#), "{}", out[2]);
    assert!(out[2].ends_with(&event("message_stop", r#"{"type":"message_stop"}"#)));

    // A named `tool_choice` ends its call in `stop`: still `tool_use`.
    let named = vec![
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}"#,
        ),
        chunk(r#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
        "data: [DONE]\n\n".to_owned(),
    ];
    assert!(run(&named).concat().contains(r#""stop_reason":"tool_use""#));

    // Cut before the finish.
    let mut mapper = StreamMapper::new("msg_1".into());
    mapper.map(chunk(r#"{"index":0,"delta":{"content":"Hel"},"finish_reason":null}"#).as_bytes()).unwrap();
    assert_eq!(mapper.end(), Err(Untranslatable));
    // An error chunk mid-stream.
    let mut mapper = StreamMapper::new("msg_1".into());
    let error = b"data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    assert_eq!(mapper.map(error), Err(Untranslatable));
    // Arguments for a call that is not the open one.
    let mut mapper = StreamMapper::new("msg_1".into());
    let stray =
        chunk(r#"{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{}"}}]},"finish_reason":null}"#);
    assert_eq!(mapper.map(stray.as_bytes()), Err(Untranslatable));
    // A comment or keep-alive makes nothing.
    assert_eq!(StreamMapper::new("msg_1".into()).map(b": keep-alive\n\n"), Ok(Vec::new()));
}

#[test]
fn a_refusal_streams_as_text_and_stops_as_a_refusal() {
    let frames = vec![
        chunk(r#"{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"finish_reason":null}"#),
        chunk(r#"{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":null}"#),
        chunk(r#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
        "data: [DONE]\n\n".to_owned(),
    ];
    let all = run(&frames).concat();
    assert!(all.contains(r#"{"type":"text_delta","text":"I can't help with that."}"#), "{all}");
    assert!(all.contains(r#""stop_reason":"refusal""#), "{all}");
}
