//! `converra mcp`: the MCP tools over stdin/stdout for clients that launch a process, acting as
//! the API key in `CONVERRA_API_KEY`, against the local database. Stdout carries only MCP
//! messages; logs go to stderr.

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::Failure;
use crate::app;
use crate::config::Config;

#[derive(Args, Debug)]
pub struct McpArgs {
    /// The Converra API key to act as (sk_live_… or sk_test_…); prefer the environment variable
    #[arg(long, env = "CONVERRA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

pub async fn run(config: &Config, args: McpArgs) -> Result<(), Failure> {
    let Some(key) = args.api_key.filter(|k| !k.is_empty()).map(SecretString::from) else {
        return Err(Failure::runtime(
            "CONVERRA_API_KEY is not set: `converra mcp` acts as a Converra API key (sk_live_… or sk_test_…)",
        ));
    };
    let core = app::open(config).await.map_err(Failure::config)?.core;
    // Fail at start with the 401's message ("Invalid API key", "API key has been revoked", …);
    // the key is resolved again before every tool call.
    let caller = core.caller_for_token(key.expose_secret()).await.map_err(Failure::runtime)?;
    tracing::info!(organization = %caller.org_id, api_key = %caller.api_key_id, "serving MCP over stdio");
    let result = app::serve_mcp_stdio(core.clone(), key).await.map_err(Failure::runtime);
    core.flush_usage().await;
    result
}
