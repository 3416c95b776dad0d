//! Quickstart: connect to Converra, store your OpenAI key, test it, and run a completion.
//!
//! Against a running server (`converra serve` prints a first API key on its first start):
//!
//! ```sh
//! export CONVERRA_API_KEY=sk_test_...            # your Converra API key (an owner or admin)
//! export CONVERRA_BASE_URL=http://127.0.0.1:8080 # optional, this is the default
//! export OPENAI_API_KEY=sk-proj-...              # the OpenAI key to store in Converra
//! cargo run --example quickstart
//! ```
//!
//! The OpenAI key is stored encrypted and becomes the organization's active OpenAI key; from
//! then on every app with a Converra API key runs completions on it without ever seeing it.
//! `CONVERRA_MODEL` picks another model (default `openai/gpt-4o-mini`).

use std::process::ExitCode;

use converra::{AddProviderKey, CompletionRequest, Converra, KeyStatus, Provider};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // CONVERRA_API_KEY and CONVERRA_BASE_URL.
    let converra = Converra::from_env().map_err(during("reading the configuration"))?;

    let me = converra.me().await.map_err(during("connecting to Converra"))?;
    println!(
        "Connected to {} as {} ({}), organization `{}` on the {} plan",
        converra.base_url(),
        me.member.email,
        me.member.role.as_str(),
        me.organization.name,
        me.organization.plan.as_str()
    );

    // Read the provider key from the environment: never put a secret in your source code.
    let openai_key =
        std::env::var("OPENAI_API_KEY").map_err(|_| "OPENAI_API_KEY is not set: export your OpenAI key")?;

    // `test_first()`: Converra checks the key with OpenAI and stores nothing if the test fails
    // (the error then reads "The key was not stored: Invalid API key").
    let key = converra
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI (quickstart)", openai_key).test_first())
        .await
        .map_err(during("storing the key with a test"))?;
    println!("Stored OpenAI key {} as {}", key.id, key.masked.as_deref().unwrap_or("(masked)"));

    // A test can be run again at any time, e.g. from a health check.
    let test = converra.provider_keys().test(&key.id).await.map_err(during("testing the stored key"))?;
    println!("Test: {} - {} ({} ms)", test.status.as_str(), test.message, test.latency_ms);
    if test.status != KeyStatus::Ok {
        return Err(format!("OpenAI did not accept the key: {}", test.message).into());
    }

    // Run a completion: Converra resolves which key pays and says so in `key_source`.
    let model = std::env::var("CONVERRA_MODEL").unwrap_or_else(|_| "openai/gpt-4o-mini".to_owned());
    let answer = converra
        .completions()
        .create(CompletionRequest::new(model, "Say hello to Converra in five words."))
        .await
        .map_err(during("running a completion"))?;
    println!("Answer: {}", answer.content);
    println!(
        "Key source: {} {} ({} input + {} output tokens)",
        answer.key_source.scope.as_str(),
        answer.key_source.key_id.as_deref().unwrap_or("-"),
        answer.usage.input_tokens,
        answer.usage.output_tokens
    );
    Ok(())
}

/// Names the step that failed, so the error says where the example stopped.
fn during<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}
