//! OpenAI Chat Completions; DeepSeek speaks the same wire format (with `max_tokens` instead of
//! OpenAI's newer `max_completion_tokens`).

use std::borrow::Cow;
use std::time::Duration;

use converra::{KeyStatus, MessageRole, Provider};
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::chat::{ChatEvent, ChatRequest, ChatResponse, ChatStream, ProviderFailure};
use super::sse::{self, Step};
use super::{Metered, errors, secret_header};
use converra_wire::openai::{ChunkChoice, FullUsage, StreamOptions, finish_reason_of};

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client.get(format!("{base}/models")).header(AUTHORIZATION, secret_header("Bearer ", key))
}

/// The request body as OpenAI reads it, serialized straight from our request: nothing is
/// copied into an intermediate tree first. Only these fields are ever sent.
#[derive(Serialize)]
struct Outbound<'a> {
    model: &'a str,
    messages: Turns<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

/// The system instructions (one message), then the turns, oldest first.
struct Turns<'a>(&'a ChatRequest);

#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: &'a str,
}

impl Serialize for Turns<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let system = self.0.system.as_deref().map(|content| Turn { role: "system", content });
        let turns = self.0.messages.iter().map(|m| Turn {
            role: match m.role {
                MessageRole::System => "system",
                MessageRole::User => "user",
                MessageRole::Assistant => "assistant",
            },
            content: &m.content,
        });
        serializer.collect_seq(system.into_iter().chain(turns))
    }
}

fn body(provider: Provider, req: &ChatRequest, stream: bool) -> Outbound<'_> {
    let (max_tokens, max_completion_tokens) =
        if provider == Provider::Openai { (None, req.max_tokens) } else { (req.max_tokens, None) };
    Outbound {
        model: &req.model,
        messages: Turns(req),
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        stop: &req.stop,
        stream,
        stream_options: stream.then_some(StreamOptions { include_usage: true }),
    }
}

/// What Converra reads of a whole answer: the first choice's text and why it ended, and the
/// usage (with its cached and reasoning tokens). Everything else (ids, fingerprints,
/// log-probabilities) is skipped without being built; the text is borrowed from the body unless it holds escapes.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    choices: Vec<AnswerChoice<'a>>,
    #[serde(default)]
    usage: Option<FullUsage>,
}

/// What Converra reads of a stream's chunk: its choices, and the usage of the last one.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<FullUsage>,
}

#[derive(Deserialize)]
struct AnswerChoice<'a> {
    #[serde(default, borrow)]
    message: Option<AnswerMessage<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AnswerMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

fn request(
    client: &reqwest::Client,
    provider: Provider,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
    stream: bool,
) -> reqwest::RequestBuilder {
    client.post(url).header(AUTHORIZATION, secret_header("Bearer ", key)).json(&body(provider, req, stream))
}

pub async fn complete(
    client: &reqwest::Client,
    provider: Provider,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
) -> Result<ChatResponse, ProviderFailure> {
    let response = errors::send(provider, request(client, provider, url, key, req, false)).await?;
    let bytes = errors::body(response).await?;
    let answer: Answer = errors::parse(provider, bytes.as_ref())?;
    let choice = answer.choices.into_iter().next();
    let usage = answer.usage.map(Metered::from).unwrap_or_default();
    Ok(ChatResponse {
        finish_reason: finish_reason_of(choice.as_ref().and_then(|c| c.finish_reason.as_deref())),
        content: choice.and_then(|c| c.message?.content).map(Cow::into_owned).unwrap_or_default(),
        usage,
    })
}

pub async fn stream(
    client: &reqwest::Client,
    provider: Provider,
    url: reqwest::Url,
    key: &SecretString,
    req: &ChatRequest,
    idle: Duration,
) -> Result<ChatStream, ProviderFailure> {
    let response = errors::send(provider, request(client, provider, url, key, req, true)).await?;
    let mut finish: Option<String> = None;
    let mut usage = Metered::default();
    let stream = sse::events(response, idle, move |data| {
        let Some(data) = data else {
            // Some compatible servers close without `[DONE]`: fine once the answer finished.
            return match finish.take() {
                Some(reason) => Step::End(ChatEvent::Done { finish_reason: finish_reason_of(Some(&reason)), usage }),
                None => Step::Fail(ProviderFailure(KeyStatus::Unreachable)),
            };
        };
        if data == "[DONE]" {
            return Step::End(ChatEvent::Done { finish_reason: finish_reason_of(finish.as_deref()), usage });
        }
        let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
            return Step::Fail(ProviderFailure(KeyStatus::ProviderError));
        };
        if let Some(u) = chunk.usage {
            usage = u.into();
        }
        let mut text = String::new();
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                finish = Some(reason);
            }
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
        if text.is_empty() { Step::Skip } else { Step::Emit(ChatEvent::Delta(text)) }
    });
    Ok(stream)
}
