//! Anthropic Messages: `x-api-key` + `anthropic-version`, a required `max_tokens`, the system
//! prompt as a top-level field, and typed stream events.

use std::time::Duration;

use converra::{FinishReason, KeyStatus, MessageRole};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::{ChatEvent, ChatRequest, ChatResponse, ChatStream, ProviderFailure};
use super::sse::{self, Step};
use super::{Metered, errors, secret_header};
use converra::Provider;
// Anthropic requires `max_tokens`: the same default when the caller sets none as on `/v1`.
use converra_wire::anthropic::MessagesUsage;
use converra_wire::openai::DEFAULT_MAX_TOKENS;

pub const VERSION: &str = "2023-06-01";

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client
        .get(format!("{base}/v1/models"))
        .header("x-api-key", secret_header("", key))
        .header("anthropic-version", VERSION)
}

fn body(req: &ChatRequest, stream: bool) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({"role": if m.role == MessageRole::Assistant { "assistant" } else { "user" }, "content": m.content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

fn request(
    client: &reqwest::Client,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
    stream: bool,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("x-api-key", secret_header("", key))
        .header("anthropic-version", VERSION)
        .json(&body(req, stream))
}

fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("end_turn") | Some("stop_sequence") | None => FinishReason::Stop,
        Some("max_tokens") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: MessagesUsage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

pub async fn complete(
    client: &reqwest::Client,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
) -> Result<ChatResponse, ProviderFailure> {
    let response = errors::send(Provider::Anthropic, request(client, url, key, req, false)).await?;
    let message: Message = errors::json(Provider::Anthropic, response).await?;
    let content =
        message.content.iter().filter(|b| b.kind == "text").filter_map(|b| b.text.as_deref()).collect::<String>();
    Ok(ChatResponse {
        content,
        finish_reason: finish_reason(message.stop_reason.as_deref()),
        usage: Metered::from(message.usage),
    })
}

pub async fn stream(
    client: &reqwest::Client,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
    idle: Duration,
) -> Result<ChatStream, ProviderFailure> {
    let response = errors::send(Provider::Anthropic, request(client, url, key, req, true)).await?;
    // `message_start` reports the prompt (and cache) tokens; `message_delta` the output, and
    // any count it repeats.
    let mut usage = MessagesUsage::default();
    let mut stop: Option<String> = None;
    Ok(sse::events(response, idle, move |data| {
        let Some(data) = data else { return Step::Fail(ProviderFailure(KeyStatus::Unreachable)) };
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return Step::Fail(ProviderFailure(KeyStatus::ProviderError));
        };
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                if let Ok(start) = MessagesUsage::deserialize(&event["message"]["usage"]) {
                    usage = start;
                }
                Step::Skip
            }
            "content_block_delta" => match event["delta"]["text"].as_str() {
                Some(text) if !text.is_empty() => Step::Emit(ChatEvent::Delta(text.to_owned())),
                _ => Step::Skip,
            },
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    stop = Some(reason.to_owned());
                }
                usage = usage.merged(MessagesUsage::deserialize(&event["usage"]).unwrap_or_default());
                Step::Skip
            }
            "message_stop" => Step::End(ChatEvent::Done {
                finish_reason: finish_reason(stop.as_deref()),
                usage: Metered::from(usage),
            }),
            _ => Step::Skip,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_and_writes_are_parts_of_the_input_and_a_null_count_is_none() {
        let body = r#"{"input_tokens":10,"cache_creation_input_tokens":null,"cache_read_input_tokens":2000,"output_tokens":5}"#;
        let usage: MessagesUsage = serde_json::from_str(body).unwrap();
        let expected = Metered {
            input_tokens: 2010,
            output_tokens: 5,
            cache_read_tokens: 2000,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        };
        assert_eq!(Metered::from(usage), expected);
    }
}
