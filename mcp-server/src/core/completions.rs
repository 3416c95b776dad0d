//! Completions with the resolved key: validation, tone, resolution, allowance, the provider
//! call, failure bookkeeping and usage. The REST, OpenAI-compatible and MCP faces all come here.

use std::time::Instant;

use converra::{
    Completion, CompletionChunk, CompletionRequest, KeySource, KeySourceInfo, KeyStatus, MessageRole, Provider, Role,
    Tone, Usage,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::vault::ResolvedKey;
use super::{Caller, Core, Error, Result, ids};
use crate::providers::{ChatEvent, ChatRequest, ProviderFailure};

/// A streamed completion: chunks, then the end (the first chunk names the key source).
pub type CompletionStream = BoxStream<'static, Result<CompletionChunk>>;

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

/// Everything a provider call needs, checked.
struct Prepared {
    provider: Provider,
    chat: ChatRequest,
    resolved: ResolvedKey,
    project_id: Option<String>,
    key_source: KeySourceInfo,
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
        if !caller.ai.enabled {
            return Err(Error::AiDisabled);
        }
        validate(&req)?;
        let (provider, model) = parse_model(&req.model)?;
        let resolved = self.resolve_key(caller, provider, req.project_id.as_deref()).await?;
        match resolved.source {
            KeySource::None => return Err(Error::NoProviderKey { provider }),
            KeySource::Platform => {
                if self.usage.platform_used(&self.store, &caller.org_id).await? >= caller.monthly_tokens {
                    return Err(Error::AllowanceExhausted);
                }
            }
            KeySource::Project | KeySource::Organization => {}
        }
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
        Ok(Prepared {
            provider,
            chat: ChatRequest {
                model,
                system: (!system.is_empty()).then(|| system.join("\n\n")),
                messages,
                max_tokens: req.max_tokens,
                temperature: req.temperature,
                stop: req.stop,
            },
            resolved,
            project_id: req.project_id,
            key_source,
        })
    }

    /// Records one completion's usage (successful or not) from what `prepare` worked out.
    async fn record_usage(&self, caller: &Caller, p: &Prepared, usage: Usage, started: Instant, status: &'static str) {
        let (store, model, project) = (&self.store, &p.chat.model, p.project_id.as_deref());
        self.usage.record(store, caller, p.provider, model, p.resolved.source, project, usage, started, status).await;
    }

    /// Records a provider failure: a 401 on a stored key marks it `invalid_key` so owners see
    /// it in the list. The configured key's failure is reported as is, never retried elsewhere.
    async fn provider_failed(
        &self,
        caller: &Caller,
        p: &Prepared,
        failure: ProviderFailure,
        started: Instant,
    ) -> Error {
        if failure.0 == KeyStatus::InvalidKey
            && let Some(row) = &p.resolved.row
            && let Err(e) = self.store.set_provider_key_status(&caller.org_id, &row.id, KeyStatus::InvalidKey).await
        {
            tracing::warn!(provider_key_id = %row.id, error = %e, "could not mark the key invalid");
        }
        self.record_usage(caller, p, Default::default(), started, failure.0.as_str()).await;
        Error::Provider { provider: p.provider, status: failure.0 }
    }

    /// Runs a completion with the key resolution picks.
    pub async fn complete(&self, caller: &Caller, req: CompletionRequest) -> Result<Completion> {
        let p = self.prepare(caller, req).await?;
        let secret =
            self.secret_for(p.provider, &p.resolved).await?.ok_or(Error::NoProviderKey { provider: p.provider })?;
        let started = Instant::now();
        let answer = match self.providers.complete(p.provider, &secret, &p.chat).await {
            Ok(answer) => answer,
            Err(failure) => return Err(self.provider_failed(caller, &p, failure, started).await),
        };
        self.record_usage(caller, &p, answer.usage, started, "ok").await;
        Ok(Completion {
            id: ids::new_id("cmpl"),
            provider: p.provider,
            model: p.chat.model,
            content: answer.content,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            key_source: p.key_source,
        })
    }

    /// Starts a streamed completion. Errors before the first chunk (validation, resolution,
    /// the provider refusing) come back here; later ones end the stream with an error item.
    pub async fn stream(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        req: CompletionRequest,
    ) -> Result<CompletionStream> {
        let p = self.prepare(caller, req).await?;
        let secret =
            self.secret_for(p.provider, &p.resolved).await?.ok_or(Error::NoProviderKey { provider: p.provider })?;
        let started = Instant::now();
        let events = match self.providers.stream(p.provider, &secret, &p.chat).await {
            Ok(events) => events,
            Err(failure) => return Err(self.provider_failed(caller, &p, failure, started).await),
        };
        let id = ids::new_id("cmpl");
        let first = CompletionChunk {
            id: id.clone(),
            delta: String::new(),
            finish_reason: None,
            usage: None,
            key_source: Some(p.key_source.clone()),
        };
        let (core, caller, p) = (self.clone(), caller.clone(), std::sync::Arc::new(p));
        let rest = events.then(move |event| {
            let (core, caller, p, id) = (core.clone(), caller.clone(), p.clone(), id.clone());
            async move {
                match event {
                    Ok(ChatEvent::Delta(text)) => {
                        Ok(CompletionChunk { id, delta: text, finish_reason: None, usage: None, key_source: None })
                    }
                    Ok(ChatEvent::Done { finish_reason, usage }) => {
                        core.record_usage(&caller, &p, usage, started, "ok").await;
                        Ok(CompletionChunk {
                            id,
                            delta: String::new(),
                            finish_reason: Some(finish_reason),
                            usage: Some(usage),
                            key_source: None,
                        })
                    }
                    Err(failure) => Err(core.provider_failed(&caller, &p, failure, started).await),
                }
            }
        });
        Ok(futures_util::stream::once(async { Ok(first) }).chain(rest).boxed())
    }
}
