//! Agent traffic: a provider's own API carried whole, with every rule
//! of the other faces (resolution, `AI_DISABLED`, the allowance, key health, usage). Here,
//! `POST /v1/chat/completions`: to OpenAI and DeepSeek the client's body is forwarded as
//! written, only top-level values spliced (the model's `provider/` prefix removed; on a stream,
//! `stream_options.include_usage` so the usage can be metered; on the platform key, the output
//! cap); the answer comes back as the provider sent it, and only its usage is read. To
//! Anthropic and Gemini the request is translated (`chat_translated.rs`), refusing by name what
//! is not carried. The organization's tone is never applied: the agent's prompt is its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use converra::{KeySource, KeySourceInfo, Provider};
use futures_util::stream::BoxStream;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::admission::Admitted;
use super::forwarding::{Outbound, Relayed};
use super::usage::estimate_tokens;
use super::{Caller, Core, Error, Result, ids};
use converra_providers::Api;
use converra_wire::openai::{ChatView, PromptSize, json_string, json_text};

/// Tokens an attached image, audio clip or file counts for in the allowance's estimate, however
/// many bytes encode it (a large image is ~1,600 tokens at Anthropic, ~1,100 at OpenAI).
pub const ATTACHMENT_TOKENS: u64 = 1_600;

/// The allowance's estimate of a forwarded prompt: its text by `usage::estimate_tokens`, each
/// attachment a fixed [`ATTACHMENT_TOKENS`].
pub(super) fn prompt_tokens(size: PromptSize) -> u64 {
    estimate_tokens(size.bytes) + size.attachments * ATTACHMENT_TOKENS
}

/// What `/v1/chat/completions` answers, for the face to render.
pub enum ChatAnswer {
    /// Forwarded: the provider's body unchanged, or its events as it sent them (the usage-only
    /// chunk left out when the client did not ask for it; an error ends them), with the
    /// headers of its answer a client may see.
    Forwarded(Relayed),
    /// Translated, whole: OpenAI's `chat.completion`, with its cost's header (`X-Converra-Cost-Usd`);
    /// `dropped` names the advisory fields left out (`X-Converra-Dropped-Fields`).
    Translated { body: Bytes, headers: HeaderMap, key_source: KeySourceInfo, dropped: Vec<String> },
    /// Translated, streamed: `chat.completion.chunk` frames ending in `[DONE]`; an error ends it.
    TranslatedStream { events: BoxStream<'static, Result<Bytes>>, key_source: KeySourceInfo, dropped: Vec<String> },
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
        // No checks of the request before the model: the face's view checked the top level.
        let admitted = self.admit(caller, &view.model, project_id, || Ok(()))?;
        match admitted.provider {
            Provider::Anthropic | Provider::Gemini => self.translated_chat(caller, view, admitted).await,
            Provider::Openai | Provider::Deepseek => self.forward_chat(caller, view, admitted).await,
        }
    }

    async fn forward_chat(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ChatView<'_>,
        admitted: Admitted,
    ) -> Result<ChatAnswer> {
        // Forwarded, nothing of the body is refused before the key: `n` is refused after it,
        // and only on the platform key.
        let resolved = self.admitted_key(caller, &admitted).await?;
        let Admitted { provider, model, project_id } = admitted;
        let model_json = json_string(&model);
        let mut sets: Vec<(&str, String)> = vec![("model", model_json)];
        if view.stream && !view.include_usage {
            sets.push(("stream_options", view.stream_options_with_usage()));
        }
        let mut cap = None;
        if resolved.source == KeySource::Platform {
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
        } else {
            // What a budget reserves for the answer (the request's own cap).
            cap = view.number("max_completion_tokens")?.or(view.number("max_tokens")?);
        }
        // OpenAI's abuse monitoring asks for an end-user id; without one, the member's, hashed.
        if provider == Provider::Openai && !view.has("user") && !view.has("safety_identifier") {
            sets.push(("safety_identifier", json_string(&member_hash(caller))));
        }
        let size = view.prompt_size();
        let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = Outbound {
            provider,
            api: Api::ChatCompletions,
            model,
            resolved,
            project_id,
            body: view.spliced(&sets),
            headers: Vec::new(),
            cap,
            input_estimate: prompt_tokens(size),
            stream: view.stream,
            relay_usage_only: view.include_usage,
            charges: if view.has("web_search_options") { vec![("web_search".to_owned(), None)] } else { Vec::new() },
        };
        Ok(ChatAnswer::Forwarded(self.relay(caller, out).await?))
    }

    /// How long a relayed stream may be silent before its client is sent a keep-alive comment.
    pub fn stream_keep_alive(&self) -> Duration {
        self.providers.timeouts().keep_alive
    }
}

/// The end-user id Converra gives OpenAI for a member who sent none: stable per member, and
/// naming neither the member nor the organization. It is computed on every call to OpenAI, so
/// its input is fed to the digest in pieces and its hex written by table, never formatted.
pub(super) fn member_hash(caller: &Caller) -> String {
    hashed_member(&caller.org_id, &caller.member_id)
}

/// The first 16 bytes of SHA-256(`converra-member:{org_id}:{member_id}`), in hex.
fn hashed_member(org_id: &str, member_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"converra-member:")
        .chain_update(org_id.as_bytes())
        .chain_update(b":")
        .chain_update(member_id.as_bytes())
        .finalize();
    ids::hex(&digest[..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_members_end_user_id_stays_what_openai_has_been_given() {
        // The value every earlier version sent: OpenAI ties its abuse signals to it.
        let id = super::hashed_member("org_0193c1e0b2a87d3e9f", "mem_0193c1e0b2a87d3ea0");
        assert_eq!(id, "10c293807add38ba2da468b73e5f37fe");
        assert_ne!(super::hashed_member("org_0193c1e0b2a87d3e9f", "mem_0193c1e0b2a87d3ea1"), id);
    }
}
