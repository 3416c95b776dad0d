//! `converra complete "prompt" --model …`.

use std::io::Write;

use clap::Args;
use converra::{CompletionRequest, Converra, KeyStatus, Message, Resolution, ResolveQuery, Tone};
use futures_util::StreamExt;

use super::{Failure, failure, table};
use converra_core::completions::parse_model;

#[derive(Args, Debug)]
pub struct CompleteArgs {
    /// The prompt (a user message)
    pub prompt: String,
    /// provider/model, or a model name whose provider is inferred (gpt-…, claude-…, gemini-…, deepseek-…)
    #[arg(long)]
    pub model: String,
    /// A system instruction
    #[arg(long)]
    pub system: Option<String>,
    /// Run in this project (its provider key wins)
    #[arg(long)]
    pub project: Option<String>,
    /// Longest answer, in tokens [default: the provider's]
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2: lower is more deterministic [default: the provider's]
    #[arg(long)]
    pub temperature: Option<f32>,
    /// professional, friendly or casual
    #[arg(long)]
    pub tone: Option<Tone>,
    /// Print the answer as it arrives
    #[arg(long)]
    pub stream: bool,
    #[command(flatten)]
    pub output: super::Output,
}

pub async fn run(client: &Converra, args: CompleteArgs, json: bool) -> Result<(), Failure> {
    let mut messages = Vec::new();
    if let Some(system) = args.system {
        messages.push(Message::system(system));
    }
    messages.push(Message::user(args.prompt));
    let (model, project) = (args.model.clone(), args.project.clone());
    let req = CompletionRequest {
        model: args.model,
        messages,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        project_id: args.project,
        tone: args.tone,
        ..Default::default()
    };
    let explain = |e| failed(client, &model, project.clone(), e);
    if args.stream && !json {
        let mut stream = client.completions().stream(req);
        let mut out = std::io::stdout();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return Err(explain(e).await),
            };
            let _ = write!(out, "{}", chunk.delta);
            let _ = out.flush();
            if let Some(usage) = chunk.usage {
                let _ = writeln!(out);
                eprintln!("[{} input + {} output tokens]", usage.input_tokens, usage.output_tokens);
            }
        }
        return Ok(());
    }
    let c = match client.completions().create(req).await {
        Ok(c) => c,
        Err(e) => return Err(explain(e).await),
    };
    if json {
        return table::print_json(&c);
    }
    println!("{}", c.content);
    eprintln!(
        "[{}/{} · {} key{} · {} input + {} output tokens]",
        c.provider,
        c.model,
        c.key_source.scope.as_str(),
        c.key_source.masked.map(|m| format!(" {m}")).unwrap_or_default(),
        c.usage.input_tokens,
        c.usage.output_tokens
    );
    Ok(())
}

/// A completion failed. When the provider refused the key itself, the message adds the key's
/// health and names the key that failed, with the ways out: the error says what failed, and
/// the server's resolution (asked after the fact, as `keys resolve` does) says which key.
async fn failed(client: &Converra, model: &str, project_id: Option<String>, e: converra::Error) -> Failure {
    let key_at_fault = match &e {
        converra::Error::Api(api) => api.provider_status.filter(|s| blames_the_key(*s)).map(|_| api.health.clone()),
        _ => None,
    };
    let mut failure = failure(e);
    let Some(health) = key_at_fault else { return failure };
    if let Some(health) = health {
        failure.message = format!("{} ({health})", failure.message);
    }
    let Ok((provider, _)) = parse_model(model) else { return failure };
    let resolved = client.provider_keys().resolve(ResolveQuery { provider, project_id }).await;
    if let Ok(Resolution { key_id: Some(id), masked, source, .. }) = resolved {
        failure.message = format!(
            "{}. It failed on the active {} key {id}{}: check it with `converra keys test {id}`, or make another \
             key active with `converra keys activate <pk_…>` (`converra keys list --provider {provider}` lists them)",
            failure.message,
            source.as_str(),
            masked.map(|m| format!(" ({m})")).unwrap_or_default()
        );
    }
    failure
}

/// The provider's answers that are about the key (another key may work), not about the
/// provider or the request.
fn blames_the_key(status: KeyStatus) -> bool {
    matches!(status, KeyStatus::InvalidKey | KeyStatus::QuotaExceeded | KeyStatus::PermissionDenied)
}
