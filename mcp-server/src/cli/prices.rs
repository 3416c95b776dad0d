//! `converra prices check`: the models a month's traffic used that the price table (the
//! shipped one and the operator's `CONVERRA_PRICES_FILE`) does not price. Their calls have no
//! cost (`null`, never 0) and no budget can hold them: add a row for each (`prices/README.md`).

use clap::Subcommand;

use super::Failure;
use crate::app;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum PricesCommand {
    /// List the models the month's successful calls used that have no price; exit 1 if any
    /// (so a scheduled run can alert), 0 when every one is priced.
    Check {
        /// The month, YYYY-MM (UTC) [default: this month]
        #[arg(long)]
        month: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, command: PricesCommand) -> Result<(), Failure> {
    let PricesCommand::Check { month, json } = command;
    let table = crate::config::prices::from_env().map_err(Failure::config)?;
    let core = app::open(config).await.map_err(Failure::config)?.core;
    let check = core.spend().check_prices(&table, month.as_deref()).await.map_err(Failure::runtime)?;
    if json {
        let unpriced: Vec<_> = check
            .unpriced
            .iter()
            .map(|m| {
                serde_json::json!({"provider": m.provider, "model": m.model, "requests": m.requests,
                    "organizations": m.organizations, "reason": m.reason})
            })
            .collect();
        let out = serde_json::json!({"month": check.month, "price_table_edition": table.edition(),
            "models_seen": check.models_seen, "unpriced": unpriced, "other_requests": check.other_requests});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        let edition = table.edition().map(|e| format!(" (edition {e})")).unwrap_or_default();
        println!(
            "{}: {} model(s) seen in successful calls, {} without a price in the price table{edition}.",
            check.month,
            check.models_seen,
            check.unpriced.len()
        );
        if !check.unpriced.is_empty() {
            println!("\n{:<10} {:<40} {:>9} {:>5}  WHY", "PROVIDER", "MODEL", "CALLS", "ORGS");
            for m in &check.unpriced {
                println!(
                    "{:<10} {:<40} {:>9} {:>5}  {}",
                    m.provider.as_str(),
                    m.model,
                    m.requests,
                    m.organizations,
                    m.reason
                );
            }
            println!(
                "\nTheir calls have no cost. Add a row for each in the file CONVERRA_PRICES_FILE names (prices/README.md)."
            );
        }
        if check.other_requests > 0 {
            println!(
                "{} call(s) are recorded under (other): an organization's model names beyond its first 100 of the month.",
                check.other_requests
            );
        }
    }
    match check.unpriced.len() {
        0 => Ok(()),
        n => Err(Failure::runtime(format!("{n} model(s) used in {} have no price", check.month))),
    }
}
