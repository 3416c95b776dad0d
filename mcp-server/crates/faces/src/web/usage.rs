//! Settings → Usage for a month: the completions that succeeded and every attempt by outcome,
//! the spend by the price table, the plan allowance as a bar, and the breakdowns (with their cost)
//! by provider, model, key source and project.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use converra::UsageQuery;
use maud::{Markup, html};

use super::error::WebResult;
use super::guard::Signed;
use super::layout::{self, counted};
use super::paths::USAGE;
use converra_core::Core;

/// One grouping of a usage report as a table (the same breakdowns `converra usage` prints).
fn usage_table(title: &str, groups: &[converra::UsageGroup], name: &dyn Fn(Option<&str>) -> String) -> Markup {
    html! {
        @if !groups.is_empty() {
            table {
                thead { tr { th { (title) } th { "Requests" } th { "Input tokens" } th { "Output tokens" } th { "Cost" } } }
                tbody { @for g in groups {
                    tr { td { (name(g.key.as_deref())) } td { (g.totals.requests) } td { (g.totals.input_tokens) } td { (g.totals.output_tokens) }
                        td { (g.totals.cost_text()) } }
                } }
            }
        }
    }
}

/// Settings → Usage for a month (`?month=2026-11`, this month by default): the totals of the
/// completions that succeeded, every attempt by outcome (failed ones too), the plan allowance,
/// and the breakdowns by provider, model, key source and project.
pub async fn page(
    State(core): State<Arc<Core>>,
    signed: Signed,
    Query(query): Query<UsageQuery>,
) -> WebResult<Response> {
    let query = UsageQuery { month: query.month.filter(|m| !m.is_empty()) };
    let report = core.usage(&signed.caller, query).await?;
    let projects = core.list_projects(&signed.caller).await?;
    let project_name = |id: Option<&str>| match id {
        None => "No project".to_owned(),
        Some(id) => projects.iter().find(|p| p.id == id).map_or_else(|| id.to_owned(), |p| p.name.clone()),
    };
    let plain = |key: Option<&str>| key.unwrap_or("—").to_owned();
    let attempts: u64 = report.by_outcome.iter().map(|g| g.totals.requests).sum();
    let failed: Vec<&converra::UsageGroup> =
        report.by_outcome.iter().filter(|g| g.key.as_deref() != Some("ok")).collect();
    let body = html! {
        form.inline-fields method="get" action=(USAGE) {
            label for="month" { "Month" }
            input id="month" type="month" name="month" value=(report.month) required;
            button.secondary type="submit" { "Show" }
        }
        p { "In " (report.month) ": " strong { (counted(report.totals.requests, "completion", "completions")) } " succeeded, "
            (report.totals.input_tokens) " input and " (report.totals.output_tokens) " output tokens." }
        p #spend { "Spend: " strong { (report.totals.cost_text().trim_end_matches('+')) }
            @if report.totals.cost_known { " by the price table." } @else {
                ", at least: " (counted(report.totals.unpriced_requests, "completion", "completions"))
                " of models without a price are not in it (a + marks them below)."
            } }
        p.muted { "Of the input, " (report.totals.cache_read_tokens) " tokens were read from the provider's cache and "
            (report.totals.cache_write_tokens) " written to it; " (report.totals.reasoning_tokens)
            " output tokens were reasoning." }
        @if let Some(a) = &report.allowance {
            section.card {
                h2 { "Plan allowance" }
                label for="allowance" { (a.used) " of " (a.limit) " tokens used, " (a.remaining) " left" }
                progress id="allowance" max=(a.limit) value=(a.used.min(a.limit)) { (a.used) " of " (a.limit) }
                p.muted { "Completions that run on your own provider keys do not count toward it." }
            }
        } @else {
            p.muted { "No plan allowance here: completions run only on your own provider keys." }
        }
        @if !failed.is_empty() {
            p.notice.error #failed {
                (counted(failed.iter().map(|g| g.totals.requests).sum(), "completion", "completions")) " of "
                (counted(attempts, "attempt", "attempts")) " failed: "
                @for (i, g) in failed.iter().enumerate() {
                    @if i > 0 { ", " }
                    (g.key.as_deref().unwrap_or("unknown")) " × " (g.totals.requests)
                }
                ". They are not in the totals above."
            }
        }
        (usage_table("Outcome", &report.by_outcome, &plain))
        (usage_table("Provider", &report.by_provider, &plain))
        (usage_table("Model", &report.by_model, &plain))
        (usage_table("Key source", &report.by_key_source, &plain))
        (usage_table("Project", &report.by_project, &project_name))
    };
    Ok(layout::page("Usage", USAGE, &signed.caller, &signed.csrf, body).into_response())
}
