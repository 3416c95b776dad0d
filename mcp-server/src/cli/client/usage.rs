//! `converra usage`: a month's tokens and cost, the failed attempts, the forecast, the
//! allowance, the groupings (provider, model, key source, project, API key, member) and the
//! budgets with the month's spend against each.

use converra::{Converra, UsageGroup, UsageQuery, UsageReport, usd_text};

use super::{Failure, budgets, failure, table};

pub async fn run(client: &Converra, month: Option<String>, json: bool) -> Result<(), Failure> {
    let report = client.usage().get(UsageQuery { month }).await.map_err(failure)?;
    if json {
        return table::print_json(&report);
    }
    print(&report);
    Ok(())
}

fn print(report: &UsageReport) {
    let t = &report.totals;
    println!(
        "Usage in {}: {} completions, {} input and {} output tokens",
        report.month, t.requests, t.input_tokens, t.output_tokens
    );
    println!(
        "Of the input, {} tokens read from the provider's cache and {} written to it; {} reasoning tokens",
        t.cache_read_tokens, t.cache_write_tokens, t.reasoning_tokens
    );
    match t.unpriced_requests {
        0 => println!("Cost: {} by the price table", t.cost_text()),
        n => println!(
            "Cost: at least {}; {n} completion(s) of models without a price are not in it (the operator's \
             `converra prices check` names them)",
            t.cost_text().trim_end_matches('+')
        ),
    }
    if let Some(f) = report.forecast {
        println!(
            "Forecast for the month: {} at the rate so far ({}% of the month gone)",
            usd_text(f.cost_micro_usd),
            f.elapsed_permille / 10
        );
    }
    let failed: Vec<_> = report.by_outcome.iter().filter(|g| g.key.as_deref() != Some("ok")).collect();
    if !failed.is_empty() {
        let attempts: u64 = report.by_outcome.iter().map(|g| g.totals.requests).sum();
        let by: Vec<String> =
            failed.iter().map(|g| format!("{} {}", g.key.as_deref().unwrap_or("unknown"), g.totals.requests)).collect();
        let n: u64 = failed.iter().map(|g| g.totals.requests).sum();
        println!("Failed: {n} of {attempts} attempts ({}), not in the totals above", by.join(", "));
    }
    match &report.allowance {
        Some(a) => {
            println!("Allowance (platform key): {} of {} tokens used, {} remaining", a.used, a.limit, a.remaining)
        }
        None => println!("No platform allowance on this server: completions use your own provider keys only"),
    }
    for (title, groups) in [
        ("PROVIDER", &report.by_provider),
        ("MODEL", &report.by_model),
        ("KEY SOURCE", &report.by_key_source),
        ("PROJECT", &report.by_project),
        ("API KEY", &report.by_api_key),
        ("MEMBER", &report.by_member),
    ] {
        println!();
        table::print(&[title, "REQUESTS", "INPUT", "OUTPUT", "COST"], rows(groups));
    }
    println!();
    budgets::print(&report.budgets);
}

fn rows(groups: &[UsageGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            vec![
                g.key.clone().unwrap_or_else(|| "-".into()),
                g.totals.requests.to_string(),
                g.totals.input_tokens.to_string(),
                g.totals.output_tokens.to_string(),
                // A `+`: some of the group's completions had no price.
                g.totals.cost_text(),
            ]
        })
        .collect()
}
