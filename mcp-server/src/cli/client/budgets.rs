//! `converra budgets …`: monthly limits in dollars on the organization, a project (or one of its
//! models), an API key or a member. Everybody lists them; admins and owners set and delete them.
//! A completion a budget has no room for is refused with exit 9.

use clap::{Args, Subcommand};
use converra::{Budget, BudgetScope, BudgetTarget, Converra, SetBudget, UsageQuery, usd_text};

use super::{Failure, failure, table};

#[derive(Subcommand, Debug)]
pub enum BudgetsCommand {
    /// List the budgets with a month's spend against each.
    List {
        /// Calendar month (UTC), YYYY-MM [default: this month]
        #[arg(long)]
        month: Option<String>,
    },
    /// Set (or replace) the budget of a scope (admins and owners).
    Set {
        #[command(flatten)]
        target: Target,
        /// The limit for a calendar month (UTC), in dollars: 50, 12.5 or $0.25 (at most six decimals)
        #[arg(long, value_name = "DOLLARS", value_parser = dollars, allow_negative_numbers = true)]
        limit_usd: u64,
        /// Percent of the limit at which it warns (the webhook and the banner), 1 to 100 [default: 80]
        #[arg(long)]
        threshold_percent: Option<u8>,
    },
    /// Delete the budget of a scope (admins and owners).
    Delete {
        #[command(flatten)]
        target: Target,
    },
}

/// Which budget: its scope, the object in it and, for a project, one model.
#[derive(Args, Debug)]
pub struct Target {
    /// Where it applies: organization, project, api_key or member
    #[arg(long)]
    scope: BudgetScope,
    /// The project (prj_…), API key (key_…) or member (mem_…) it applies to; none for organization
    #[arg(long)]
    id: Option<String>,
    /// One model of a project it limits alone, as provider/model (e.g. openai/gpt-4o) [default: every model]
    #[arg(long)]
    model: Option<String>,
}

/// Dollars as a person writes them, read by the SDK's one parser; anything else is a usage
/// error (exit 2) naming what an amount looks like, before any request is made.
fn dollars(text: &str) -> Result<u64, String> {
    converra::parse_usd(text).ok_or_else(|| {
        "not an amount in dollars: write it like 50, 12.5 or $0.25 (not negative, at most six decimals)".to_owned()
    })
}

const HEADERS: [&str; 7] = ["SCOPE", "LIMIT", "SPENT", "RESERVED", "THRESHOLD", "STATUS", "RESETS"];

/// A budget's state in a word or two: refused calls first, then the warning.
fn status(budget: &Budget) -> &'static str {
    if budget.exhausted {
        "exhausted"
    } else if budget.over_threshold {
        "over threshold"
    } else {
        "ok"
    }
}

fn rows(budgets: &[Budget]) -> Vec<Vec<String>> {
    budgets
        .iter()
        .map(|b| {
            vec![
                b.scope_text(),
                usd_text(b.limit_micro_usd),
                usd_text(b.spent_micro_usd),
                usd_text(b.reserved_micro_usd),
                format!("{}%", b.threshold_percent),
                status(b).to_owned(),
                b.resets_at.clone(),
            ]
        })
        .collect()
}

/// The budgets table, or "No budgets." (also the last part of `converra usage`).
pub fn print(budgets: &[Budget]) {
    if budgets.is_empty() {
        println!("No budgets.");
    } else {
        table::print(&HEADERS, rows(budgets));
    }
}

pub async fn run(client: &Converra, command: BudgetsCommand, json: bool) -> Result<(), Failure> {
    let budgets = client.budgets();
    match command {
        BudgetsCommand::List { month } => {
            let list = budgets.list(UsageQuery { month }).await.map_err(failure)?;
            if json {
                return table::print_json(&converra::List::from(list));
            }
            print(&list);
            Ok(())
        }
        BudgetsCommand::Set { target: Target { scope, id, model }, limit_usd, threshold_percent } => {
            let set = SetBudget { scope, scope_id: id, model, limit_micro_usd: limit_usd, threshold_percent };
            let budget = budgets.set(set).await.map_err(failure)?;
            if json {
                return table::print_json(&budget);
            }
            eprintln!(
                "Set the {} budget: {} a month, warning at {}%.",
                budget.scope_text(),
                usd_text(budget.limit_micro_usd),
                budget.threshold_percent
            );
            print(&[budget]);
            Ok(())
        }
        BudgetsCommand::Delete { target: Target { scope, id, model } } => {
            let target = BudgetTarget { scope, scope_id: id, model };
            budgets.remove(target.clone()).await.map_err(failure)?;
            let words = converra::scope_words(scope, target.scope_id.as_deref(), target.model.as_deref());
            if json {
                return table::print_json(&serde_json::json!({
                    "scope": scope,
                    "scope_id": target.scope_id,
                    "model": target.model,
                    "deleted": true,
                }));
            }
            eprintln!("Deleted the {words} budget.");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_reads_exhausted_before_over_threshold() {
        let mut budget = Budget {
            scope: BudgetScope::Organization,
            scope_id: None,
            model: None,
            limit_micro_usd: 50_000_000,
            threshold_percent: 80,
            spent_micro_usd: 1_250_000,
            reserved_micro_usd: 0,
            resets_at: "2026-12-01T00:00:00Z".into(),
            over_threshold: false,
            exhausted: false,
            updated_at: String::new(),
        };
        assert_eq!(
            rows(std::slice::from_ref(&budget)),
            [["organization", "$50.000000", "$1.250000", "$0.000000", "80%", "ok", "2026-12-01T00:00:00Z"]]
        );
        budget.over_threshold = true;
        assert_eq!(status(&budget), "over threshold");
        budget.exhausted = true;
        assert_eq!(status(&budget), "exhausted");
    }

    #[test]
    fn only_an_amount_of_dollars_is_a_limit() {
        assert_eq!(dollars("12.5"), Ok(12_500_000));
        assert!(dollars("-5").unwrap_err().contains("not an amount in dollars"));
    }
}
