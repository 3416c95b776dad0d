//! The SDK (`converra` crate) against the real server on a random port: every resource handle,
//! and every error variant the server can produce, each with its request id. Providers are
//! wiremock servers replaying the providers' real bodies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use converra::{
    AddProviderKey, ApiError, CompletionRequest, Converra, CreateApiKey, CreateMember, CreateProject, Environment,
    Error, ErrorCode, FinishReason, KeyScope, KeySource, KeyStatus, Plan, Provider, ProviderKey, ProviderKeyFilter,
    ResolveQuery, Role, Tone, UpdateAiSettings, UpdateProviderKey, Usage, UsageQuery,
};
use converra_test_kit::providers::{MockProviders, chat_stream, invalid_key_answer, revoked_key, valid_key};
use converra_test_kit::{Options, TestApp, app_with_mocks, rfc3339, spawn_app, spawn_app_with, unix_now};
use futures_util::StreamExt;
use secrecy::ExposeSecret;

mod budgets;
mod errors;
mod examples;
mod resources;

const MODEL: &str = "gpt-4o-mini";
const OPENAI_MODEL: &str = "openai/gpt-4o-mini";
/// A second OpenAI key the mock accepts once `accept_models` is called for it.
const SECOND_OPENAI: &str = "sk-proj-SECONDopenaiKEY0123456789abcd";
const PLATFORM_OPENAI: &str = "sk-platformKEY0123456789abcdef";

/// Mocks an OpenAI chat answer for `key`, whole and streamed.
async fn answer_openai(mocks: &MockProviders, key: &str, text: &str) {
    mocks.answer_text(Provider::Openai, key, MODEL, text).await;
    let parts: Vec<&str> = text.split_inclusive(' ').collect();
    mocks.answer_chat(Provider::Openai, key, MODEL, true, chat_stream(Provider::Openai, MODEL, &parts)).await;
}

/// An API error: its code, and the server's request id for support.
#[track_caller]
fn assert_api_error(err: &Error, code: ErrorCode) {
    assert_eq!(err.code(), Some(&code), "{err:?}");
    let id = err.request_id().unwrap_or_else(|| panic!("no request id on {err:?}"));
    assert!(!id.is_empty(), "{err:?}");
}

#[track_caller]
fn assert_unauthorized(err: Error, expected: &str) {
    assert_api_error(&err, ErrorCode::Unauthorized);
    assert_eq!(api(&err).message, expected);
}

/// The error answer inside `err`.
#[track_caller]
fn api(err: &Error) -> &ApiError {
    err.api().unwrap_or_else(|| panic!("expected an error answer, got {err:?}"))
}
