//! Agent traffic (DESIGN "Agent traffic"): a provider's own API carried whole, with every rule
//! of the other faces (resolution, `AI_DISABLED`, the allowance, key health, usage). Here,
//! `POST /v1/chat/completions`: to OpenAI and DeepSeek the client's body is forwarded as
//! written, only top-level values spliced (the model's `provider/` prefix removed; on a stream,
//! `stream_options.include_usage` so the usage can be metered; on the platform key, the output
//! cap); the answer comes back as the provider sent it, and only its usage is read. To
//! Anthropic and Gemini the request is translated, refusing by name what is not carried. The
//! organization's tone is never applied: the agent's prompt is its own.

use std::sync::Arc;

use axum::body::Bytes;
use converra::{Completion, KeySource, KeySourceInfo, Provider, Role, Usage};
use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};

use super::completions::{CompletionStream, Prepared, parse_model};
use super::usage::estimate_tokens;
use super::{Caller, Core, Error, Result};
use crate::openai_wire::{ChatView, FullUsage, json_string, json_text};
use crate::providers::ChatRequest;

/// Tokens an attached image, audio clip or file counts for in the allowance's estimate, however
/// many bytes encode it (a large image is ~1,600 tokens at Anthropic, ~1,100 at OpenAI).
pub const ATTACHMENT_TOKENS: u64 = 1_600;

/// What `/v1/chat/completions` answers, for the face to render.
pub enum ChatAnswer {
    /// Forwarded, whole: the provider's body, unchanged.
    Forwarded { body: Bytes, key_source: KeySourceInfo },
    /// Forwarded, streamed: the provider's events as it sent them (the usage-only chunk left
    /// out when the client did not ask for it); an error ends it.
    ForwardedStream { events: BoxStream<'static, Result<Bytes>>, key_source: KeySourceInfo },
    /// Translated, whole; `dropped` names the advisory fields left out.
    Translated { completion: Completion, dropped: Vec<&'static str> },
    /// Translated, streamed (the first chunk names the key source).
    TranslatedStream { chunks: CompletionStream, dropped: Vec<&'static str> },
}

impl Core {
    /// `POST /v1/chat/completions`: `view` is the client's body with its top level checked
    /// (the bytes it forwards); `project_id` comes from `X-Converra-Project`.
    pub async fn openai_chat(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ChatView<'_>,
        project_id: Option<String>,
    ) -> Result<ChatAnswer> {
        if !caller.ai.enabled {
            return Err(Error::AiDisabled);
        }
        let (provider, model) = parse_model(&view.model)?;
        if matches!(provider, Provider::Anthropic | Provider::Gemini) {
            let translated = view.translated(provider, project_id)?;
            // The organization's tone is for prompts Converra writes, never an agent's.
            let mut caller = caller.clone();
            caller.ai.tone = None;
            let dropped = translated.dropped;
            return Ok(if view.stream {
                ChatAnswer::TranslatedStream { chunks: self.stream(&caller, translated.request).await?, dropped }
            } else {
                ChatAnswer::Translated { completion: self.complete(&caller, translated.request).await?, dropped }
            });
        }
        self.forward_chat(caller, view, provider, model, project_id).await
    }

    async fn forward_chat(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ChatView<'_>,
        provider: Provider,
        model: String,
        project_id: Option<String>,
    ) -> Result<ChatAnswer> {
        let resolved = self.resolve_key(caller, provider, project_id.as_deref()).await?;
        let model_json = json_string(&model);
        let mut sets: Vec<(&str, String)> = vec![("model", model_json)];
        if view.stream && !view.include_usage {
            sets.push(("stream_options", view.stream_options_with_usage()));
        }
        let mut cap = None;
        match resolved.source {
            KeySource::None => return Err(self.no_provider_key(caller, provider, project_id.as_deref()).await),
            KeySource::Platform => {
                // The allowance pays for at most this much output, one answer at a time.
                if view.n > 1 {
                    return Err(Error::UnsupportedField { field: "n".into(), provider });
                }
                let limits = self.providers.allowance();
                let asked = [
                    ("max_completion_tokens", view.number("max_completion_tokens")?),
                    ("max_tokens", view.number("max_tokens")?),
                ];
                for (name, value) in asked {
                    if let Some(value) = value {
                        let clamped = value.min(limits.max_output_tokens);
                        cap = Some(cap.unwrap_or(0).max(clamped));
                        if clamped != value {
                            sets.push((name, json_text(&clamped)));
                        }
                    }
                }
                if cap.is_none() {
                    let name = if provider == Provider::Openai { "max_completion_tokens" } else { "max_tokens" };
                    cap = Some(limits.default_output_tokens);
                    sets.push((name, json_text(&limits.default_output_tokens)));
                }
            }
            KeySource::Project | KeySource::Organization => {}
        }
        // OpenAI's abuse monitoring asks for an end-user id; without one, the member's, hashed.
        if provider == Provider::Openai && !view.has("user") && !view.has("safety_identifier") {
            sets.push(("safety_identifier", json_string(&member_hash(caller))));
        }
        let size = view.prompt_size();
        let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let upstream = view.spliced(&sets);
        let p = Prepared {
            provider,
            chat: ChatRequest {
                model,
                system: None,
                messages: Vec::new(),
                max_tokens: cap,
                temperature: None,
                stop: Vec::new(),
            },
            key_source: KeySourceInfo {
                scope: resolved.source,
                key_id: resolved.row.as_ref().map(|r| r.id.clone()),
                masked: resolved.row.as_ref().filter(|_| caller.role >= Role::Admin).map(|r| r.masked.clone()),
            },
            resolved,
            project_id,
            input_estimate: estimate_tokens(size.bytes) + size.attachments * ATTACHMENT_TOKENS,
        };
        let secret =
            self.secret_for(provider, &p.resolved).await?.ok_or_else(|| Error::no_provider_key(provider, caller))?;
        let mut meter = self.meter(caller, &p).await?;
        if !view.stream {
            let answer = match self.provider_forward(provider, &secret, upstream).await {
                Ok(answer) => answer,
                Err(failure) => {
                    meter.refused(failure.0.as_str());
                    return Err(self.provider_failed(&p, failure).await);
                }
            };
            meter.settle(answer.usage.map(usage_of), "ok");
            self.provider_answered(&p).await;
            return Ok(ChatAnswer::Forwarded { body: answer.body, key_source: p.key_source });
        }
        let frames = match self.provider_forward_stream(provider, &secret, upstream).await {
            Ok(frames) => frames,
            Err(failure) => {
                meter.refused(failure.0.as_str());
                return Err(self.provider_failed(&p, failure).await);
            }
        };
        let key_source = p.key_source.clone();
        let relay_usage = view.include_usage;
        let (core, p) = (self.clone(), Arc::new(p));
        let events = frames
            .scan(meter, move |meter, frame| {
                // The meter is updated here, synchronously; only a failure's key bookkeeping awaits.
                let item = match frame {
                    Ok(frame) => {
                        meter.produced_bytes(frame.produced);
                        if let Some(usage) = frame.usage {
                            meter.settle(Some(usage_of(usage)), "ok");
                            if let Some(row) = &p.resolved.row
                                && core.key_succeeded(row)
                            {
                                let (core, row) = (core.clone(), row.clone());
                                tokio::spawn(async move { core.key_recovered(&row).await });
                            }
                        }
                        Ok((!frame.usage_only || relay_usage).then_some(frame.bytes))
                    }
                    Err(failure) => {
                        meter.settle(None, failure.0.as_str());
                        Err(failure)
                    }
                };
                match item {
                    Ok(bytes) => Either::Left(std::future::ready(Some(Ok(bytes)))),
                    Err(failure) => {
                        let (core, p) = (core.clone(), p.clone());
                        Either::Right(async move { Some(Err(core.provider_failed(&p, failure).await)) })
                    }
                }
            })
            .filter_map(|item: Result<Option<Bytes>>| std::future::ready(item.transpose()))
            .boxed();
        Ok(ChatAnswer::ForwardedStream { events, key_source })
    }
}

/// What the meter counts of a forwarded answer's usage. Cached prompt tokens and reasoning
/// tokens are parts of these two totals (read by `FullUsage`, not stored apart yet).
fn usage_of(u: FullUsage) -> Usage {
    Usage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens }
}

/// The end-user id Converra gives OpenAI for a member who sent none: stable per member, and
/// naming neither the member nor the organization.
fn member_hash(caller: &Caller) -> String {
    let digest: [u8; 32] = Sha256::digest(format!("converra-member:{}:{}", caller.org_id, caller.member_id)).into();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
