//! # Converra
//!
//! The typed Rust client for Converra, the self-hosted "bring your own AI key" vault and
//! completion gateway, and the one definition of every type on its wire ([`types`]).
//!
//! An organization stores its own AI provider keys (OpenAI, Anthropic, Gemini, DeepSeek) in
//! Converra once; apps then run completions with a *Converra* API key and Converra picks the
//! provider key: the project's, else the organization's, else the platform's allowance.
//!
//! ## Quick start
//!
//! ```no_run
//! use converra::{AddProviderKey, CompletionRequest, Converra, Provider, ProviderKeyFilter};
//!
//! #[tokio::main]
//! async fn main() -> converra::Result<()> {
//!     // CONVERRA_API_KEY=sk_live_... and optionally CONVERRA_BASE_URL=https://converra.example.com
//!     let converra = Converra::from_env()?;
//!
//!     // Store an OpenAI key for the whole organization, testing it first.
//!     let key = converra
//!         .provider_keys()
//!         .add(AddProviderKey::new(Provider::Openai, "OpenAI-Production", "sk-proj-...").test_first())
//!         .await?;
//!     println!("stored {} as {}", key.id, key.masked.unwrap_or_default());
//!
//!     for key in converra.provider_keys().list(ProviderKeyFilter::default()).await? {
//!         println!("{} {} {:?}", key.id, key.provider, key.status);
//!     }
//!
//!     // Run a completion; Converra resolves which key pays.
//!     let answer = converra.completions().create(CompletionRequest::new("openai/gpt-4o-mini", "Say hello")).await?;
//!     println!("{} (key source: {:?})", answer.content, answer.key_source.scope);
//!     Ok(())
//! }
//! ```
//!
//! ## The client
//!
//! [`Converra::new`] takes an API key and talks to `http://127.0.0.1:8080`;
//! [`Converra::from_env`] reads `CONVERRA_API_KEY` and `CONVERRA_BASE_URL`;
//! [`Converra::builder`] sets everything else (base URL, timeout, retries, your own
//! `reqwest::Client`, user agent). The client is cheap to clone and never shows its key in
//! `Debug` output or errors.
//!
//! Each API area has a handle: [`provider_keys()`](Converra::provider_keys),
//! [`completions()`](Converra::completions), [`api_keys()`](Converra::api_keys),
//! [`members()`](Converra::members), [`projects()`](Converra::projects),
//! [`usage()`](Converra::usage), [`audit_events()`](Converra::audit_events),
//! [`settings()`](Converra::settings), plus [`me()`](Converra::me).
//!
//! ## Errors, retries and rate limits
//!
//! Every failure is an [`Error`]; an error answer is [`Error::Api`] with an [`ApiError`]: its
//! code ([`ErrorCode`]), status, message and the fields beside it, and the server's request id
//! for support ([`Error::request_id`]). A provider key sent with a test that it failed answers
//! `stored: false`, and the error reads "The key was not stored: Invalid API key".
//! Answers 429, 502 and 503 and connection failures are retried with jittered exponential
//! backoff, honouring `Retry-After`, up to 2 times by default
//! ([`ConverraBuilder::max_retries`]) — for `GET`, `PUT` and `DELETE` only, unless
//! [`ConverraBuilder::retry_non_idempotent`] is set. The key's rate-limit state from the last
//! answer is at [`Converra::last_rate_limit`].
//!
//! ## Features
//!
//! - `client` (default): the HTTP client. Without it the crate is just the wire types: what the
//!   server's core and faces use (the `converra` binary enables the client for its script
//!   commands, `converra keys …`, which are built on this SDK).
#![deny(missing_docs)]

pub mod types;

pub use types::*;

#[cfg(feature = "client")]
mod builder;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
pub mod resources;
#[cfg(feature = "client")]
mod retry;

#[cfg(feature = "client")]
pub use builder::ConverraBuilder;
#[cfg(feature = "client")]
pub use client::{Converra, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, RateLimit};
#[cfg(feature = "client")]
pub use error::{ApiError, Error, Result};
