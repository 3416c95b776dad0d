//! The provider calls of the core, timed and counted for the metrics: each call's outcome and
//! latency, which is also the time the request waited on the provider (so its added overhead
//! can be told apart). One wrapper per provider operation; with metrics off each is the bare
//! call.

use std::time::Instant;

use converra::{KeyStatus, Provider};
use secrecy::SecretString;

use super::Core;
use crate::metrics::ProviderCall;
use crate::providers::{ChatRequest, ChatResponse, ChatStream, ProviderFailure, VerifyOutcome};

fn outcome<T>(result: &Result<T, ProviderFailure>) -> &'static str {
    match result {
        Ok(_) => KeyStatus::Ok.as_str(),
        Err(failure) => failure.0.as_str(),
    }
}

impl Core {
    /// [`crate::providers::Providers::complete`], observed.
    pub(crate) async fn provider_complete(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderFailure> {
        if !self.metrics.is_enabled() {
            return self.providers.complete(provider, key, req).await;
        }
        let started = Instant::now();
        let result = self.providers.complete(provider, key, req).await;
        self.metrics.provider_call(provider.as_str(), ProviderCall::Completion, outcome(&result), started.elapsed());
        result
    }

    /// [`crate::providers::Providers::stream`], observed until the answer's head.
    pub(crate) async fn provider_stream(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatStream, ProviderFailure> {
        if !self.metrics.is_enabled() {
            return self.providers.stream(provider, key, req).await;
        }
        let started = Instant::now();
        let result = self.providers.stream(provider, key, req).await;
        self.metrics.provider_call(provider.as_str(), ProviderCall::Stream, outcome(&result), started.elapsed());
        result
    }

    /// [`crate::providers::Providers::verify_key`], observed.
    pub(crate) async fn provider_verify(&self, provider: Provider, key: &SecretString) -> VerifyOutcome {
        let started = Instant::now();
        let outcome = self.providers.verify_key(provider, key).await;
        self.metrics.provider_call(provider.as_str(), ProviderCall::Test, outcome.status.as_str(), started.elapsed());
        outcome
    }
}
