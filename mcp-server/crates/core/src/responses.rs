//! Agent traffic on OpenAI's other APIs: `POST /v1/responses` and
//! `/v1/responses/compact` (Codex, the OpenAI Agents SDK) and `POST /v1/embeddings`, forwarded
//! to OpenAI as written (`forwarding.rs`), only top-level values spliced: the model's
//! `provider/` prefix removed; `safety_identifier` (a hash of the member) when the client sent
//! no end-user id; on the platform key `max_output_tokens` set or clamped to the allowance and
//! `store` forced false.
//!
//! A model of a provider without the Responses API (DeepSeek, Anthropic, Gemini) is translated:
//! the request into a Chat Completions body (`converra_wire::openai::responses_to_chat`, what cannot be
//! carried refused by name, advisory fields left out and named in `X-Converra-Dropped-Fields`),
//! which takes the `/v1/chat/completions` path (`agent.rs`: forwarded to DeepSeek as chat,
//! translated on to Anthropic's or Gemini's own API by `chat_translated.rs`; resolution, the
//! allowance, metering, key health); the chat answer comes back into a `response` object, or
//! its chunks, frame by frame, into the Responses event sequence
//! (`converra_wire::openai::chat_to_responses*`). Nothing is stored there, so a compaction (OpenAI's
//! encrypted summary, which only OpenAI reads) is refused, naming `model`. Embeddings go to
//! OpenAI only.
//!
//! Tenants never share provider-side state: a field naming an object stored on the provider
//! account (`previous_response_id`, `conversation`, `prompt.id`, `item_reference`, a file id,
//! `vector_store_ids`, `container`) answers 404 naming it unless Converra relayed that object's
//! creation for the same member on the same key (the stored responses it relays are recorded:
//! `record_relayed`; a translated answer is never stored, so on another provider no such object
//! is anyone's); on the platform key such fields, and hosted tools that bill or store on the
//! account, are `UNSUPPORTED_FIELD`.

use std::sync::Arc;

use bytes::Bytes;
use converra::{KeySource, Provider};
use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::admission::Admitted;
use super::agent::{ChatAnswer, member_hash, prompt_tokens};
use super::completions::Prepared;
use super::forwarding::{Outbound, Relayed};
use super::usage::estimate_tokens;
use super::vault::ResolvedKey;
use super::{Caller, Core, Error, InternalError, Result, ids};
use converra_providers::Api;
use converra_store::RelayedObject;
use converra_wire::openai::{
    ChatView, EmbeddingsView, ResponsesStream, ResponsesView, json_string, json_text, response_json, responses_field,
};

/// The kind of object a stored response is, in the record of relayed objects.
const RESPONSE: &str = "response";

/// Which Responses endpoint a body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsesEndpoint {
    /// `POST /v1/responses`, whole or streamed.
    Create,
    /// `POST /v1/responses/compact`, whole.
    Compact,
}

impl Core {
    /// `POST /v1/responses` and `/v1/responses/compact`: `view` is the client's body with its
    /// top level checked (the bytes it forwards); `project_id` comes from `X-Converra-Project`.
    pub async fn openai_responses(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ResponsesView<'_>,
        endpoint: ResponsesEndpoint,
        project_id: Option<String>,
    ) -> Result<Relayed> {
        // No checks of the request before the model: the face's view checked the top level.
        let admitted = self.admit(caller, &view.model, project_id, || Ok(()))?;
        if !self.providers.serves(admitted.provider, Api::Responses) {
            return self.translated_responses(caller, view, endpoint, admitted).await;
        }
        let api = match endpoint {
            ResponsesEndpoint::Create => Api::Responses,
            ResponsesEndpoint::Compact => Api::ResponsesCompact,
        };
        let resolved = self.openai_route(caller, &admitted, api).await?;
        let Admitted { provider, model, project_id } = admitted;
        let platform = resolved.source == KeySource::Platform;
        if let Some(found) = view.account_ref()? {
            if platform {
                return Err(Error::UnsupportedField { field: found.field.into(), provider });
            }
            let relayed = match (&found.response_id, &resolved.row) {
                (Some(id), Some(row)) => {
                    self.store.relayed_for(&row.id, RESPONSE, id, &caller.org_id, &caller.member_id).await?
                }
                _ => false,
            };
            if !relayed {
                return Err(Error::NotRelayed { field: found.field.into() });
            }
        }
        let mut sets: Vec<(&str, String)> = vec![("model", json_string(&model))];
        let cap = if platform {
            if let Some(tool) = view.account_tool() {
                return Err(Error::UnsupportedField { field: format!("tools: {tool}"), provider });
            }
            // Nothing is kept on the operator's account for anyone.
            if view.store != Some(false) {
                sets.push(("store", "false".into()));
            }
            let limits = self.providers.allowance();
            let asked = view.number("max_output_tokens")?;
            let clamped = asked.unwrap_or(limits.default_output_tokens).min(limits.max_output_tokens);
            if asked != Some(clamped) {
                sets.push(("max_output_tokens", json_text(&clamped)));
            }
            Some(clamped)
        } else {
            // What a budget reserves for the answer (the request's own cap).
            view.number("max_output_tokens")?
        };
        // OpenAI's abuse monitoring asks for an end-user id; without one, the member's, hashed.
        if !view.has("safety_identifier") && !view.has("user") {
            sets.push(("safety_identifier", json_string(&member_hash(caller))));
        }
        let size = view.prompt_size();
        let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = Outbound {
            provider,
            api,
            model,
            resolved,
            project_id,
            body: view.spliced(&sets),
            headers: Vec::new(),
            cap,
            input_estimate: prompt_tokens(size),
            stream: view.stream && endpoint == ResponsesEndpoint::Create,
            relay_usage_only: true,
            charges: self.spend.hosted_charges(caller, || view.hosted_tools()).await?,
        };
        self.relay(caller, out).await
    }

    /// `/v1/responses` for a provider that serves chat only (admitted by `openai_responses`):
    /// translated there and back.
    async fn translated_responses(
        self: &Arc<Self>,
        caller: &Caller,
        view: &ResponsesView<'_>,
        endpoint: ResponsesEndpoint,
        admitted: Admitted,
    ) -> Result<Relayed> {
        let Admitted { provider, project_id, .. } = admitted;
        if endpoint == ResponsesEndpoint::Compact {
            return Err(Error::UnsupportedField { field: "model".into(), provider });
        }
        // Unlike every other entry, a key is resolved here without refusing its absence: a
        // field naming a provider-stored object is `NOT_RELAYED` (404) when the provider has no
        // key at all, `UNSUPPORTED_FIELD` on the platform key. Without such a field, the chat
        // call below admits the translated body again, key resolution and all.
        if let Some(found) = view.account_ref()? {
            let resolved = self.resolve_key(caller, provider, project_id.as_deref()).await?;
            if resolved.source == KeySource::Platform {
                return Err(Error::UnsupportedField { field: found.field.into(), provider });
            }
            return Err(Error::NotRelayed { field: found.field.into() });
        }
        let chat = view.to_chat(provider)?;
        let chat_view = ChatView::parse(&chat.body)?;
        let mut head = view.response_head(ids::new_id("resp"), ids::unix_now(), chat.names);
        let mut dropped = chat.dropped;
        // A refusal further on names the chat body's field; the client wrote its own.
        let answer = self.openai_chat(caller, &chat_view, project_id).await.map_err(|e| match e {
            Error::UnsupportedField { field, provider } => {
                Error::UnsupportedField { field: responses_field(&field), provider }
            }
            other => other,
        })?;
        let (answer, key_source, cost) = match answer {
            ChatAnswer::Forwarded(Relayed::Whole { body, headers, key_source }) => {
                (Either::Left(body), key_source, super::forwarding::cost_only(&headers))
            }
            ChatAnswer::Forwarded(Relayed::Stream { events, key_source, .. }) => {
                (Either::Right(events), key_source, HeaderMap::new())
            }
            ChatAnswer::Translated { body, headers, key_source, dropped: more } => {
                dropped.extend(more);
                (Either::Left(body), key_source, headers)
            }
            ChatAnswer::TranslatedStream { events, key_source, dropped: more } => {
                dropped.extend(more);
                (Either::Right(events), key_source, HeaderMap::new())
            }
        };
        let mut headers = dropped_header(&dropped);
        headers.extend(cost);
        match answer {
            Either::Left(body) => {
                // A 200 that is not a chat completion: nothing to translate (its usage was read).
                let unreadable =
                    || Error::Internal(InternalError::Other("a translated chat answer could not be read".into()));
                let body = response_json(&body, &mut head).ok_or_else(unreadable)?;
                Ok(Relayed::Whole { body: body.into(), headers, key_source })
            }
            Either::Right(events) => Ok(Relayed::Stream {
                events: translated_events(events, ResponsesStream::new(head)),
                headers,
                key_source,
            }),
        }
    }

    /// `POST /v1/embeddings`, forwarded to OpenAI (no other provider serves it on its wire).
    pub async fn openai_embeddings(
        self: &Arc<Self>,
        caller: &Caller,
        view: &EmbeddingsView<'_>,
        project_id: Option<String>,
    ) -> Result<Relayed> {
        // No checks of the request before the model: the face's view checked the top level.
        let admitted = self.admit(caller, &view.model, project_id, || Ok(()))?;
        let resolved = self.openai_route(caller, &admitted, Api::Embeddings).await?;
        let Admitted { provider, model, project_id } = admitted;
        let model_json = json_string(&model);
        let out = Outbound {
            provider,
            api: Api::Embeddings,
            model,
            resolved,
            project_id,
            body: view.spliced(&[("model", &model_json)]),
            headers: Vec::new(),
            cap: None,
            input_estimate: estimate_tokens(view.input_bytes()),
            stream: false,
            relay_usage_only: true,
            charges: Vec::new(),
        };
        self.relay(caller, out).await
    }

    /// `GET /v1/models/{id}`: the model, if this caller can reach its provider; `id` as the
    /// list names it (`provider/model`) or bare.
    pub async fn available_model(&self, caller: &Caller, id: &str) -> Result<(Provider, &'static str)> {
        self.available_models(caller)
            .await?
            .into_iter()
            .find(|(provider, model)| *model == id || id.strip_prefix(provider.as_str()) == Some(&format!("/{model}")))
            .ok_or(Error::NotFound("Model"))
    }

    /// The rest of the rules a forwarded request to one of these APIs passes once admitted
    /// (`admission.rs`): the model's provider serves the API, then a key resolved.
    async fn openai_route(&self, caller: &Caller, admitted: &Admitted, api: Api) -> Result<ResolvedKey> {
        if !self.providers.serves(admitted.provider, api) {
            return Err(Error::UnsupportedField { field: "model".into(), provider: admitted.provider });
        }
        self.admitted_key(caller, admitted).await
    }

    /// Records a stored object an answer created (a response's id) for the caller on the key
    /// that paid, so that only this member may name it again. On the platform key nothing is
    /// stored (`store` is forced false), so nothing is recorded. A record that fails is logged:
    /// the member then gets 404 naming it, never another member's object.
    pub(super) async fn record_relayed(&self, caller: &Caller, p: &Prepared, id: String) {
        let Some(row) = &p.resolved.row else { return };
        let record = RelayedObject {
            provider_key_id: row.id.clone(),
            kind: RESPONSE,
            object_id: id,
            org_id: caller.org_id.clone(),
            member_id: caller.member_id.clone(),
            created_at: ids::unix_now() as i64,
        };
        if let Err(e) = self.store.record_relayed(record).await {
            tracing::warn!(error = %e, org_id = %caller.org_id, key_id = %row.id, "a relayed response's id was not recorded");
        }
    }
}

/// `X-Converra-Dropped-Fields`: the advisory fields a translated request left out.
fn dropped_header(dropped: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::try_from(dropped.join(", "))
        && !dropped.is_empty()
    {
        headers.insert(HeaderName::from_static("x-converra-dropped-fields"), value);
    }
    headers
}

/// A chat stream's frames translated into the Responses events, as each frame arrives; an
/// error ends it, as it ends the chat stream.
fn translated_events(
    frames: BoxStream<'static, Result<Bytes>>,
    mapper: ResponsesStream,
) -> BoxStream<'static, Result<Bytes>> {
    futures_util::stream::unfold(Some((frames, mapper)), |state| async move {
        let (mut frames, mut mapper) = state?;
        loop {
            match frames.next().await {
                Some(Ok(frame)) => {
                    let events = mapper.push(&frame);
                    if !events.is_empty() {
                        return Some((Ok(Bytes::from(events)), Some((frames, mapper))));
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    let events = mapper.end();
                    return (!events.is_empty()).then(|| (Ok(Bytes::from(events)), None));
                }
            }
        }
    })
    .boxed()
}
