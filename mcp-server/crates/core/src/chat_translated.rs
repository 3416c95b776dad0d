//! `POST /v1/chat/completions` for a model of another wire, translated: the client's body read
//! and refused by name where it cannot be carried (`converra_wire::openai::translate`), rebuilt as an Anthropic Messages or Gemini `generateContent`
//! body, and sent through the one forwarding path (`forwarding.rs`), so resolution, key
//! health, the allowance, usage in the provider's own figures and audit hold exactly as on a
//! forwarded call. The answer comes back in OpenAI's shapes: a whole `chat.completion`, or the
//! provider's events turned into `chat.completion.chunk` frames one by one, a provider's error
//! event ending the stream as an error. No tone is applied.

use std::sync::Arc;

use bytes::Bytes;
use converra::{KeySource, KeyStatus, Provider};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};

use super::admission::Admitted;
use super::agent::{ChatAnswer, prompt_tokens};
use super::completions::Prepared;
use super::forwarding::{Outbound, Relayed, prepared};
use super::messages::DEFAULT_ANTHROPIC_VERSION;
use super::vault::ResolvedKey;
use super::{Caller, Core, Result, ids};
use converra_providers::{Api, ProviderFailure, classify_stream_error};
use converra_wire::openai::{
    ChatView, DEFAULT_MAX_TOKENS, Format, FromAnthropic, FromGemini, StreamFault, ToChunks, anthropic_completion,
    gemini_completion, to_anthropic, to_gemini,
};

impl Core {
    /// Translates `view` for the admitted provider (Anthropic or Gemini), sends it with the
    /// resolved key and answers in OpenAI's shapes.
    pub(super) async fn translated_chat(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ChatView<'_>,
        admitted: Admitted,
    ) -> Result<ChatAnswer> {
        // Unlike a forwarded chat, what the translation cannot carry is refused before the key
        // is resolved (an `UNSUPPORTED_FIELD` comes before a `NO_PROVIDER_KEY`).
        let chat = view.translated(admitted.provider)?;
        let resolved = self.admitted_key(caller, &admitted).await?;
        let Admitted { provider, model, project_id } = admitted;
        // The allowance pays for at most this much output, one answer at a time (`n` > 1 is
        // refused by the translation).
        let platform_cap = (resolved.source == KeySource::Platform).then(|| {
            let limits = self.providers.allowance();
            chat.max_tokens.unwrap_or(limits.default_output_tokens).min(limits.max_output_tokens)
        });
        // What the allowance and budgets reserve for the answer: the cap it is sent with.
        let cap = match provider {
            Provider::Anthropic => Some(platform_cap.or(chat.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS)),
            _ => platform_cap.or(chat.max_tokens),
        };
        let json_tool = chat.format == Format::JsonObject;
        let (api, body, headers) = match provider {
            Provider::Anthropic => {
                let max_tokens = cap.unwrap_or(DEFAULT_MAX_TOKENS);
                let version =
                    (HeaderName::from_static("anthropic-version"), HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
                (Api::Messages, to_anthropic(&chat, &model, max_tokens)?, vec![version])
            }
            _ => (Api::GenerateContent, to_gemini(&chat, cap)?, Vec::new()),
        };
        let input_estimate = prompt_tokens(view.prompt_size());
        // What an answer found unreadable, or a stream's failure, needs for the key's bookkeeping.
        let again = ResolvedKey { source: resolved.source, row: resolved.row.clone() };
        let p = prepared(caller, provider, model.clone(), again, project_id.clone(), cap, input_estimate);
        let out = Outbound {
            provider,
            api,
            model,
            resolved,
            project_id,
            body,
            headers,
            cap,
            input_estimate,
            stream: chat.stream,
            relay_usage_only: true,
            charges: Vec::new(),
        };
        let (asked, created, dropped) = (view.model.clone().into_owned(), ids::unix_now(), chat.dropped);
        match self.relay(caller, out).await? {
            Relayed::Whole { body, headers, key_source } => {
                let answer = match provider {
                    Provider::Anthropic => anthropic_completion(&body, &asked, created, json_tool),
                    _ => gemini_completion(&body, &asked, created),
                };
                match answer {
                    Some(body) => {
                        let headers = super::forwarding::cost_only(&headers);
                        Ok(ChatAnswer::Translated { body: body.into(), headers, key_source, dropped })
                    }
                    // A 2xx answer that is not the API's: the provider's error (which flags no key).
                    None => Err(self.provider_failed(&p, ProviderFailure(KeyStatus::ProviderError)).await),
                }
            }
            Relayed::Stream { events, key_source, .. } => {
                let mapper: Box<dyn ToChunks> = match provider {
                    Provider::Anthropic => Box::new(FromAnthropic::new(asked, created, json_tool, chat.include_usage)),
                    _ => Box::new(FromGemini::new(asked, created, chat.include_usage)),
                };
                let events = chunks(self.clone(), Arc::new(p), events, mapper);
                Ok(ChatAnswer::TranslatedStream { events, key_source, dropped })
            }
        }
    }
}

/// The relayed provider events as chunk frames, through `mapper`. A fault the mapper finds (the
/// provider's error event, a stream that ends before its answer) ends the stream as the
/// provider's failure, with the key's bookkeeping; an error the relay yields passes as it is.
fn chunks(
    core: Arc<Core>,
    p: Arc<Prepared>,
    events: BoxStream<'static, Result<Bytes>>,
    mapper: Box<dyn ToChunks>,
) -> BoxStream<'static, Result<Bytes>> {
    futures_util::stream::unfold(Some((events, mapper)), move |state| {
        let (core, p) = (core.clone(), p.clone());
        async move {
            let (mut events, mut mapper) = state?;
            let fault = match events.next().await {
                Some(Ok(bytes)) => match mapper.event(&bytes) {
                    Ok(frames) => return Some((frames.into_iter().map(Ok).collect(), Some((events, mapper)))),
                    Err(fault) => fault,
                },
                Some(Err(e)) => return Some((vec![Err(e)], None)),
                None => match mapper.end() {
                    Ok(frames) => return Some((frames.into_iter().map(Ok).collect(), None)),
                    Err(fault) => fault,
                },
            };
            let status = match fault {
                StreamFault::Error(data) => classify_stream_error(&data),
                StreamFault::Incomplete => KeyStatus::Unreachable,
            };
            Some((vec![Err(core.provider_failed(&p, ProviderFailure(status)).await)], None))
        }
    })
    .flat_map(futures_util::stream::iter)
    .boxed()
}
