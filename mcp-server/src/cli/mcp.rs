//! `converra mcp`: the MCP tools over stdin/stdout for clients that launch a process, acting as
//! the API key in `CONVERRA_API_KEY`, against the local database. Stdout carries only MCP
//! messages; logs go to stderr.

use clap::Args;
use secrecy::ExposeSecret;

use super::Failure;
use crate::app;
use crate::config::Config;
use converra_core::Error;

#[derive(Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    pub vault: super::VaultArgs,
    /// Refused: the key comes from CONVERRA_API_KEY only. Kept (hidden) to say so clearly
    /// instead of clap's "unexpected argument".
    #[arg(long, hide = true, num_args = 0..=1, value_name = "KEY")]
    api_key: Option<Option<String>>,
}

pub async fn run(config: &Config, args: McpArgs) -> Result<(), Failure> {
    if args.api_key.is_some() {
        return Err(Failure {
            code: 2,
            message: "--api-key is not accepted: a key on a command line is visible to every local user (ps, \
                      /proc). Set CONVERRA_API_KEY in the environment instead, and revoke the key you just typed \
                      if others share this machine"
                .into(),
        });
    }
    let Some(key) = config.api_key.clone() else {
        return Err(Failure::config(
            "CONVERRA_API_KEY is not set: `converra mcp` acts as a Converra API key (sk_live_… or sk_test_…)",
        ));
    };
    let core = app::open(config).await.map_err(Failure::config)?.core;
    // Fail at start, as a client command does, on a key Converra refuses; the key is resolved
    // again before every tool call.
    let caller = core.caller_for_token(key.expose_secret()).await.map_err(|e| match e {
        Error::Unauthorized(why) => Failure::rejected_api_key(why.message()),
        e => Failure::runtime(e),
    })?;
    tracing::info!(organization = %caller.org_id, api_key = %caller.api_key_id, "serving MCP over stdio");
    let result = app::serve_mcp_stdio(core.clone(), key).await.map_err(Failure::runtime);
    core.spend().flush_usage().await;
    result
}
