//! `/v1/messages` on an OpenAI model (translated to OpenAI's Chat Completions). The request
//! becomes a Chat Completions body (`converra_wire::anthropic::to_chat`: what is not carried refused by
//! name, the advisory fields left out and named) and goes through the one forwarding path
//! (`forwarding.rs`: the resolved OpenAI key, its health, the allowance, usage from OpenAI's own
//! figures with cache reads and reasoning, the key source), asking for the usage chunk on a
//! stream. The answer comes back as an Anthropic `message`, or as Anthropic's events, frame by
//! frame (`converra_wire::anthropic::StreamMapper`), under a message id of Converra's (`msg_…`). The
//! fields left out are named in `X-Converra-Dropped-Fields` beside the answer's headers; the
//! `anthropic-beta` list is one of them (each beta only opens fields, and those are judged by
//! name themselves).

use std::sync::Arc;

use bytes::Bytes;
use converra::{KeySource, KeySourceInfo, KeyStatus, Provider};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use super::Route;
use crate::agent::{member_hash, prompt_tokens};
use crate::forwarding::{Outbound, Relayed};
use crate::ids::{hex, new_id};
use crate::{Caller, Core, Error, InternalError, Result};
use converra_providers::Api;
use converra_wire::anthropic::{MessagesView, StreamMapper, ToOpenAi, message_from_chat, to_chat};

const DROPPED: HeaderName = HeaderName::from_static("x-converra-dropped-fields");

impl Core {
    /// Sends `view` to OpenAI as Chat Completions and answers in Anthropic's shape;
    /// `beta`: whether the client sent `anthropic-beta` (not carried, named).
    pub(super) async fn translated_messages(
        self: &Arc<Self>,
        caller: &Caller,
        view: &MessagesView<'_>,
        route: Route,
        beta: bool,
    ) -> Result<Relayed> {
        let Route { provider, model, resolved, project_id, .. } = route;
        let ToOpenAi { mut body, mut dropped, end_user } = to_chat(view, model.clone(), provider)?;
        if beta {
            dropped.push("anthropic-beta");
        }
        let mut cap = None;
        if resolved.source == KeySource::Platform {
            // The allowance pays for at most this much output.
            let limits = self.providers.allowance();
            let clamped =
                body.max_completion_tokens.unwrap_or(limits.default_output_tokens).min(limits.max_output_tokens);
            body.max_completion_tokens = Some(clamped);
            cap = Some(clamped);
        }
        // OpenAI's abuse monitoring asks for an end user's id: the client's, hashed (it may name
        // a person or a device), or the member's.
        body.safety_identifier = Some(match end_user {
            Some(user) => end_user_hash(caller, &user),
            None => member_hash(caller),
        });
        let out = Outbound {
            provider,
            api: Api::ChatCompletions,
            model,
            resolved,
            project_id,
            body: serde_json::to_vec(&body)
                .map_err(|e| Error::Internal(InternalError::Other(format!("translated body: {e}"))))?,
            headers: Vec::new(),
            cap,
            input_estimate: prompt_tokens(view.prompt_size()),
            stream: view.stream,
            relay_usage_only: true,
            charges: Vec::new(),
        };
        let id = new_id("msg");
        Ok(match self.relay(caller, out).await? {
            Relayed::Whole { body, headers, key_source } => {
                let Some(message) = message_from_chat(&body, &id) else {
                    return Err(untranslatable(provider, &key_source));
                };
                Relayed::Whole { body: message.into(), headers: answer_headers(headers, &dropped), key_source }
            }
            Relayed::Stream { events, headers, key_source } => {
                let events = anthropic_events(events, StreamMapper::new(id), provider, key_source.clone());
                Relayed::Stream { events, headers: answer_headers(headers, &dropped), key_source }
            }
        })
    }
}

/// OpenAI's events mapped to Anthropic's as they come; an event that maps to nothing is not
/// sent (it would reset the keep-alive timer for nothing), and the close follows the last.
fn anthropic_events(
    events: BoxStream<'static, Result<Bytes>>,
    mapper: StreamMapper,
    provider: Provider,
    key_source: KeySourceInfo,
) -> BoxStream<'static, Result<Bytes>> {
    futures_util::stream::unfold(Some((events, mapper)), move |state| {
        let key_source = key_source.clone();
        async move {
            let (mut events, mut mapper) = state?;
            loop {
                let mapped = match events.next().await {
                    Some(Ok(frame)) => mapper.map(&frame),
                    // The forwarding path ends a failed stream with its error.
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => {
                        return match mapper.end() {
                            Ok(out) if out.is_empty() => None,
                            Ok(out) => Some((Ok(Bytes::from(out)), None)),
                            Err(_) => Some((Err(untranslatable(provider, &key_source)), None)),
                        };
                    }
                };
                match mapped {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) => return Some((Ok(Bytes::from(out)), Some((events, mapper)))),
                    Err(_) => return Some((Err(untranslatable(provider, &key_source)), None)),
                }
            }
        }
    })
    .boxed()
}

/// An answer OpenAI sent that is no Messages answer (no choice, an error mid-stream, a stream
/// cut before its end): a provider error, said of the key that was used.
fn untranslatable(provider: Provider, key_source: &KeySourceInfo) -> Error {
    tracing::warn!(provider = %provider, "a provider answer could not be translated to the Messages API");
    Error::Provider {
        provider,
        status: KeyStatus::ProviderError,
        health: None,
        key_source: Some(Box::new(key_source.clone())),
        answer: None,
    }
}

/// OpenAI's headers a client may see, its request id under Anthropic's name (`request-id`, what
/// the Anthropic SDKs read), and the fields left out.
fn answer_headers(mut headers: HeaderMap, dropped: &[&str]) -> HeaderMap {
    if let Some(id) = headers.remove("x-request-id") {
        headers.insert(HeaderName::from_static("request-id"), id);
    }
    if !dropped.is_empty()
        && let Ok(value) = HeaderValue::try_from(dropped.join(", "))
    {
        headers.insert(DROPPED, value);
    }
    headers
}

/// The end user's id OpenAI gets for the client's `metadata.user_id`: stable per user and
/// organization, naming neither (OpenAI asks for a hash).
fn end_user_hash(caller: &Caller, user: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(format!("converra-end-user:{}:{user}", caller.org_id)).into();
    hex(&digest[..16])
}
