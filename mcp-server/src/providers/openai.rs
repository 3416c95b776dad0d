//! OpenAI Chat Completions; DeepSeek speaks the same wire format (with `max_tokens` instead of
//! OpenAI's newer `max_completion_tokens`).

use std::time::Duration;

use converra::{KeyStatus, MessageRole, Provider, Usage};
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;

use super::chat::{ChatEvent, ChatRequest, ChatResponse, ChatStream, ProviderFailure};
use super::sse::{self, Step};
use super::{errors, secret_header};
use crate::openai_wire::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, MessageContent, Stop, StreamOptions, WireMessage,
    finish_reason_of,
};

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client.get(format!("{base}/models")).header(AUTHORIZATION, secret_header("Bearer ", key))
}

fn body(provider: Provider, req: &ChatRequest, stream: bool) -> ChatCompletionRequest {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        messages.push(WireMessage { role: "system".into(), content: Some(MessageContent::Text(system.clone())) });
    }
    messages.extend(req.messages.iter().map(|m| {
        WireMessage {
            role: match m.role {
                MessageRole::System => "system",
                MessageRole::User => "user",
                MessageRole::Assistant => "assistant",
            }
            .into(),
            content: Some(MessageContent::Text(m.content.clone())),
        }
    }));
    let (max_tokens, max_completion_tokens) =
        if provider == Provider::Openai { (None, req.max_tokens) } else { (req.max_tokens, None) };
    ChatCompletionRequest {
        model: req.model.clone(),
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        stop: (!req.stop.is_empty()).then(|| Stop::Many(req.stop.clone())),
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions { include_usage: true }),
        n: None,
    }
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
    let answer: ChatCompletion = errors::json(provider, response).await?;
    let choice = answer.choices.into_iter().next();
    let usage = answer.usage.unwrap_or_default();
    Ok(ChatResponse {
        finish_reason: finish_reason_of(choice.as_ref().and_then(|c| c.finish_reason.as_deref())),
        content: choice.and_then(|c| c.message.content).unwrap_or_default(),
        usage: Usage { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
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
    let mut usage = Usage::default();
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
        let Ok(chunk) = serde_json::from_str::<ChatCompletionChunk>(data) else {
            return Step::Fail(ProviderFailure(KeyStatus::ProviderError));
        };
        if let Some(u) = chunk.usage {
            usage = Usage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens };
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
