//! Authentication of every `/api/v1`, `/v1` and `/api/mcp` request: the caller goes into the
//! request's extensions, and the rate-limit headers onto the answer. Each face says how it
//! admits a request (which bucket it spends, how a refusal looks) with a [`Gate`]; the layer
//! around its routes is this one (a [`Wrap`]).

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use tower::layer::util::{Identity, Stack};

use super::BodyLimit;
use super::error::{ApiError, rate_limit_headers};
use super::layer::{Answer, Inner, Wrap, WrapLayer};
use converra_core::{Core, RateLimitInfo};

/// How a face admits a request: authenticated (the caller in its extensions) with the limits
/// to report, or refused with the face's own answer.
pub trait Gate: Copy + Send + Sync + 'static {
    fn admit(self, core: Arc<Core>, req: Request) -> impl Future<Output = Admitted> + Send;
}

pub type Admitted = Result<(Request, RateLimitInfo), Response>;

/// The REST face's gate: the plan bucket, refusals in the REST error shape.
#[derive(Clone, Copy)]
pub struct Rest;

impl Gate for Rest {
    async fn admit(self, core: Arc<Core>, req: Request) -> Admitted {
        admit_with(&core, req, ApiError).await
    }
}

/// Authenticates `req` against the plan bucket; `reject` renders a refusal in the face's shape.
pub async fn admit_with<E: IntoResponse>(
    core: &Core,
    mut req: Request,
    reject: impl FnOnce(converra_core::Error) -> E,
) -> Admitted {
    match core.authenticate(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes())).await {
        Ok((caller, limits)) => {
            req.extensions_mut().insert(caller);
            Ok((req, limits))
        }
        Err(e) => Err(reject(e).into_response()),
    }
}

/// The layer for a face's authenticated routes (`route_layer`).
#[derive(Clone)]
pub struct RequireApiKey<G> {
    core: Arc<Core>,
    gate: G,
}

impl<G: Gate> RequireApiKey<G> {
    pub fn layer(core: Arc<Core>, gate: G) -> WrapLayer<Self> {
        WrapLayer(Self { core, gate })
    }
}

/// The layers of an agent face's `/v1` routes as one stack (one `route_layer`, so axum boxes
/// and clones the route once for them, not once each): authentication, then the `/v1` body
/// limit for the extractors and for the 413's message.
pub type V1Layers<G> = tower::ServiceBuilder<
    Stack<DefaultBodyLimit, Stack<axum::Extension<BodyLimit>, Stack<WrapLayer<RequireApiKey<G>>, Identity>>>,
>;

/// See [`V1Layers`].
pub fn v1_layers<G: Gate>(core: Arc<Core>, gate: G, body_limit: usize) -> V1Layers<G> {
    tower::ServiceBuilder::new()
        .layer(RequireApiKey::layer(core, gate))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(DefaultBodyLimit::max(body_limit))
}

impl<G: Gate> Wrap for RequireApiKey<G> {
    fn call<S: Inner>(&self, inner: &mut S, req: Request) -> Answer {
        // The service that was made ready goes with the request; a clone stays for the next.
        let clone = inner.clone();
        let mut inner = std::mem::replace(inner, clone);
        let (core, gate) = (self.core.clone(), self.gate);
        Box::pin(async move {
            match gate.admit(core, req).await {
                Ok((req, limits)) => {
                    let mut response = inner.call(req).await?;
                    rate_limit_headers(response.headers_mut(), &limits);
                    Ok(response)
                }
                Err(refusal) => Ok(refusal),
            }
        })
    }
}
