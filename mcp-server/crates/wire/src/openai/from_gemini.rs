//! Gemini's answer to a translated request, as OpenAI's: a whole `generateContent` answer as a
//! `chat.completion` (text parts as content, thoughts left out, `functionCall` parts as
//! `tool_calls` with their args as JSON text and the id carrying the call's thought signature,
//! the finish reason, `usageMetadata` with cached content in the prompt and thoughts in the
//! output), and a `streamGenerateContent?alt=sse` stream as `chat.completion.chunk` frames
//! ([`FromGemini`]). Gemini's stream has no end event: it ends with its body, after a finish
//! reason.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::answer::{Call, Delta, Head, StreamFault, ToChunks, Usage};
use super::events;
use super::finish::finish_reason_of_gemini;
use super::to_gemini::call_id;
use converra_base::ids;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    response_id: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    /// A thought summary, never part of the answer.
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    function_call: Option<FunctionCall>,
    #[serde(default)]
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

/// Gemini's `usageMetadata` (also what `providers::gemini` meters Converra's own calls by).
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    /// A part of `promptTokenCount`.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Not a part of `candidatesTokenCount`; billed as output.
    #[serde(default)]
    pub thoughts_token_count: u64,
}

fn usage(u: Option<UsageMetadata>) -> Usage {
    let Some(u) = u else { return Usage::default() };
    let output = u.candidates_token_count + u.thoughts_token_count;
    Usage::new(u.prompt_token_count, u.cached_content_token_count, output, u.thoughts_token_count)
}

impl Part {
    /// The call this part makes, as a client sees it.
    fn call(&mut self) -> Option<Call> {
        let call = self.function_call.take()?;
        let id = call_id(call.id.unwrap_or_else(|| ids::new_id("call")), self.thought_signature.as_deref());
        let arguments = call.args.unwrap_or_else(|| Value::Object(Default::default())).to_string();
        Some(Call::new(id, call.name, arguments))
    }

    /// Its answer text (a thought is none).
    fn answer_text(&mut self) -> Option<String> {
        self.text.take().filter(|t| !self.thought && !t.is_empty())
    }
}

/// The answer's id (`responseId` when Gemini gave one).
fn answer_id(response_id: Option<String>) -> String {
    format!("chatcmpl-{}", response_id.unwrap_or_else(|| ids::new_id("gen")))
}

/// A whole `generateContent` answer as a `chat.completion` (`model` as the client named it);
/// `None` for a body that is not one.
pub fn gemini_completion(body: &[u8], model: &str, created: u64) -> Option<Vec<u8>> {
    let answer: Response = serde_json::from_slice(body).ok()?;
    let head = Head { id: answer_id(answer.response_id), created, model: model.to_owned(), usage_null: false };
    let candidate = answer.candidates.into_iter().next();
    let Some(candidate) = candidate else {
        // No candidate: the prompt itself was blocked.
        return Some(head.completion(None, Vec::new(), "content_filter", usage(answer.usage_metadata)));
    };
    let (mut text, mut calls) = (String::new(), Vec::new());
    for mut part in candidate.content.unwrap_or_default().parts {
        calls.extend(part.call());
        text.extend(part.answer_text());
    }
    let reason = finish_reason_of_gemini(candidate.finish_reason.as_deref(), !calls.is_empty());
    let content = (!text.is_empty() || calls.is_empty()).then_some(text);
    Some(head.completion(content, calls, reason, usage(answer.usage_metadata)))
}

/// A `streamGenerateContent` stream read as chunks: the first event gives the role chunk, text
/// parts content, each `functionCall` part a whole call (Gemini sends it in one piece), the
/// finish reason its chunk; the end of the body the usage chunk (if asked for) and `[DONE]`.
pub struct FromGemini {
    head: Head,
    include_usage: bool,
    started: bool,
    calls: u32,
    usage: Option<UsageMetadata>,
    finished: bool,
}

impl FromGemini {
    pub fn new(model: String, created: u64, include_usage: bool) -> Self {
        FromGemini {
            head: Head { id: String::new(), created, model, usage_null: include_usage },
            include_usage,
            started: false,
            calls: 0,
            usage: None,
            finished: false,
        }
    }

    fn read(&mut self, response: Response) -> Vec<Bytes> {
        let mut frames = Vec::new();
        if !self.started {
            self.started = true;
            self.head.id = answer_id(response.response_id);
            frames.push(self.head.chunk(Delta::role(), None));
        }
        if response.usage_metadata.is_some() {
            self.usage = response.usage_metadata;
        }
        let Some(candidate) = response.candidates.into_iter().next() else { return frames };
        for mut part in candidate.content.unwrap_or_default().parts {
            if let Some(call) = part.call() {
                let delta = Delta::call_start(self.calls, call.id, call.function.name, call.function.arguments);
                self.calls += 1;
                frames.push(self.head.chunk(delta, None));
            } else if let Some(text) = part.answer_text() {
                frames.push(self.head.chunk(Delta::text(text), None));
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finished = true;
            frames
                .push(self.head.chunk(Delta::default(), Some(finish_reason_of_gemini(Some(&reason), self.calls > 0))));
        }
        frames
    }
}

impl ToChunks for FromGemini {
    fn event(&mut self, bytes: &[u8]) -> Result<Vec<Bytes>, StreamFault> {
        let (_, data) = events::read(bytes);
        let Some(data) = data else { return Ok(Vec::new()) };
        match serde_json::from_str::<Response>(&data) {
            Ok(response) if response.error.is_some() => Err(StreamFault::Error(data)),
            Ok(response) => Ok(self.read(response)),
            Err(_) => Ok(Vec::new()),
        }
    }

    fn end(&mut self) -> Result<Vec<Bytes>, StreamFault> {
        if !self.finished {
            return Err(StreamFault::Incomplete);
        }
        Ok(self.head.end(self.include_usage.then(|| usage(self.usage))))
    }
}

#[cfg(test)]
#[path = "from_gemini_tests.rs"]
mod tests;
