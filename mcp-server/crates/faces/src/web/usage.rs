//! Settings → Usage for a month: the completions that succeeded and every attempt by outcome,
//! the spend by the price table and the month's forecast, the plan allowance as a bar, the
//! budgets with their spend (a banner when one is spent or past its threshold), and the
//! breakdowns (with their cost) by provider, model, key source, project, API key and member.
//! Admins and owners set and remove budgets here; the rules are the REST face's core functions.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use converra::{ApiKey, Budget, BudgetScope, BudgetTarget, Member, Project, SetBudget, UsageQuery, usd_text};
use maud::{Markup, html};
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Signed, SignedForm};
use super::layout::{self, Notice, counted, csrf_field, when};
use super::paths::{BUDGET_REMOVE, BUDGETS, USAGE};
use converra_core::{Core, Error};

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

/// What the page calls the projects, API keys and members a report names by id: their names
/// where the caller may read them (members' emails for admins; a member knows only their own),
/// the id otherwise.
struct Names<'a> {
    caller: &'a converra_core::Caller,
    projects: Vec<Project>,
    api_keys: Vec<ApiKey>,
    members: Vec<Member>,
}

impl<'a> Names<'a> {
    async fn of(core: &Core, caller: &'a converra_core::Caller) -> WebResult<Self> {
        let admin = caller.require_admin().is_ok();
        Ok(Self {
            caller,
            projects: core.list_projects(caller).await?,
            api_keys: core.list_api_keys(caller).await?,
            members: if admin { core.list_members(caller).await? } else { Vec::new() },
        })
    }

    fn project(&self, id: &str) -> String {
        self.projects.iter().find(|p| p.id == id).map_or_else(|| id.to_owned(), |p| p.name.clone())
    }

    fn api_key(&self, id: &str) -> String {
        self.api_keys.iter().find(|k| k.id == id).map_or_else(|| id.to_owned(), |k| k.name.clone())
    }

    fn member(&self, id: &str) -> String {
        if id == self.caller.member_id {
            return self.caller.email.clone();
        }
        self.members.iter().find(|m| m.id == id).map_or_else(|| id.to_owned(), |m| m.email.clone())
    }

    /// A budget's scope in a few words, by name: "organization", "project Website on
    /// openai/gpt-4o", "member dev@example.com".
    fn scope_words(&self, scope: BudgetScope, id: Option<&str>, model: Option<&str>) -> String {
        let name = id.map(|id| match scope {
            BudgetScope::Organization => id.to_owned(),
            BudgetScope::Project => self.project(id),
            BudgetScope::ApiKey => self.api_key(id),
            BudgetScope::Member => self.member(id),
        });
        converra::scope_words(scope, name.as_deref(), model)
    }

    fn scope(&self, b: &Budget) -> String {
        self.scope_words(b.scope, b.scope_id.as_deref(), b.model.as_deref())
    }
}

/// How much of its limit a budget's settled spend is, in whole percent; at least its threshold
/// once past it (the threshold is reached on the limit's share rounded down).
fn percent_spent(b: &Budget) -> u64 {
    let percent = (u128::from(b.spent_micro_usd) * 100).checked_div(u128::from(b.limit_micro_usd)).unwrap_or(100);
    let percent = u64::try_from(percent).unwrap_or(u64::MAX);
    if b.over_threshold { percent.max(u64::from(b.threshold_percent)) } else { percent }
}

/// The banner of a budget that is spent or past its threshold (this month only: a past
/// month's budgets refuse nothing now).
fn budget_banner(b: &Budget, names: &Names) -> Markup {
    let scope = names.scope(b);
    let limit = usd_text(b.limit_micro_usd);
    html! {
        @if b.exhausted {
            p.notice.error.budget-banner role="alert" {
                "The " (scope) " budget of " (limit) " is spent for this month: completions in its scope are refused until "
                (when(&b.resets_at)) "."
            }
        } @else if b.over_threshold {
            p.notice.warn.budget-banner role="status" {
                "The " (scope) " budget has reached " (percent_spent(b)) "% of its " (limit) " limit."
            }
        }
    }
}

fn status(b: &Budget) -> Markup {
    html! {
        @if b.exhausted { span.badge.bad { "Spent: completions refused" } }
        @else if b.over_threshold { span.badge.bad { "Past " (b.threshold_percent) "%" } }
        @else { span.badge.active { "Within" } }
    }
}

/// What an admin typed into *Set budget*, shown again when it failed.
#[derive(Clone, Deserialize)]
pub struct BudgetForm {
    scope: BudgetScope,
    #[serde(default)]
    scope_id: String,
    #[serde(default)]
    model: String,
    /// Dollars, as a person writes them (`50`, `12.5`, `$0.25`).
    #[serde(default)]
    limit: String,
    /// Empty: the default (80).
    #[serde(default)]
    threshold_percent: String,
}

/// A field left empty is a field not given.
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl BudgetForm {
    fn request(&self) -> Result<SetBudget, Error> {
        let limit = converra::parse_usd(&self.limit)
            .ok_or_else(|| Error::validation("limit", "The limit must be an amount in dollars, like 50 or 12.5"))?;
        let threshold_percent = given(&self.threshold_percent)
            .map(|text| text.parse::<u8>())
            .transpose()
            .map_err(|_| Error::validation("threshold_percent", "threshold_percent must be between 1 and 100"))?;
        Ok(SetBudget {
            scope: self.scope,
            scope_id: given(&self.scope_id),
            model: given(&self.model),
            limit_micro_usd: limit,
            threshold_percent,
        })
    }
}

/// *Set budget*, with what was typed when it failed.
fn set_form(csrf: &str, names: &Names, typed: Option<&BudgetForm>) -> Markup {
    let scope = typed.map_or(BudgetScope::Organization, |t| t.scope);
    let text = |f: fn(&BudgetForm) -> &str| typed.map_or("", f).to_owned();
    let threshold = typed.map_or_else(|| "80".to_owned(), |t| t.threshold_percent.clone());
    html! {
        section.card #set-budget {
            h2 { "Set a budget" }
            p.muted { "A limit in dollars for each calendar month (UTC). A completion whose largest possible cost "
                "does not fit in what is left is refused before anything is sent. Setting the budget of a scope "
                "that has one replaces it." }
            form.stack method="post" action=(BUDGETS) {
                (csrf_field(csrf))
                label for="budget-scope" { "Scope" }
                select id="budget-scope" name="scope" {
                    @for s in BudgetScope::ALL { option value=(s.as_str()) selected[s == scope] { (s.label()) } }
                }
                label for="budget-scope-id" { "Project, API key or member id (empty for the organization)" }
                input id="budget-scope-id" type="text" name="scope_id" list="budget-targets" maxlength="100"
                    placeholder="prj_…, key_… or mem_…" value=(text(|t| &t.scope_id));
                datalist id="budget-targets" {
                    @for p in &names.projects { option value=(p.id) { "project " (p.name) } }
                    @for k in names.api_keys.iter().filter(|k| k.revoked_at.is_none()) { option value=(k.id) { "API key " (k.name) } }
                    @for m in &names.members { option value=(m.id) { "member " (m.email) } }
                }
                label for="budget-model" { "Model (a project's budget only; empty for every model)" }
                input id="budget-model" type="text" name="model" maxlength="200" placeholder="openai/gpt-4o"
                    value=(text(|t| &t.model));
                label for="budget-limit" { "Limit per month (USD)" }
                input id="budget-limit" type="text" inputmode="decimal" name="limit" required placeholder="50"
                    value=(text(|t| &t.limit));
                label for="budget-threshold" { "Warn at (% of the limit)" }
                input id="budget-threshold" type="number" name="threshold_percent" min="1" max="100" value=(threshold);
                button type="submit" { "Set budget" }
            }
        }
    }
}

/// The budgets with the month's spend against each; *Remove* on each for admins.
fn budgets_section(signed: &Signed, names: &Names, budgets: &[Budget], admin: bool) -> Markup {
    html! {
        section.card #budgets {
            h2 { "Budgets" }
            @if budgets.is_empty() {
                p.muted { "No budgets: completions are limited only by the plan." }
            } @else {
                table.stacked {
                    thead { tr { th { "Scope" } th { "Limit" } th { "Spent" } th { "Reserved" } th { "Warns at" } th { "Status" }
                        @if admin { th { "" } } } }
                    tbody { @for b in budgets {
                        tr {
                            td { (names.scope(b)) }
                            td { span.muted.narrow-only { "Limit: " } (usd_text(b.limit_micro_usd)) }
                            td { span.muted.narrow-only { "Spent: " } (usd_text(b.spent_micro_usd)) }
                            td { span.muted.narrow-only { "Reserved: " } (usd_text(b.reserved_micro_usd)) }
                            td { span.muted.narrow-only { "Warns at: " } (b.threshold_percent) "%" }
                            td { (status(b)) }
                            @if admin { td {
                                form.inline method="post" action=(BUDGET_REMOVE) {
                                    (csrf_field(&signed.csrf))
                                    input type="hidden" name="scope" value=(b.scope.as_str());
                                    @if let Some(id) = &b.scope_id { input type="hidden" name="scope_id" value=(id); }
                                    @if let Some(model) = &b.model { input type="hidden" name="model" value=(model); }
                                    button.danger type="submit" aria-label=(format!("Remove the {} budget", names.scope(b))) { "Remove" }
                                }
                            } }
                        }
                    } }
                }
            }
        }
    }
}

/// The page for `query`'s month, with `notice` and, after a failed *Set budget*, what was typed.
async fn usage_page(
    core: &Core,
    signed: &Signed,
    query: UsageQuery,
    notice: &Option<Notice>,
    typed: Option<&BudgetForm>,
) -> WebResult<Markup> {
    let query = UsageQuery { month: query.month.filter(|m| !m.is_empty()) };
    let report = core.spend().usage(&signed.caller, query).await?;
    let admin = signed.caller.require_admin().is_ok();
    let names = Names::of(core, &signed.caller).await?;
    let this_month = report.month == converra_base::ids::current_month();
    let project_name = |id: Option<&str>| id.map_or_else(|| "No project".to_owned(), |id| names.project(id));
    let key_name = |id: Option<&str>| id.map_or_else(|| "—".to_owned(), |id| names.api_key(id));
    let member_name = |id: Option<&str>| id.map_or_else(|| "—".to_owned(), |id| names.member(id));
    let plain = |key: Option<&str>| key.unwrap_or("—").to_owned();
    let attempts: u64 = report.by_outcome.iter().map(|g| g.totals.requests).sum();
    let failed: Vec<&converra::UsageGroup> =
        report.by_outcome.iter().filter(|g| g.key.as_deref() != Some("ok")).collect();
    let body = html! {
        (layout::notice(notice))
        @if this_month { @for b in &report.budgets { (budget_banner(b, &names)) } }
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
        @if let Some(f) = &report.forecast {
            p #forecast { "Forecast for the month: " strong { (usd_text(f.cost_micro_usd)) } " at the rate so far." }
        }
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
        (budgets_section(signed, &names, &report.budgets, admin))
        @if admin { (set_form(&signed.csrf, &names, typed)) }
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
        (usage_table("API key", &report.by_api_key, &key_name))
        (usage_table("Member", &report.by_member, &member_name))
    };
    Ok(layout::page("Usage", USAGE, &signed.caller, &signed.csrf, body))
}

/// Settings → Usage for a month (`?month=2026-11`, this month by default): the totals of the
/// completions that succeeded, every attempt by outcome (failed ones too), the forecast, the
/// plan allowance, the budgets, and the breakdowns.
pub async fn page(
    State(core): State<Arc<Core>>,
    signed: Signed,
    Flash(notice): Flash,
    Query(query): Query<UsageQuery>,
) -> WebResult<Response> {
    Ok(usage_page(&core, &signed, query, &notice, None).await?.into_response())
}

/// Back to the page: a GET on an address that only takes the page's forms.
pub async fn to_page() -> Redirect {
    Redirect::to(USAGE)
}

/// A failed form: the page again (this month) with why, and the status the REST API gives.
async fn refused(core: &Core, signed: Signed, e: &Error, typed: Option<&BudgetForm>) -> WebResult<Response> {
    let (status, text) = explain(e);
    let page = usage_page(core, &signed, UsageQuery::default(), &Notice::error(text), typed).await?;
    Ok((status, page).into_response())
}

pub async fn set_budget(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<BudgetForm>,
) -> WebResult<Response> {
    let outcome = match f.caller.require_admin().and_then(|()| f.form.request()) {
        Ok(req) => core.spend().set_budget(&f.caller, req).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(b) => {
            let names = Names::of(&core, &f.caller).await?;
            let text = format!(
                "Set the {} budget: {} a month, warning at {}%.",
                names.scope(&b),
                usd_text(b.limit_micro_usd),
                b.threshold_percent
            );
            Ok(flash::redirect(&site, USAGE, Notice::ok(text)))
        }
        Err(e) => refused(&core, Signed::new(f.caller, f.csrf), &e, Some(&f.form)).await,
    }
}

/// *Remove* on a budget's row: which budget, by its scope (and model).
#[derive(Deserialize)]
pub struct RemoveForm {
    scope: BudgetScope,
    #[serde(default)]
    scope_id: String,
    #[serde(default)]
    model: String,
}

pub async fn remove_budget(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<RemoveForm>,
) -> WebResult<Response> {
    let target = BudgetTarget { scope: f.form.scope, scope_id: given(&f.form.scope_id), model: given(&f.form.model) };
    let names = Names::of(&core, &f.caller).await?;
    let scope = names.scope_words(target.scope, target.scope_id.as_deref(), target.model.as_deref());
    match core.spend().delete_budget(&f.caller, target).await {
        Ok(()) => Ok(flash::redirect(&site, USAGE, Notice::ok(format!("Removed the {scope} budget.")))),
        Err(e) => refused(&core, Signed::new(f.caller, f.csrf), &e, None).await,
    }
}
