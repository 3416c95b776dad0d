//! Client commands (`keys`, `complete`, `api-keys`, `projects`, `usage`, `budgets`,
//! `settings`): scripts' way into a running Converra, built on the SDK. They read
//! `CONVERRA_API_KEY` and `CONVERRA_BASE_URL` through `Converra::from_env()`. Human tables by
//! default, `--json` for scripts.
//!
//! Exit codes scripts can branch on: 0 ok, 1 other failure, 2 bad usage, 3 configuration,
//! 4 unauthorized, 5 forbidden, 6 not found, 7 invalid input or conflict, 8 rate limited,
//! 9 no provider key / allowance exhausted / budget exceeded / AI disabled, 10 provider error or
//! a key its provider rejected, 11 server or network.

mod api_keys;
mod budgets;
mod complete;
mod keys;
mod projects;
mod settings;
mod table;
mod usage;

use clap::{Args, Subcommand};
use converra::{Converra, ErrorCode};

use super::Failure;

/// The client commands' names, whose help shows [`ENV_HELP`].
pub const COMMANDS: [&str; 7] = ["keys", "complete", "api-keys", "projects", "usage", "budgets", "settings"];

/// What every client command reads from the environment (shown in their `--help`).
pub const ENV_HELP: &str = "\
Environment:
  CONVERRA_API_KEY   the Converra API key to act as (sk_live_… or sk_test_…); required
  CONVERRA_BASE_URL  the Converra server to talk to [default: http://127.0.0.1:8080]";

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Provider keys: list, add (secret from stdin or a hidden prompt), test, activate, revoke, resolve.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[command(flatten)]
        output: Output,
    },
    /// Run a completion with the key Converra resolves.
    Complete(complete::CompleteArgs),
    /// Converra API keys: create (shown once), list, revoke.
    ApiKeys {
        #[command(subcommand)]
        command: api_keys::ApiKeysCommand,
        #[command(flatten)]
        output: Output,
    },
    /// Projects: list, create, delete (a project's own provider keys override the organization's).
    Projects {
        #[command(subcommand)]
        command: projects::ProjectsCommand,
        #[command(flatten)]
        output: Output,
    },
    /// Token usage and cost of a month, with the forecast, the plan's allowance and the budgets.
    Usage {
        /// Calendar month (UTC), YYYY-MM [default: this month]
        #[arg(long)]
        month: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Budgets: monthly limits in dollars on the organization, a project, an API key or a member.
    Budgets {
        #[command(subcommand)]
        command: budgets::BudgetsCommand,
        #[command(flatten)]
        output: Output,
    },
    /// The organization's AI settings: on/off, default tone, key rotation period (owners change them).
    Settings(settings::SettingsArgs),
}

/// The output flag of every client command.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Output {
    /// Print JSON instead of human-readable text, for scripts
    #[arg(long, global = true)]
    pub json: bool,
}

/// Maps an SDK error to a message and an exit code.
pub fn failure(e: converra::Error) -> Failure {
    use converra::Error as E;
    match &e {
        E::Api(api) if api.code == Some(ErrorCode::Unauthorized) => Failure::rejected_api_key(&api.message),
        E::Transport(t) if t.is_connect() => Failure { code: 11, message: unreachable(t) },
        _ => {
            let code = match &e {
                E::Api(api) => exit_code(api.code.as_ref(), api.status),
                E::Config { .. } => 3,
                E::Transport(_) | E::Timeout { .. } | E::Decode { .. } => 11,
                _ => 1,
            };
            Failure { code, message: e.to_string() }
        }
    }
}

/// No connection to the server: what was tried and the likely fix, instead of the transport's
/// chain of causes ("error sending request … tcp connect error … Connection refused").
fn unreachable(e: &reqwest::Error) -> String {
    let at = e.url().map_or_else(|| "CONVERRA_BASE_URL".into(), |url| url.origin().ascii_serialization());
    format!("server unreachable at {at}: is `converra serve` running? (CONVERRA_BASE_URL)")
}

/// The exit code of an error answer (the module doc's list). A code newer than this binary
/// goes by the HTTP status it came with.
fn exit_code(code: Option<&ErrorCode>, status: Option<u16>) -> u8 {
    use ErrorCode as C;
    match code {
        Some(C::Unauthorized) => 4,
        Some(C::Forbidden) => 5,
        Some(C::NotFound) => 6,
        Some(C::ValidationError | C::Conflict | C::PayloadTooLarge | C::ApiKeyLimit) => 7,
        Some(C::RateLimited) => 8,
        Some(C::NoProviderKey | C::AllowanceExhausted | C::BudgetExceeded | C::AiDisabled) => 9,
        Some(C::ProviderError | C::KeyRejected) => 10,
        Some(C::Internal | C::Unavailable) | None => 11,
        Some(_) => exit_code(status.and_then(ErrorCode::for_status).as_ref(), None),
    }
}

pub async fn run(command: ClientCommand) -> Result<(), Failure> {
    let client = Converra::from_env().map_err(failure)?;
    match command {
        ClientCommand::Keys { command, output } => keys::run(&client, command, output.json).await,
        ClientCommand::Complete(args) => {
            let json = args.output.json;
            complete::run(&client, args, json).await
        }
        ClientCommand::ApiKeys { command, output } => api_keys::run(&client, command, output.json).await,
        ClientCommand::Projects { command, output } => projects::run(&client, command, output.json).await,
        ClientCommand::Settings(args) => {
            let json = args.output.json;
            settings::run(&client, args, json).await
        }
        ClientCommand::Usage { month, output: Output { json } } => usage::run(&client, month, json).await,
        ClientCommand::Budgets { command, output } => budgets::run(&client, command, output.json).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_code_and_newer_codes_their_status() {
        assert_eq!(exit_code(Some(&ErrorCode::KeyRejected), Some(422)), 10);
        assert_eq!(exit_code(Some(&ErrorCode::ApiKeyLimit), Some(409)), 7);
        assert_eq!(exit_code(Some(&ErrorCode::BudgetExceeded), Some(402)), 9);
        assert_eq!(exit_code(Some(&ErrorCode::Unavailable), Some(503)), 11);
        assert_eq!(exit_code(None, Some(502)), 11);
        assert_eq!(exit_code(Some(&ErrorCode::Unknown("NEWER".into())), Some(404)), 6);
        assert_eq!(exit_code(Some(&ErrorCode::Unknown("NEWER".into())), Some(418)), 11);
    }
}
