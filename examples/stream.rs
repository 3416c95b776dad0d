//! Streaming: print a completion as the model writes it.
//!
//! ```sh
//! export CONVERRA_API_KEY=sk_test_...            # any member's Converra API key
//! export CONVERRA_BASE_URL=http://127.0.0.1:8080 # optional, this is the default
//! cargo run --example stream -- "Write a haiku about key rotation"
//! ```
//!
//! The organization needs a key for the model's provider (see the `quickstart` example) or a
//! platform allowance. `CONVERRA_MODEL` picks the model (default `openai/gpt-4o-mini`).

use std::io::Write;
use std::process::ExitCode;

use converra::{CompletionRequest, Converra};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nerror: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let converra = Converra::from_env().map_err(during("reading the configuration"))?;
    let prompt = std::env::args().nth(1).unwrap_or_else(|| "Write a haiku about API keys.".to_owned());
    let model = std::env::var("CONVERRA_MODEL").unwrap_or_else(|_| "openai/gpt-4o-mini".to_owned());

    let mut chunks = converra.completions().stream(CompletionRequest::new(model, prompt));
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = chunks.next().await {
        // A failure before the answer starts is the first item; one in the middle is the last.
        let chunk = chunk.map_err(during("streaming the completion"))?;
        if let Some(source) = &chunk.key_source {
            writeln!(out, "[key source: {}]", source.scope.as_str())?;
        }
        write!(out, "{}", chunk.delta)?;
        out.flush()?;
        if let Some(usage) = chunk.usage {
            writeln!(out)?;
            writeln!(out, "[{} input + {} output tokens]", usage.input_tokens, usage.output_tokens)?;
        }
    }
    Ok(())
}

/// Names the step that failed, so the error says where the example stopped.
fn during<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}
