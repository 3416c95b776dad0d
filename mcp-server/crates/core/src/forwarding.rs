//! The one forwarding path of agent traffic, whatever the API (Chat Completions, Messages): a
//! body already checked and spliced by its endpoint's rules (`agent.rs`, `messages.rs`) goes to
//! the resolved key's provider as written; the answer comes back as the provider sent it,
//! whole or event by event, and only its usage is read. Every call is metered from dispatch
//! (see `usage.rs`), and a provider's failure does its key bookkeeping (see `health/`).

use std::sync::Arc;

use bytes::Bytes;
use converra::{KeySourceInfo, Provider, Role};
use futures_util::future::Either;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::completions::Prepared;
use super::vault::ResolvedKey;
use super::{Caller, Core, Result};
use converra_providers::{Api, ChatRequest, Target};

/// A checked request, ready to go upstream.
pub(super) struct Outbound {
    pub provider: Provider,
    pub api: Api,
    /// The model as the provider knows it (no `provider/` prefix).
    pub model: String,
    pub resolved: ResolvedKey,
    pub project_id: Option<String>,
    /// The client's body, with the top-level values Converra sets spliced in.
    pub body: Vec<u8>,
    /// The client's headers the API allows (checked by the endpoint's rules).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The output cap the call was sent with: Converra's on the platform key, else the
    /// request's own, if any (what the allowance and budgets reserve for the answer).
    pub cap: Option<u32>,
    pub input_estimate: u64,
    pub stream: bool,
    /// Whether a usage-only event goes to the client (OpenAI's, when the client asked for it).
    pub relay_usage_only: bool,
    /// The provider-run tools the call may use, billed per use, with their caps (read only
    /// while a budget applies: what it must reserve for them, `Core::hosted_charges`).
    pub charges: Vec<(String, Option<u64>)>,
}

/// A forwarded answer, for the face to render: the provider's own bytes and the headers of its
/// answer a client may see.
pub enum Relayed {
    Whole {
        body: Bytes,
        headers: HeaderMap,
        key_source: KeySourceInfo,
    },
    /// The provider's events as it sent them; an error ends it.
    Stream {
        events: BoxStream<'static, Result<Bytes>>,
        headers: HeaderMap,
        key_source: KeySourceInfo,
    },
}

/// A whole agent answer's cost by the price table, in USD (absent when its model has no price).
pub const COST_USD: HeaderName = HeaderName::from_static("x-converra-cost-usd");

/// Of a forwarded answer's headers, the one a translation of it keeps: its cost (the provider's
/// own headers speak the provider's API, not the client's).
pub(super) fn cost_only(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    if let Some(cost) = headers.get(COST_USD) {
        kept.insert(COST_USD, cost.clone());
    }
    kept
}

impl Core {
    /// Sends `out` with the resolved key, metered, and relays the answer.
    pub(super) async fn relay(self: &Arc<Self>, caller: &Caller, out: Outbound) -> Result<Relayed> {
        let Outbound {
            provider,
            api,
            model,
            resolved,
            project_id,
            body,
            headers,
            cap,
            input_estimate,
            stream,
            charges,
            ..
        } = out;
        let p = Prepared { charges, ..prepared(caller, provider, model, resolved, project_id, cap, input_estimate) };
        let secret = self.secret_for(provider, &p.resolved, caller.environment).await?;
        let mut meter = self.meter(caller, &p).await?;
        // Gemini's URL names the model.
        let target = Target { api, model: &p.chat.model };
        if !stream {
            let answer = match self.provider_forward(provider, target, &secret, &headers, body).await {
                Ok(answer) => answer,
                Err(failure) => {
                    meter.refused(failure.status.as_str());
                    return Err(self.provider_failed(&p, failure).await);
                }
            };
            meter.settle_metered(answer.usage, "ok");
            self.provider_answered(&p).await;
            if let Some(id) = answer.stored_id {
                self.record_relayed(caller, &p, id).await;
            }
            let mut headers = answer.headers;
            if let Some(cost) = meter.cost() {
                // The body stays the provider's: the cost rides beside it, in dollars.
                let usd = converra::usd_decimal(cost);
                headers.insert(COST_USD, HeaderValue::try_from(usd).expect("digits and a dot are a header value"));
            }
            return Ok(Relayed::Whole { body: answer.body, headers, key_source: p.key_source });
        }
        let streamed = match self.provider_forward_stream(provider, target, &secret, &headers, body).await {
            Ok(streamed) => streamed,
            Err(failure) => {
                meter.refused(failure.status.as_str());
                return Err(self.provider_failed(&p, failure).await);
            }
        };
        let key_source = p.key_source.clone();
        let relay_usage = out.relay_usage_only;
        let (core, p) = (self.clone(), Arc::new(p));
        // Who a stored object is recorded for: only an API whose answers create one needs it.
        let owner = (api == Api::Responses).then(|| Arc::new(caller.clone()));
        let events = streamed
            .frames
            .scan(meter, move |meter, frame| {
                // The meter is updated here, synchronously; only a failure's key bookkeeping and
                // the record of a stored object await.
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(failure) => {
                        meter.settle(None, failure.status.as_str());
                        let (core, p) = (core.clone(), p.clone());
                        return Either::Right(
                            async move { Some(Err(core.provider_failed(&p, failure).await)) }.boxed(),
                        );
                    }
                };
                meter.produced_bytes(frame.produced);
                if let Some(usage) = frame.usage {
                    meter.settle_metered(Some(usage), "ok");
                    if let Some(row) = &p.resolved.row
                        && core.health.key_succeeded(row)
                    {
                        let (core, row) = (core.clone(), row.clone());
                        tokio::spawn(async move { core.health.key_recovered(&row).await });
                    }
                }
                let bytes = (!frame.usage_only || relay_usage).then_some(frame.bytes);
                match (frame.stored_id, &owner) {
                    // Recorded before the event naming it reaches the client, who may name it next.
                    (Some(id), Some(caller)) => {
                        let (core, p, caller) = (core.clone(), p.clone(), caller.clone());
                        Either::Right(
                            async move {
                                core.record_relayed(&caller, &p, id).await;
                                Some(Ok(bytes))
                            }
                            .boxed(),
                        )
                    }
                    _ => Either::Left(std::future::ready(Some(Ok(bytes)))),
                }
            })
            .filter_map(|item: Result<Option<Bytes>>| std::future::ready(item.transpose()))
            .boxed();
        Ok(Relayed::Stream { events, headers: streamed.headers, key_source })
    }
}

/// What the meter and the key bookkeeping need of a forwarded call: its model and output cap
/// (the body itself is the client's), the key and who sees which.
pub(super) fn prepared(
    caller: &Caller,
    provider: Provider,
    model: String,
    resolved: ResolvedKey,
    project_id: Option<String>,
    cap: Option<u32>,
    input_estimate: u64,
) -> Prepared {
    Prepared {
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
        input_estimate,
        charges: Vec::new(),
    }
}
