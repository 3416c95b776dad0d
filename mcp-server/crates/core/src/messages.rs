//! Agent traffic on Anthropic's Messages API: `POST /v1/messages`, what
//! Claude Code and the Anthropic SDKs send, and `POST /v1/messages/count_tokens`. A Claude model
//! goes to the resolved Anthropic key, a DeepSeek model to DeepSeek's own Anthropic-compatible
//! endpoint: forwarded as written (`forwarding.rs`), only top-level values spliced — the model's
//! `provider/` prefix removed and, on the platform key, `max_tokens` set or clamped to the
//! allowance's maximum with `thinking.budget_tokens` kept below it. From the client's headers
//! only `anthropic-version` and `anthropic-beta` go on, the beta list unchanged; a beta that
//! opens provider-stored account resources (files, skills, code execution, MCP client) is
//! refused, since no such object's creation is ever relayed for a member (tenants never share provider-side state).
//! An OpenAI model is translated (`messages/translated.rs`): the request into a Chat
//! Completions body, the answer back into Anthropic's. Gemini's models are not carried here:
//! `UNSUPPORTED_FIELD` naming `model`. The organization's tone is never applied.

mod translated;

use std::sync::Arc;

use converra::{KeySource, KeySourceInfo, Provider};
use http::{HeaderName, HeaderValue};

use super::admission::Admitted;
use super::agent::prompt_tokens;
use super::forwarding::{Outbound, Relayed, prepared};
use super::vault::ResolvedKey;
use super::{Caller, Core, Error, Result};
use converra_providers::Api;
use converra_wire::anthropic::{MessagesView, to_chat};

/// The `anthropic-version` sent when the client sent none (Anthropic requires one).
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Betas that open objects stored on the provider account (uploaded files, skills, code
/// execution containers, remote MCP servers): refused by prefix on every key.
const ACCOUNT_BETAS: [&str; 4] = ["files-api", "skills", "code-execution", "mcp-client"];

/// Top-level fields that name or create provider-stored state (a container, remote MCP servers).
const ACCOUNT_FIELDS: [&str; 2] = ["container", "mcp_servers"];

/// The client headers a Messages request may carry upstream, as sent.
#[derive(Debug, Default, Clone)]
pub struct AnthropicHeaders {
    pub version: Option<HeaderValue>,
    pub beta: Option<HeaderValue>,
}

/// What `count_tokens` answers.
pub enum TokenCount {
    /// Anthropic's own count, its body as sent.
    Forwarded(Relayed),
    /// Another provider's model: Converra's estimate, the same the allowance reserves for the
    /// prompt (`agent::prompt_tokens`: its bytes by `usage::estimate_tokens`, each image or
    /// document a fixed `ATTACHMENT_TOKENS`).
    Estimated { input_tokens: u64 },
}

/// How `/v1/messages` reaches a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// The provider speaks the Messages API (Anthropic, DeepSeek's endpoint): the body as written.
    Forwarded,
    /// OpenAI: translated to Chat Completions and back.
    Translated,
}

/// A Messages request that passed the rules, ready to go.
struct Route {
    provider: Provider,
    /// The model as the provider knows it (no `provider/` prefix).
    model: String,
    resolved: ResolvedKey,
    wire: Wire,
    /// The client's headers to send on (forwarded only).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The project the call acts in.
    project_id: Option<String>,
}

impl Core {
    /// `POST /v1/messages`: `view` is the client's body with its top level checked (the bytes
    /// it forwards); `project_id` comes from `X-Converra-Project`.
    pub async fn anthropic_messages(
        self: &Arc<Self>,
        caller: &Caller,
        view: &MessagesView<'_>,
        headers: &AnthropicHeaders,
        project_id: Option<String>,
    ) -> Result<Relayed> {
        let route = self.messages_route(caller, view, headers, project_id).await?;
        if route.wire == Wire::Translated {
            return self.translated_messages(caller, view, route, headers.beta.is_some()).await;
        }
        let Route { provider, model, resolved, headers, project_id, .. } = route;
        let model_json = serde_json::to_string(&model).unwrap_or_default();
        let mut sets: Vec<(&str, String)> = vec![("model", model_json)];
        let cap = if resolved.source == KeySource::Platform {
            // The allowance pays for at most this much output; thinking is part of it.
            let limits = self.providers.allowance();
            let clamped =
                view.number("max_tokens")?.unwrap_or(limits.default_output_tokens).min(limits.max_output_tokens);
            sets.push(("max_tokens", clamped.to_string()));
            if let Some(budget) = view.thinking_budget()?
                && budget >= clamped
            {
                sets.push(("thinking", view.thinking_with_budget(clamped.saturating_sub(1))));
            }
            Some(clamped)
        } else {
            // What a budget reserves for the answer (the request's own cap).
            view.number("max_tokens")?
        };
        let size = view.prompt_size();
        let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = Outbound {
            provider,
            api: Api::Messages,
            model,
            resolved,
            project_id,
            body: view.spliced(&sets),
            headers,
            cap,
            input_estimate: prompt_tokens(size),
            stream: view.stream,
            relay_usage_only: true,
            charges: self.spend.hosted_charges(caller, || view.server_tools()).await?,
        };
        self.relay(caller, out).await
    }

    /// `POST /v1/messages/count_tokens`: Anthropic counts a Claude model's prompt (forwarded, not
    /// metered: nothing is generated); for another provider's model Converra estimates it, after
    /// refusing what `/v1/messages` would refuse for that model.
    pub async fn anthropic_count_tokens(
        self: &Arc<Self>,
        caller: &Caller,
        view: &MessagesView<'_>,
        headers: &AnthropicHeaders,
        project_id: Option<String>,
    ) -> Result<TokenCount> {
        let Route { provider, model, resolved, wire, headers, project_id } =
            self.messages_route(caller, view, headers, project_id).await?;
        let size = view.prompt_size();
        let estimate = prompt_tokens(size);
        if wire == Wire::Translated {
            to_chat(view, model, provider)?;
            return Ok(TokenCount::Estimated { input_tokens: estimate });
        }
        if provider != Provider::Anthropic {
            return Ok(TokenCount::Estimated { input_tokens: estimate });
        }
        let model_json = serde_json::to_string(&model).unwrap_or_default();
        let body = view.spliced(&[("model", &model_json)]);
        let p = prepared(caller, provider, model, resolved, project_id, None, estimate);
        let secret = self.secret_for(provider, &p.resolved, caller.environment).await?;
        match self.provider_forward(provider, Api::CountTokens, &secret, &headers, body).await {
            Ok(answer) => {
                self.provider_answered(&p).await;
                let key_source = KeySourceInfo { ..p.key_source };
                Ok(TokenCount::Forwarded(Relayed::Whole { body: answer.body, headers: answer.headers, key_source }))
            }
            Err(failure) => Err(self.provider_failed(&p, failure).await),
        }
    }

    /// The catalogue's models `caller` can reach through `/v1/messages` (by their bare names,
    /// which `parse_model` reads back to their provider).
    pub async fn messages_models(&self, caller: &Caller) -> Result<Vec<&'static str>> {
        let models = self.available_models(caller).await?;
        Ok(models.into_iter().filter(|(p, _)| self.messages_wire(*p).is_some()).map(|(_, m)| m).collect())
    }

    /// `GET /v1/models/{id}` asked in Anthropic's shape: one of `messages_models`, by its bare
    /// name or `provider/model`; `NotFound` for any other.
    pub async fn messages_model(&self, caller: &Caller, id: &str) -> Result<&'static str> {
        let (provider, model) = self.available_model(caller, id).await?;
        if self.messages_wire(provider).is_none() {
            return Err(Error::NotFound("Model"));
        }
        Ok(model)
    }

    /// How `/v1/messages` reaches `provider`, if it does.
    fn messages_wire(&self, provider: Provider) -> Option<Wire> {
        if self.providers.serves(provider, Api::Messages) {
            Some(Wire::Forwarded)
        } else if provider == Provider::Openai {
            Some(Wire::Translated)
        } else {
            None
        }
    }

    /// The rules every Messages request passes before anything is sent (`admission.rs`): AI on,
    /// a model whose provider `/v1/messages` reaches, no account-resource field or beta, a key
    /// resolved.
    async fn messages_route(
        &self,
        caller: &Caller,
        view: &MessagesView<'_>,
        headers: &AnthropicHeaders,
        project_id: Option<String>,
    ) -> Result<Route> {
        // No checks of the request before the model: the face's view checked the top level.
        let admitted = self.admit(caller, &view.model, project_id, || Ok(()))?;
        let provider = admitted.provider;
        // This wire's own checks of the provider, before the key: the model's provider is
        // reached, no account-resource field or beta.
        let Some(wire) = self.messages_wire(provider) else {
            return Err(Error::UnsupportedField { field: "model".into(), provider });
        };
        if let Some(field) = ACCOUNT_FIELDS.iter().find(|f| view.has(f)) {
            return Err(Error::UnsupportedField { field: (*field).into(), provider });
        }
        let mut upstream = vec![(
            HeaderName::from_static("anthropic-version"),
            headers.version.clone().unwrap_or(HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION)),
        )];
        if let Some(beta) = &headers.beta {
            let list =
                beta.to_str().map_err(|_| Error::validation("anthropic-beta", "must be a comma-separated list"))?;
            if let Some(refused) =
                list.split(',').map(str::trim).find(|b| ACCOUNT_BETAS.iter().any(|prefix| b.starts_with(prefix)))
            {
                return Err(Error::UnsupportedField { field: format!("anthropic-beta: {refused}"), provider });
            }
            upstream.push((HeaderName::from_static("anthropic-beta"), beta.clone()));
        }
        let resolved = self.admitted_key(caller, &admitted).await?;
        if wire == Wire::Translated {
            upstream.clear();
        }
        let Admitted { model, project_id, .. } = admitted;
        Ok(Route { provider, model, resolved, wire, headers: upstream, project_id })
    }
}
