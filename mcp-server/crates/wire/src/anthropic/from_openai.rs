//! An OpenAI Chat Completions answer as the Anthropic `message` a `/v1/messages` client expects:
//! the text as a text block, each tool call as a `tool_use` block with its arguments parsed as
//! the input, the finish reason as a `stop_reason`, and the usage in Anthropic's terms (its
//! `input_tokens` excludes the prompt tokens read from the cache, counted apart). The id is
//! Converra's own (`msg_…`), never the provider's. The stream's twin is `from_openai_stream.rs`.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::openai::FullUsage;
use crate::openai::chat_answer::Completion;
use crate::openai::finish::stop_reason;

/// Anthropic's usage, from OpenAI's figures. OpenAI reports no cache writes (it charges none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl From<FullUsage> for Usage {
    fn from(u: FullUsage) -> Self {
        let cached = u.cached_tokens();
        Usage {
            input_tokens: u.prompt_tokens.saturating_sub(cached),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            output_tokens: u.completion_tokens,
        }
    }
}

/// A tool call's arguments as its `input`: the JSON object OpenAI wrote (none is `{}`); `None`
/// when they are not one (cut short by the output cap).
pub(super) fn input(arguments: &str) -> Option<Box<RawValue>> {
    let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
    serde_json::from_str::<Box<RawValue>>(arguments).ok().filter(|raw| raw.get().trim_start().starts_with('{'))
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block>,
    stop_reason: &'static str,
    stop_sequence: Option<String>,
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text { text: String },
    ToolUse { id: String, name: String, input: Box<RawValue> },
}

/// The Anthropic `message` for a whole Chat Completions answer, under the id `id`; `None` when
/// the answer cannot be read as one (no choice, a tool call whose arguments are not an object).
pub fn message_from_chat(body: &[u8], id: &str) -> Option<Vec<u8>> {
    let completion: Completion = serde_json::from_slice(body).ok()?;
    let choice = completion.choices.into_iter().next()?;
    let answer = choice.message?;
    let mut content = Vec::new();
    let refused = answer.refusal.filter(|r| !r.is_empty());
    if let Some(text) = answer.content.filter(|t| !t.is_empty()) {
        content.push(Block::Text { text });
    }
    let stop_reason = match refused {
        Some(refusal) => {
            content.push(Block::Text { text: refusal });
            "refusal"
        }
        None => stop_reason(choice.finish_reason.as_deref(), answer.tool_calls.as_ref().is_some_and(|c| !c.is_empty())),
    };
    for call in answer.tool_calls.unwrap_or_default() {
        let input = input(&call.function.arguments)?;
        content.push(Block::ToolUse { id: call.id, name: call.function.name, input });
    }
    let message = Message {
        id,
        kind: "message",
        role: "assistant",
        model: completion.model.as_deref().unwrap_or_default(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: completion.usage.map(Usage::from).unwrap_or_default(),
    };
    serde_json::to_vec(&message).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_answer_becomes_a_message_with_text_and_a_tool_use_block() {
        // OpenAI's recorded answer (content beside the call), as it sends it.
        let body = br#"{"id":"chatcmpl-CFQ9","object":"chat.completion","created":1757000000,"model":"gpt-5-mini-2025-08-07",
          "choices":[{"index":0,"message":{"role":"assistant","content":"Let me look.","refusal":null,"annotations":[],
            "tool_calls":[{"id":"call_Vx9x1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"/tmp/a b.txt\"}"}}]},
            "logprobs":null,"finish_reason":"tool_calls"}],
          "usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":3}},"service_tier":"default","system_fingerprint":"fp_f33640a400"}"#;
        let out = message_from_chat(body, "msg_0193abc").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"msg_0193abc","type":"message","role":"assistant","model":"gpt-5-mini-2025-08-07","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"call_Vx9x1","name":"Read","input":{"file_path":"/tmp/a b.txt"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":8,"output_tokens":9}}"#
        );
    }

    #[test]
    fn finish_reasons_refusals_and_unreadable_answers() {
        let answer = |message: &str, finish: &str| {
            let body = format!(
                r#"{{"model":"gpt-4o","choices":[{{"index":0,"message":{message},"finish_reason":"{finish}"}}],"usage":{{"prompt_tokens":5,"completion_tokens":2}}}}"#
            );
            message_from_chat(body.as_bytes(), "msg_1")
                .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
        };
        let cut = answer(r#"{"role":"assistant","content":"Hel"}"#, "length").unwrap();
        assert_eq!(
            (cut["stop_reason"].as_str(), cut["content"][0]["text"].as_str()),
            (Some("max_tokens"), Some("Hel"))
        );
        assert_eq!(answer(r#"{"role":"assistant","content":"Hi"}"#, "stop").unwrap()["stop_reason"], "end_turn");
        let refused =
            answer(r#"{"role":"assistant","content":null,"refusal":"I can't help with that."}"#, "stop").unwrap();
        assert_eq!(refused["stop_reason"], "refusal");
        assert_eq!(refused["content"], serde_json::json!([{"type": "text", "text": "I can't help with that."}]));
        // A call whose arguments were cut short is no `tool_use` Anthropic could send.
        let partial = r#"{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}"#;
        assert_eq!(answer(partial, "length"), None);
        let empty = r#"{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":""}}]}"#;
        assert_eq!(answer(empty, "tool_calls").unwrap()["content"][0]["input"], serde_json::json!({}));
        // A named `tool_choice` ends in `stop`: still a call the client must run.
        assert_eq!(answer(empty, "stop").unwrap()["stop_reason"], "tool_use");
        assert_eq!(message_from_chat(b"{\"choices\":[]}", "msg_1"), None);
        assert_eq!(message_from_chat(b"not json", "msg_1"), None);
    }
}
