//! The provider calls of the core, timed and counted for the metrics: each call's outcome and
//! latency, which is also the time the request waited on the provider (so its added overhead
//! can be told apart). One wrapper per provider operation; with metrics off each is the bare
//! call.

use std::time::Instant;

use converra::{KeyStatus, Provider};
use http::{HeaderName, HeaderValue};
use secrecy::SecretString;

use super::Core;
use converra_metrics::ProviderCall;
use converra_providers::{
    ChatRequest, ChatResponse, ChatStream, Forwarded, ProviderFailure, Streamed, Target, VerifyOutcome,
};

impl Core {
    /// Runs a provider `call` that can fail, timed and counted under `kind` when metrics are on.
    async fn observed<T>(
        &self,
        provider: Provider,
        kind: ProviderCall,
        call: impl Future<Output = Result<T, ProviderFailure>>,
    ) -> Result<T, ProviderFailure> {
        if !self.metrics.is_enabled() {
            return call.await;
        }
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => KeyStatus::Ok.as_str(),
            Err(failure) => failure.status.as_str(),
        };
        self.metrics.provider_call(provider.as_str(), kind, outcome, started.elapsed());
        result
    }

    /// [`converra_providers::Providers::complete`], observed.
    pub(crate) async fn provider_complete(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderFailure> {
        self.observed(provider, ProviderCall::Completion, self.providers.complete(provider, key, req)).await
    }

    /// [`converra_providers::Providers::stream`], observed until the answer's head.
    pub(crate) async fn provider_stream(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatStream, ProviderFailure> {
        self.observed(provider, ProviderCall::Stream, self.providers.stream(provider, key, req)).await
    }

    /// [`converra_providers::Providers::forward`], observed.
    pub(crate) async fn provider_forward(
        &self,
        provider: Provider,
        target: impl Into<Target<'_>>,
        key: &SecretString,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Result<Forwarded, ProviderFailure> {
        self.observed(provider, ProviderCall::Completion, self.providers.forward(provider, target, key, headers, body))
            .await
    }

    /// [`converra_providers::Providers::forward_stream`], observed until the answer's head.
    pub(crate) async fn provider_forward_stream(
        &self,
        provider: Provider,
        target: impl Into<Target<'_>>,
        key: &SecretString,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Result<Streamed, ProviderFailure> {
        let start = self.providers.forward_stream(provider, target, key, headers, body);
        self.observed(provider, ProviderCall::Stream, start).await
    }

    /// [`converra_providers::Providers::verify_key`], observed.
    pub(crate) async fn provider_verify(&self, provider: Provider, key: &SecretString) -> VerifyOutcome {
        let started = Instant::now();
        let outcome = self.providers.verify_key(provider, key).await;
        self.metrics.provider_call(provider.as_str(), ProviderCall::Test, outcome.status.as_str(), started.elapsed());
        outcome
    }
}
