//! The one shape of the edge's own tower layers (the outer layer, authentication, request
//! metrics): a [`Wrap`] sees each request and the service it wraps, and answers with one boxed
//! future. Plain tower layers rather than `middleware::from_fn`, which clones the route, boxes
//! it again and boxes a second future on every request (`docs/performance.md`, "Third round").

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;

/// An answer on its way.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What a route service must be for the edge's layers to wrap it (axum's routes are).
pub trait Inner:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + 'static
{
}

impl<S> Inner for S where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// What a layer does with each request, given the service it wraps.
pub trait Wrap: Clone + Send + Sync + 'static {
    fn call<S: Inner>(&self, inner: &mut S, req: Request) -> Answer;
}

/// The layer of a [`Wrap`].
#[derive(Clone)]
pub struct WrapLayer<W>(pub W);

impl<S, W: Wrap> tower::Layer<S> for WrapLayer<W> {
    type Service = Wrapped<S, W>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped { inner, wrap: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Wrapped<S, W> {
    inner: S,
    wrap: W,
}

impl<S: Inner, W: Wrap> tower::Service<Request> for Wrapped<S, W> {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        self.wrap.call(&mut self.inner, req)
    }
}
