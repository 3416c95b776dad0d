//! Completions with the resolved key: validation, tone, resolution, allowance, the provider
//! call, failure bookkeeping and usage. The REST, OpenAI-compatible and MCP faces all come here.
//!
//! Every call is metered from the moment it is dispatched (see `usage.rs`); a call on the
//! platform key first reserves its worst case (the estimated prompt plus the output cap it is
//! sent with) in the store, so concurrent calls can never spend more than the allowance.

use converra::{
    Completion, CompletionChunk, CompletionRequest, KeySource, KeySourceInfo, MessageRole, Provider, Role, Tone,
};
use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::BoxStream;

use super::admission::Admitted;
use super::usage::{Meter, estimate_tokens, totals_of};
use super::vault::ResolvedKey;
use super::{Caller, Core, Error, Result, ids};
use converra_providers::{ChatEvent, ChatRequest, ProviderFailure};
use converra_store::{AllowanceReservation, UsageBucket};

/// A streamed completion, started: which key pays beside its chunks (as a relayed stream's
/// `Relayed::Stream` has it), not inside them; each face puts it where its wire wants it.
pub struct CompletionStream {
    /// The completion's id, the same on every chunk.
    pub id: String,
    pub key_source: KeySourceInfo,
    /// Deltas, then the chunk with `finish_reason` and `usage`; an error ends it. No chunk
    /// carries `key_source`.
    pub chunks: BoxStream<'static, Result<CompletionChunk>>,
}

/// Splits `provider/model`, or infers the provider of a bare model name from its prefix.
pub fn parse_model(model: &str) -> Result<(Provider, String)> {
    let field = "model";
    let model = model.trim();
    let (provider, name) = match model.split_once('/') {
        Some((p, name)) => {
            let provider: Provider = p.parse().map_err(|e: String| Error::validation(field, e))?;
            (provider, name)
        }
        None => {
            let inferred = [
                ("gpt-", Provider::Openai),
                ("chatgpt-", Provider::Openai),
                ("o1", Provider::Openai),
                ("o3", Provider::Openai),
                ("o4", Provider::Openai),
                ("claude-", Provider::Anthropic),
                ("gemini-", Provider::Gemini),
                ("deepseek-", Provider::Deepseek),
            ]
            .into_iter()
            .find(|(prefix, _)| model.starts_with(prefix))
            .map(|(_, p)| p)
            .ok_or_else(|| {
                Error::validation(field, format!("cannot tell which provider serves `{model}`: name it as provider/model, e.g. openai/gpt-4o-mini or anthropic/claude-sonnet-4-5"))
            })?;
            (inferred, model)
        }
    };
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !valid {
        return Err(Error::validation(field, "model names use letters, digits, `.`, `_`, `-` and `:` only"));
    }
    Ok((provider, name.to_owned()))
}

fn tone_instruction(tone: Tone) -> &'static str {
    match tone {
        Tone::Professional => "Answer in a professional tone: clear, precise and courteous.",
        Tone::Friendly => "Answer in a friendly tone: warm, encouraging and approachable.",
        Tone::Casual => "Answer in a casual tone: relaxed and conversational.",
    }
}

/// Everything a provider call needs, checked. (`agent.rs` builds one for a forwarded call: its
/// `chat` then carries only the model and the output cap the meter reads.)
pub(super) struct Prepared {
    pub(super) provider: Provider,
    pub(super) chat: ChatRequest,
    pub(super) resolved: ResolvedKey,
    pub(super) project_id: Option<String>,
    pub(super) key_source: KeySourceInfo,
    /// Estimated tokens of the prompt as sent (system instructions and every message).
    pub(super) input_estimate: u64,
    /// Provider-run tools billed per use, with their caps (`None`: uncapped), for budgets.
    pub(super) charges: Vec<(String, Option<u64>)>,
}

fn validate(req: &CompletionRequest) -> Result<()> {
    if req.messages.is_empty() {
        return Err(Error::validation("messages", "messages must hold at least one message"));
    }
    if req.messages.len() > 1000 {
        return Err(Error::validation("messages", "messages may hold at most 1000 messages"));
    }
    if !req.messages.iter().any(|m| m.role != MessageRole::System) {
        return Err(Error::validation("messages", "messages must hold at least one user message"));
    }
    if req.max_tokens == Some(0) {
        return Err(Error::validation("max_tokens", "max_tokens must be at least 1"));
    }
    if let Some(t) = req.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(Error::validation("temperature", "temperature must be between 0 and 2"));
    }
    if req.stop.len() > 4 {
        return Err(Error::validation("stop", "at most 4 stop sequences"));
    }
    Ok(())
}

impl Core {
    async fn prepare(&self, caller: &Caller, req: CompletionRequest) -> Result<Prepared> {
        // Unlike the agent wires, the request is checked here, after AI_DISABLED and before
        // the model; no provider refuses anything of it.
        let admitted = self.admit(caller, &req.model, req.project_id.clone(), || validate(&req))?;
        let resolved = self.admitted_key(caller, &admitted).await?;
        let Admitted { provider, model, project_id } = admitted;
        let max_tokens = if resolved.source == KeySource::Platform {
            // The allowance pays for at most this much output, and the provider is told so.
            let limits = self.providers.allowance();
            Some(req.max_tokens.unwrap_or(limits.default_output_tokens).min(limits.max_output_tokens))
        } else {
            req.max_tokens
        };
        let mut system: Vec<String> = Vec::new();
        if let Some(tone) = req.tone.or(caller.ai.tone) {
            system.push(tone_instruction(tone).to_owned());
        }
        let mut messages = Vec::with_capacity(req.messages.len());
        for m in req.messages {
            if m.role == MessageRole::System { system.push(m.content) } else { messages.push(m) }
        }
        let key_source = KeySourceInfo {
            scope: resolved.source,
            key_id: resolved.row.as_ref().map(|r| r.id.clone()),
            masked: resolved.row.as_ref().filter(|_| caller.role >= Role::Admin).map(|r| r.masked.clone()),
        };
        let chat = ChatRequest {
            model,
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages,
            max_tokens,
            temperature: req.temperature,
            stop: req.stop,
        };
        let prompt_bytes =
            chat.system.as_ref().map_or(0, String::len) + chat.messages.iter().map(|m| m.content.len()).sum::<usize>();
        Ok(Prepared {
            provider,
            chat,
            resolved,
            project_id,
            key_source,
            input_estimate: estimate_tokens(prompt_bytes as u64),
            charges: Vec::new(),
        })
    }

    /// Starts metering a call about to be dispatched (refused while usage cannot be kept, see
    /// `usage.rs`). A platform call first reserves the
    /// estimated prompt plus its output cap; if that does not fit in what is left of the
    /// month's allowance (with every other call in flight), it is refused, never shortened.
    pub(super) async fn meter(&self, caller: &Caller, p: &Prepared) -> Result<Meter> {
        if self.spend.usage.full() {
            // The store has refused usage so long that memory holds all it may: a call served
            // now could not be counted.
            return Err(Error::Unavailable);
        }
        // One id for both reservations (made only when one is held): the batch writing the
        // call's usage settles both.
        let mut reservation = None;
        if p.resolved.source == KeySource::Platform {
            let now = ids::unix_now();
            let id = ids::new_id("rsv");
            let held = AllowanceReservation {
                id: id.clone(),
                org_id: caller.org_id.clone(),
                month: ids::current_month(),
                tokens: p.input_estimate + u64::from(p.chat.max_tokens.unwrap_or_default()),
                expires_at: now + self.spend.reservation_ttl,
            };
            if !self.store.reserve_allowance(held, caller.monthly_tokens, now).await? {
                return Err(Error::AllowanceExhausted);
            }
            reservation = Some(id);
        }
        // Budgets apply to every key, the organization's own as well as the allowance.
        let held = reservation.is_some();
        let hold = match self.spend.reserve_budgets(caller, p, &mut reservation).await {
            Ok(hold) => hold,
            Err(refused) => {
                if let (true, Some(id)) = (held, &reservation) {
                    // The allowance held above goes back now, not when it expires.
                    self.store.release_reservation(id).await?;
                }
                return Err(refused);
            }
        };
        let bucket = UsageBucket {
            org_id: caller.org_id.clone(),
            day: String::new(),
            project_id: p.project_id.clone(),
            api_key_id: caller.api_key_id.clone(),
            provider: p.provider.as_str(),
            model: p.chat.model.clone(),
            key_source: p.resolved.source.as_str(),
            status: "ok",
        };
        Ok(self.spend.usage.meter(bucket, p.input_estimate, reservation, hold))
    }

    /// A provider failure's side effect on the key: an answer that means the stored key itself
    /// is bad flags it (see `health/`), and the error names its health. The configured key's
    /// failure is reported as is, never retried with another key.
    pub(super) async fn provider_failed(&self, p: &Prepared, failure: ProviderFailure) -> Error {
        let health = match &p.resolved.row {
            Some(row) => self.health.key_failed(row, failure.status).await,
            None => None,
        };
        Error::Provider {
            provider: p.provider,
            status: failure.status,
            health,
            key_source: Some(Box::new(p.key_source.clone())),
            answer: failure.answer,
        }
    }

    /// A success clears a flagged key at once; otherwise it is only tallied.
    pub(super) async fn provider_answered(&self, p: &Prepared) {
        if let Some(row) = &p.resolved.row
            && self.health.key_succeeded(row)
        {
            self.health.key_recovered(row).await;
        }
    }

    /// Runs a completion with the key resolution picks.
    pub async fn complete(&self, caller: &Caller, req: CompletionRequest) -> Result<Completion> {
        let p = self.prepare(caller, req).await?;
        let secret = self.secret_for(p.provider, &p.resolved, caller.environment).await?;
        let mut meter = self.meter(caller, &p).await?;
        let answer = match self.provider_complete(p.provider, &secret, &p.chat).await {
            Ok(answer) => answer,
            Err(failure) => {
                meter.refused(failure.status.as_str());
                return Err(self.provider_failed(&p, failure).await);
            }
        };
        meter.produced(&answer.content);
        let usage = totals_of(meter.settle_metered(Some(answer.usage), "ok"));
        self.provider_answered(&p).await;
        Ok(Completion {
            id: ids::new_id("cmpl"),
            provider: p.provider,
            model: p.chat.model,
            content: answer.content,
            finish_reason: answer.finish_reason,
            usage,
            key_source: p.key_source,
            cost_micro_usd: meter.cost(),
            cost_known: meter.cost().is_some(),
        })
    }

    /// Starts a streamed completion. Errors before the first chunk (validation, resolution,
    /// the allowance, the provider refusing) come back here; later ones end the stream with an
    /// error item. The stream owns the call's meter: dropped early (the caller went away), it
    /// still counts the request and the estimated tokens of what was streamed.
    pub async fn stream(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        req: CompletionRequest,
    ) -> Result<CompletionStream> {
        let p = self.prepare(caller, req).await?;
        let secret = self.secret_for(p.provider, &p.resolved, caller.environment).await?;
        let mut meter = self.meter(caller, &p).await?;
        let events = match self.provider_stream(p.provider, &secret, &p.chat).await {
            Ok(events) => events,
            Err(failure) => {
                meter.refused(failure.status.as_str());
                return Err(self.provider_failed(&p, failure).await);
            }
        };
        let id = ids::new_id("cmpl");
        let key_source = p.key_source.clone();
        let (core, p) = (self.clone(), std::sync::Arc::new(p));
        let chunk_id = id.clone();
        let chunks = events.scan(meter, move |meter, event| {
            // The meter is updated here, synchronously; only a failure's key bookkeeping awaits.
            let chunk = |delta: String, finish_reason, usage| CompletionChunk {
                id: chunk_id.clone(),
                delta,
                finish_reason,
                usage,
                key_source: None,
            };
            let item = match event {
                Ok(ChatEvent::Delta(text)) => {
                    meter.produced(&text);
                    Ok(chunk(text, None, None))
                }
                Ok(ChatEvent::Done { finish_reason, usage }) => {
                    let usage = totals_of(meter.settle_metered(Some(usage), "ok"));
                    if let Some(row) = &p.resolved.row
                        && core.health.key_succeeded(row)
                    {
                        let (core, row) = (core.clone(), row.clone());
                        tokio::spawn(async move { core.health.key_recovered(&row).await });
                    }
                    Ok(chunk(String::new(), Some(finish_reason), Some(usage)))
                }
                Err(failure) => {
                    // Failed midway: what was generated so far was spent.
                    meter.settle(None, failure.status.as_str());
                    Err(failure)
                }
            };
            match item {
                Ok(chunk) => Either::Left(std::future::ready(Some(Ok(chunk)))),
                Err(failure) => {
                    let (core, p) = (core.clone(), p.clone());
                    Either::Right(async move { Some(Err(core.provider_failed(&p, failure).await)) })
                }
            }
        });
        Ok(CompletionStream { id, key_source, chunks: chunks.boxed() })
    }
}
