//! The `converra` command line (clap). Each command is a few lines over the core.
//!
//! Exit codes: 0 success, 1 failure at run time, 2 bad usage (clap), 3 bad configuration
//! (master key, database, address, a missing `CONVERRA_API_KEY`); the client commands add theirs
//! (`client/mod.rs`), and `mcp` shares their 4 for a key Converra refuses.

mod admin;
mod client;
mod mcp;
mod prices;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use converra::{Environment, Plan};

use crate::config::{Config, MasterKeySource};

#[derive(Parser, Debug)]
#[command(name = "converra", version, about = "Bring-your-own-AI-key vault and completion gateway")]
pub struct Cli {
    /// Log as JSON lines instead of human text (logs go to stderr) [env: CONVERRA_LOG_FORMAT=json]
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the vault is: for the commands that open the database themselves (`serve`, `mcp`,
/// `init`, `admin`), not for the client commands, which reach a running server.
#[derive(Args, Debug, Clone, Default)]
pub struct VaultArgs {
    /// SQLite database file [env: CONVERRA_DB] [default: ./converra.db]
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
    /// File holding the base64 master key; created (mode 0600) on the first start when neither
    /// it nor CONVERRA_MASTER_KEY is set [env: CONVERRA_MASTER_KEY_FILE] [default: the database
    /// file's name + .master.key, beside it]
    #[arg(long, global = true)]
    pub master_key_file: Option<PathBuf>,
    /// The master key being retired, for the first start after `admin rotate-master-key`
    /// [env: CONVERRA_PREVIOUS_MASTER_KEY_FILE]
    #[arg(long, global = true)]
    pub previous_master_key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (REST, OpenAI-compatible and MCP) on one port.
    Serve {
        /// Listen address [env: CONVERRA_ADDR] [default: 127.0.0.1:8080]
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Threads serving requests [env: CONVERRA_WORKERS] [default: one per core]
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=crate::config::MAX_WORKERS as i64))]
        workers: Option<u16>,
        #[command(flatten)]
        vault: VaultArgs,
        /// On PostgreSQL without Redis: accept rate limits kept per replica [env: CONVERRA_LOCAL_RATE_LIMITS=1]
        #[arg(long)]
        local_rate_limits: bool,
    },
    /// Create an organization, its owner and a first API key (shown once, on stdout).
    Init {
        /// Organization name
        #[arg(long)]
        org: String,
        /// Owner's email
        #[arg(long)]
        owner: String,
        /// Plan: free, pro or enterprise
        #[arg(long, default_value = "free")]
        plan: Plan,
        /// Environment of the first API key: live or test
        #[arg(long, default_value = "live")]
        environment: Environment,
        #[command(flatten)]
        vault: VaultArgs,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Serve the MCP tools over stdin/stdout against the local database, as CONVERRA_API_KEY.
    #[command(
        after_help = "Environment:\n  CONVERRA_API_KEY  the Converra API key to act as (sk_live_… or sk_test_…); \
                            required, and never a flag: a command line is visible to every local user"
    )]
    Mcp(mcp::McpArgs),
    /// Operator commands: organizations, plans, key rotation, backups.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// The price table calls are costed with (shipped, plus CONVERRA_PRICES_FILE).
    Prices {
        #[command(subcommand)]
        command: prices::PricesCommand,
        #[command(flatten)]
        vault: VaultArgs,
    },
}

impl Command {
    /// The vault flags of a command that opens the database; `None` for client commands.
    fn vault(&self) -> Option<&VaultArgs> {
        match self {
            Self::Serve { vault, .. }
            | Self::Init { vault, .. }
            | Self::Admin { vault, .. }
            | Self::Prices { vault, .. } => Some(vault),
            Self::Mcp(args) => Some(&args.vault),
            Self::Client(_) => None,
        }
    }

    /// Whether the command opens a vault that must exist already. Only `serve` and `init`
    /// create one (the SQLite file and its master-key file); every other command that opens the
    /// database expects the one `converra serve` made, and a new empty one wherever it was run
    /// would only answer "not found" or an empty list. (`admin migrate` opens `--from`, and
    /// checks that one itself.)
    fn needs_existing_vault(&self) -> bool {
        match self {
            Self::Admin { command: admin::AdminCommand::Migrate { .. }, .. } => false,
            Self::Admin { .. } | Self::Prices { .. } | Self::Mcp(_) => true,
            Self::Serve { .. } | Self::Init { .. } | Self::Client(_) => false,
        }
    }
}

/// The configured SQLite vault exists: the database file and, when the master key comes from
/// a file, that file. A missing one is a configuration failure naming the path looked for and
/// how to point at the right one; nothing is created. (PostgreSQL has no file to look for.)
fn existing_vault(config: &Config) -> Result<(), Failure> {
    if config.database_url.is_some() {
        return Ok(());
    }
    let db = shown(&config.db_path);
    if !config.db_path.exists() {
        return Err(Failure::config(format!(
            "no Converra database at {db}: run this where `converra serve` created converra.db, or point at it with \
             --db PATH (or CONVERRA_DB)"
        )));
    }
    if let MasterKeySource::File(file) = &config.master_key
        && !file.exists()
    {
        return Err(Failure::config(format!(
            "no master key file at {} (the key that opens {db}): point at it with --master-key-file PATH (or \
             CONVERRA_MASTER_KEY_FILE), or set CONVERRA_MASTER_KEY",
            shown(file)
        )));
    }
    Ok(())
}

/// A path as the user can find it: absolute (a relative one depends on where the command ran).
fn shown(path: &std::path::Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display().to_string()
}

/// Parses the command line; every client command's help also names the environment it reads.
pub fn parse() -> Cli {
    let mut command = <Cli as clap::CommandFactory>::command();
    for name in client::COMMANDS {
        command = command.mut_subcommand(name, with_client_env);
    }
    let matches = command.get_matches();
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn with_client_env(command: clap::Command) -> clap::Command {
    command.after_help(client::ENV_HELP).mut_subcommands(with_client_env)
}

/// Everything the CLI can report: exit code and a message for stderr.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn config(message: impl std::fmt::Display) -> Self {
        Self { code: 3, message: message.to_string() }
    }
    pub fn runtime(message: impl std::fmt::Display) -> Self {
        Self { code: 1, message: message.to_string() }
    }

    /// Converra refused the API key in `CONVERRA_API_KEY` (exit 4, as for every client command),
    /// said so, and never in the words a provider's rejection uses ("Invalid API key"), which
    /// sent readers to their AI provider's dashboard. The server's `reason` is added when it
    /// says more (revoked, expired).
    pub fn rejected_api_key(reason: &str) -> Self {
        let mut message = String::from("Converra rejected your API key (CONVERRA_API_KEY)");
        if reason != converra::KeyStatus::InvalidKey.message() {
            message = format!("{message}: {reason}");
        }
        Self { code: 4, message }
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => apply_flags(config, &cli),
        Err(e) => return fail(Failure::config(e)),
    };
    init_logging(&config);
    if cli.command.needs_existing_vault()
        && let Err(f) = existing_vault(&config)
    {
        return fail(f);
    }
    let mut builder = runtime_builder(config.workers);
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return fail(Failure::runtime(format!("cannot start the async runtime: {e}")));
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { addr, .. } => serve::run(Config { addr: addr.unwrap_or(config.addr), ..config }).await,
            Command::Init { org, owner, plan, environment, .. } => {
                admin::init(&config, &org, &owner, plan, environment).await
            }
            Command::Admin { command, .. } => admin::run(&config, command).await,
            Command::Prices { command, .. } => prices::run(&config, command).await,
            Command::Mcp(args) => mcp::run(&config, args).await,
            Command::Client(command) => client::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(f),
    }
}

fn apply_flags(mut config: Config, cli: &Cli) -> Config {
    let vault = cli.command.vault().cloned().unwrap_or_default();
    if let Some(db) = vault.db {
        config = config.with_db(db);
    }
    if let Some(file) = vault.master_key_file {
        config.master_key = MasterKeySource::File(file);
        config.master_key_configured = true;
    }
    if let Some(file) = vault.previous_master_key_file {
        config.previous_master_key = Some(MasterKeySource::File(file));
    }
    config.log_json |= cli.log_json;
    if let Command::Serve { workers, local_rate_limits, .. } = cli.command {
        if let Some(n) = workers {
            config.workers = Some(n.into());
        }
        config.local_rate_limits |= local_rate_limits;
    }
    config
}

fn fail(f: Failure) -> ExitCode {
    eprintln!("error: {}", f.message);
    ExitCode::from(f.code)
}

/// The async runtime for `workers` threads (one per core by default). One worker is tokio's
/// single-threaded scheduler: its run queue is one FIFO without a bound, so under load every
/// connection is served in turn. The multi-threaded scheduler with one worker spilled the
/// wake-ups beyond its 256-slot local queue to a global queue it visits once every 61 tasks,
/// and the connections that spilled waited (`docs/performance.md`, "Third round").
fn runtime_builder(workers: Option<usize>) -> tokio::runtime::Builder {
    if workers == Some(1) {
        return tokio::runtime::Builder::new_current_thread();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
}

/// Logs go to stderr (stdout stays clean for `--json` output and the stdio MCP transport).
fn init_logging(config: &Config) {
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, fmt};
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let caps = log_caps(&filter);
    // Every event must pass both the operator's filter and the caps: a cap is a filter of its
    // own, so no directive in CONVERRA_LOG (however specific its target) can lift it.
    let filter = filter.and(caps);
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let layer = if config.log_json {
        layer.json().with_filter(filter).boxed()
    } else {
        layer.compact().with_filter(filter).boxed()
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The caps beside the operator's filter `wanted`. rmcp logs whole requests (tool arguments,
/// which can hold a provider key) at debug level, and tokio-postgres every statement's
/// parameters (hashes, ciphertexts, emails): both are capped at info — a cap, never a raise.
/// rmcp's info lines are transport chatter, three per stateless MCP call (~11 % of the call's
/// work, `docs/performance.md`): they are capped at warn unless debugging is asked for.
fn log_caps(wanted: &tracing_subscriber::EnvFilter) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    let debugging = wanted.max_level_hint().unwrap_or(LevelFilter::INFO) >= LevelFilter::DEBUG;
    let rmcp = if debugging { LevelFilter::INFO } else { LevelFilter::WARN };
    tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("rmcp", rmcp)
        .with_target("tokio_postgres", LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every flag and argument of every command, as `command path: --flag`, that has no help.
    fn undescribed(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                out.push(format!("{path}: {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            undescribed(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_and_argument_says_what_it_is() {
        let mut missing = Vec::new();
        undescribed(&Cli::command(), "converra", &mut missing);
        assert!(missing.is_empty(), "without a description: {missing:#?}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
