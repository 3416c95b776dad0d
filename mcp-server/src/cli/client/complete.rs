//! `converra complete "prompt" --model …`.

use std::io::Write;

use clap::Args;
use converra::{CompletionRequest, Converra, Message, Tone};
use futures_util::StreamExt;

use super::{Failure, failure, table};

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
    let req = CompletionRequest {
        model: args.model,
        messages,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        project_id: args.project,
        tone: args.tone,
        ..Default::default()
    };
    if args.stream && !json {
        let mut stream = client.completions().stream(req);
        let mut out = std::io::stdout();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failure)?;
            let _ = write!(out, "{}", chunk.delta);
            let _ = out.flush();
            if let Some(usage) = chunk.usage {
                let _ = writeln!(out);
                eprintln!("[{} input + {} output tokens]", usage.input_tokens, usage.output_tokens);
            }
        }
        return Ok(());
    }
    let c = client.completions().create(req).await.map_err(failure)?;
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
