//! Gemini `generateContent` / `streamGenerateContent?alt=sse`: Converra's own calls, and what
//! forwarding reads of a translated `/v1/chat/completions` body's answer (`Api::GenerateContent`:
//! the usage of a whole answer, or of the stream event that finishes it, and the size of the
//! generated text). The key goes in `x-goog-api-key`, never in a `?key=` query string, so it
//! cannot end up in a URL that an error or a log line repeats.

use std::time::Duration;

use converra::{FinishReason, KeyStatus, MessageRole, Provider};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::{ChatEvent, ChatRequest, ChatResponse, ChatStream, ProviderFailure};
use super::forward::Frame;
use super::sse::{self, Step};
use super::{Metered, errors, secret_header};
use bytes::Bytes;
use converra_wire::openai::GeminiUsage;

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client.get(format!("{base}/v1beta/models")).header("x-goog-api-key", secret_header("", key))
}

fn body(req: &ChatRequest) -> Value {
    let contents: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({"role": if m.role == MessageRole::Assistant { "model" } else { "user" }, "parts": [{"text": m.content}]}))
        .collect();
    let mut body = json!({"contents": contents});
    if let Some(system) = &req.system {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    let mut config = serde_json::Map::new();
    if let Some(max) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    body
}

/// The model name was checked by the core to be `[A-Za-z0-9._-]`, so it is safe in the path.
fn request(
    client: &reqwest::Client,
    base: &str,
    key: &SecretString,
    req: &ChatRequest,
    stream: bool,
) -> reqwest::RequestBuilder {
    let url = if stream {
        format!("{base}/v1beta/models/{}:streamGenerateContent?alt=sse", req.model)
    } else {
        format!("{base}/v1beta/models/{}:generateContent", req.model)
    };
    client.post(url).header("x-goog-api-key", secret_header("", key)).json(&body(req))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<GeminiUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    function_call: Option<Value>,
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("STOP") | None => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some("SAFETY") | Some("RECITATION") | Some("PROHIBITED_CONTENT") | Some("BLOCKLIST") => {
            FinishReason::ContentFilter
        }
        Some(_) => FinishReason::Other,
    }
}

impl GenerateContentResponse {
    fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|c| c.parts.iter().filter_map(|p| p.text.as_deref()).collect())
            .unwrap_or_default()
    }

    fn finish(&self) -> Option<&str> {
        self.candidates.first().and_then(|c| c.finish_reason.as_deref())
    }

    fn usage(&self) -> Option<Metered> {
        self.usage_metadata.map(|u| Metered {
            input_tokens: u.prompt_token_count,
            output_tokens: u.candidates_token_count + u.thoughts_token_count,
            cache_read_tokens: u.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: u.thoughts_token_count,
        })
    }
}

pub async fn complete(
    client: &reqwest::Client,
    base: &str,
    key: &SecretString,
    req: &ChatRequest,
) -> Result<ChatResponse, ProviderFailure> {
    let response = errors::send(Provider::Gemini, request(client, base, key, req, false)).await?;
    let answer: GenerateContentResponse = errors::json(Provider::Gemini, response).await?;
    Ok(ChatResponse {
        content: answer.text(),
        finish_reason: finish_reason(answer.finish()),
        usage: answer.usage().unwrap_or_default(),
    })
}

pub async fn stream(
    client: &reqwest::Client,
    base: &str,
    key: &SecretString,
    req: &ChatRequest,
    idle: Duration,
) -> Result<ChatStream, ProviderFailure> {
    let response = errors::send(Provider::Gemini, request(client, base, key, req, true)).await?;
    let mut usage = Metered::default();
    let mut finish: Option<String> = None;
    Ok(sse::events(response, idle, move |data| {
        // Gemini has no end marker: the answer is complete when the body ends after a finishReason.
        let Some(data) = data else {
            return match finish.take() {
                Some(reason) => Step::End(ChatEvent::Done { finish_reason: finish_reason(Some(&reason)), usage }),
                None => Step::Fail(ProviderFailure(KeyStatus::Unreachable)),
            };
        };
        let Ok(chunk) = serde_json::from_str::<GenerateContentResponse>(data) else {
            return Step::Fail(ProviderFailure(KeyStatus::ProviderError));
        };
        if let Some(u) = chunk.usage() {
            usage = u;
        }
        if let Some(reason) = chunk.finish() {
            finish = Some(reason.to_owned());
        }
        let text = chunk.text();
        if text.is_empty() { Step::Skip } else { Step::Emit(ChatEvent::Delta(text)) }
    }))
}

/// The usage of a whole `generateContent` answer.
pub(super) fn whole_usage(body: &[u8]) -> Option<Metered> {
    serde_json::from_slice::<GenerateContentResponse>(body).ok()?.usage()
}

/// One event of a `streamGenerateContent` stream, as relayed, with what Converra reads of it
/// (`data` joins its data lines): the bytes generated, and the usage of the event that carries
/// the finish reason (earlier events' counts are partial).
pub(super) fn read_frame(bytes: Bytes, data: fn(&[u8]) -> Option<String>) -> Frame {
    let chunk = data(&bytes).and_then(|d| serde_json::from_str::<GenerateContentResponse>(&d).ok());
    let chunk = chunk.unwrap_or_default();
    let produced = chunk
        .candidates
        .iter()
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts)
        .map(|p| p.text.as_ref().map_or(0, String::len) + p.function_call.as_ref().map_or(0, |f| f.to_string().len()))
        .sum::<usize>() as u64;
    let usage = chunk.finish().and(chunk.usage());
    Frame { bytes, usage, usage_only: false, produced, stored_id: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_metered_from_the_event_that_finishes_it() {
        let data = |b: &[u8]| Some(String::from_utf8_lossy(&b[6..]).trim_end().to_owned());
        let partial = br#"data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":30,"totalTokenCount":30}}"#;
        let frame = read_frame(Bytes::from_static(partial), data);
        assert_eq!((frame.usage, frame.produced), (None, 3));
        let last = br#"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":5,"cachedContentTokenCount":20,"thoughtsTokenCount":7}}"#;
        let frame = read_frame(Bytes::from_static(last), data);
        let expected = Metered {
            input_tokens: 30,
            output_tokens: 12,
            cache_read_tokens: 20,
            cache_write_tokens: 0,
            reasoning_tokens: 7,
        };
        // A call counts as its JSON: `{"args":{},"name":"f"}`.
        assert_eq!((frame.usage, frame.produced), (Some(expected), 22));
        assert_eq!(whole_usage(&last[6..]), Some(expected));
    }
}
