//! Agent traffic: the providers' own APIs carried whole under `/v1`.
//! `chat.rs`: `/v1/chat/completions` forwarded to OpenAI byte for byte (whole and streamed),
//! and on an Anthropic key every field it cannot carry refused by name; `chat_translated.rs`:
//! translated to Anthropic and Gemini and back (tool loops whole and streamed, images, JSON
//! output, the platform cap); `limits.rs`: the `/v1` body limit, and the platform allowance on
//! forwarded calls. `responses.rs`: `/v1/responses`,
//! `/v1/responses/compact` and `/v1/embeddings` forwarded to OpenAI, tenant isolation of stored
//! responses, `GET /v1/models/{id}` and the 404 of every other `/v1` path;
//! `responses_translated.rs`: `/v1/responses` translated to chat-only providers and back;
//! `codex.rs`: the real Codex CLI running a shell-tool turn through `/v1/responses`, on OpenAI
//! and DeepSeek. `messages.rs` and
//! `messages_errors.rs`: `/v1/messages` and `count_tokens` forwarded to Anthropic and DeepSeek,
//! the models list in Anthropic's shape, and refusals in Anthropic's error shape;
//! `messages_translated.rs`: `/v1/messages` on an OpenAI model, translated both ways; `claude_code.rs`:
//! the real Claude Code's tool loop through `/v1/messages`, on Anthropic, DeepSeek and OpenAI. `models.rs`: the models list and one
//! model in Anthropic's shape when asked with `anthropic-version`. `budget.rs`: the process's
//! budget of buffered request bytes, full: 503 with `retry-after` in each API's shape.
//! `spend.rs`: a spent dollar budget's 402 in each API's shape, never retried.
//! `streams.rs`: a `/v1/chat/completions` stream's keep-alive comments while the provider is
//! silent (forwarded and translated), and a mid-stream error event with the key redacted.

mod budget;
mod chat;
mod chat_translated;
mod claude_code;
mod codex;
mod limits;
mod messages;
mod messages_errors;
mod messages_translated;
mod models;
mod provider_errors;
mod responses;
mod responses_translated;
mod spend;
mod streams;

use converra::Provider;
use converra_test_kit::TestApp;
use converra_test_kit::providers::MockProviders;

/// Posts `body` to `/v1/chat/completions` exactly as written (no re-serialization).
async fn post_chat(app: &TestApp, body: impl Into<reqwest::Body>) -> converra_test_kit::Answer {
    app.post_raw("/v1/chat/completions", &app.api_key, body).await
}

/// `sent` with its first `"<from>"` model value replaced by `"<to>"`: what the provider must
/// receive of a forwarded body.
fn with_model(sent: &str, from: &str, to: &str) -> String {
    sent.replacen(&format!("\"{from}\""), &format!("\"{to}\""), 1)
}

/// The chat calls a provider received, as text.
async fn received(mocks: &MockProviders, provider: Provider) -> Vec<String> {
    mocks.chat_requests(provider).await.into_iter().map(|b| String::from_utf8(b).expect("UTF-8")).collect()
}
