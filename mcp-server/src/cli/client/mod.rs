//! Client commands (`keys`, `complete`, `api-keys`, `usage`): scripts' way into a running
//! Converra, built on the SDK. They read `CONVERRA_API_KEY` and `CONVERRA_BASE_URL` through
//! `Converra::from_env()`. Human tables by default, `--json` for scripts.
//!
//! Exit codes scripts can branch on: 0 ok, 1 other failure, 2 bad usage, 3 configuration,
//! 4 unauthorized, 5 forbidden, 6 not found, 7 invalid input or conflict, 8 rate limited,
//! 9 no provider key / allowance exhausted / AI disabled, 10 provider error, 11 server or network.

mod api_keys;
mod complete;
mod keys;
mod table;

use clap::Subcommand;
use converra::{Converra, UsageQuery};

use super::Failure;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Provider keys: list, add (secret from stdin or a hidden prompt), test, activate, revoke, resolve.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Run a completion with the key Converra resolves.
    Complete(complete::CompleteArgs),
    /// Converra API keys: create (shown once), list, revoke.
    ApiKeys {
        #[command(subcommand)]
        command: api_keys::ApiKeysCommand,
    },
    /// Token usage of a month, with the plan's allowance.
    Usage {
        /// Calendar month (UTC), YYYY-MM; default: this month
        #[arg(long)]
        month: Option<String>,
    },
}

/// Maps an SDK error to a message and an exit code.
pub fn failure(e: converra::Error) -> Failure {
    use converra::Error as E;
    let code = match &e {
        E::Unauthorized { .. } => 4,
        E::Forbidden { .. } => 5,
        E::NotFound { .. } => 6,
        E::Validation { .. } | E::Conflict { .. } | E::PayloadTooLarge { .. } => 7,
        E::RateLimited { .. } => 8,
        E::NoProviderKey { .. } | E::AllowanceExhausted { .. } | E::AiDisabled { .. } => 9,
        E::Provider { .. } => 10,
        E::Config { .. } => 3,
        E::Server { .. } | E::Transport(_) | E::Timeout { .. } | E::Decode { .. } => 11,
        _ => 1,
    };
    Failure { code, message: e.to_string() }
}

pub async fn run(command: ClientCommand, json: bool) -> Result<(), Failure> {
    let client = Converra::from_env().map_err(failure)?;
    match command {
        ClientCommand::Keys { command } => keys::run(&client, command, json).await,
        ClientCommand::Complete(args) => complete::run(&client, args, json).await,
        ClientCommand::ApiKeys { command } => api_keys::run(&client, command, json).await,
        ClientCommand::Usage { month } => {
            let report = client.usage().get(UsageQuery { month }).await.map_err(failure)?;
            if json {
                return table::print_json(&report);
            }
            let a = report.allowance;
            println!(
                "Usage in {}: {} completions, {} input and {} output tokens",
                report.month, report.totals.requests, report.totals.input_tokens, report.totals.output_tokens
            );
            println!("Allowance (platform key): {} of {} tokens used, {} remaining", a.used, a.limit, a.remaining);
            for (title, groups) in [
                ("PROVIDER", &report.by_provider),
                ("MODEL", &report.by_model),
                ("KEY SOURCE", &report.by_key_source),
                ("PROJECT", &report.by_project),
            ] {
                println!();
                let rows = groups
                    .iter()
                    .map(|g| {
                        vec![
                            g.key.clone().unwrap_or_else(|| "-".into()),
                            g.totals.requests.to_string(),
                            g.totals.input_tokens.to_string(),
                            g.totals.output_tokens.to_string(),
                        ]
                    })
                    .collect();
                table::print(&[title, "REQUESTS", "INPUT", "OUTPUT"], rows);
            }
            Ok(())
        }
    }
}
