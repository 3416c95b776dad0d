//! Settings → Integrations: one section per provider with the Active badge, the masked preview, the
//! last test and when; *Add*, *Test*, *Replace*, *Roll back* and *Remove* for admins and owners.
//! Members see the status only, and the sentence "AI provider keys are managed by workspace
//! admins"; the core refuses them anyway. Below, for everyone, the lines that point Claude Code,
//! Codex and the SDKs at Converra (`agents.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use converra::{Environment, HealthStatus, Project, Provider, ProviderKey, ProviderKeyFilter};
use maud::{Markup, html};

use super::error::WebResult;
use super::flash::Flash;
use super::guard::Signed;
use super::layout::{self, Notice, csrf_field, when};
use super::paths::{
    self, INTEGRATIONS, PROVIDER_KEY_ACTIVATE, PROVIDER_KEY_REMOVE, PROVIDER_KEY_REPLACE, PROVIDER_KEY_TEST,
    PROVIDER_KEYS,
};
use converra_core::Core;
use converra_core::vault::{flagged_by_test, known_to_work, was_active_before, works};

/// What a member who cannot change provider keys reads at the top of the page.
const KEYS_MANAGED_BY_ADMINS: &str = "AI provider keys are managed by workspace admins";

/// How each provider is named on the page.
pub fn label(p: Provider) -> &'static str {
    p.label()
}

/// The scope of a key as people read it.
fn scope_text(key: &ProviderKey, projects: &HashMap<String, String>) -> String {
    match &key.project_id {
        None => "Organization".into(),
        Some(id) => format!("Project: {}", projects.get(id).map_or(id.as_str(), String::as_str)),
    }
}

/// A form that failed, shown again open: what was typed (never the secret: a password field is
/// never written back) and the error beside the field it is about.
pub struct Refill {
    pub provider: Provider,
    pub name: String,
    pub scope: String,
    pub environment: Environment,
    pub tested: bool,
    /// `name`, `api_key`, `scope` or `environment`; empty for an error about the whole form.
    pub field: &'static str,
    pub error: String,
}

impl Refill {
    /// The field a core error is about, in the form's words.
    pub fn field_of(e: &converra_core::Error) -> &'static str {
        use converra_core::Error;
        match e {
            Error::NotStored { .. } => "api_key",
            Error::NotFound("Project") => "scope",
            Error::Validation { field: Some(f), .. } => match f.as_str() {
                "name" => "name",
                "project_id" | "scope" => "scope",
                "environment" => "environment",
                _ => "api_key",
            },
            _ => "",
        }
    }
}

/// Where a form adds its key, and which slot it is fixed to (Replace) if any.
pub struct FormTarget<'a> {
    pub action: String,
    pub slot: Option<(&'a Option<String>, Environment)>,
    /// The environment the form offers first.
    pub environment: Environment,
    /// Said beside "Test before saving" when an untested key would replace one that works.
    pub untested: Option<String>,
    /// The scope offered first (a project's own key, from its row on Projects).
    pub scope: Option<String>,
    /// The page to go back to after saving, when it is not Integrations.
    pub back: Option<&'static str>,
}

/// The form that adds a key: for a provider, or fixed to one slot (Replace).
pub fn add_form(
    csrf: &str,
    provider: Provider,
    projects: &[Project],
    target: &FormTarget,
    refill: Option<&Refill>,
) -> Markup {
    let id = |field: &str| format!("{}-{field}", provider.as_str());
    let error = |field: &str| refill.filter(|r| r.field == field).map(|r| r.error.as_str());
    let described = |field: &str| error(field).map(|_| id(&format!("{field}-error")));
    let name = refill.map_or("", |r| r.name.as_str());
    let scope = refill.map_or(target.scope.as_deref().unwrap_or("organization"), |r| r.scope.as_str());
    let environment = refill.map_or(target.environment, |r| r.environment);
    let tested = refill.is_none_or(|r| r.tested);
    html! {
        form.stack method="post" action=(target.action) {
            (csrf_field(csrf))
            input type="hidden" name="provider" value=(provider.as_str());
            @if let Some(back) = target.back { input type="hidden" name="back" value=(back); }
            label for=(id("name")) { "Name" }
            input id=(id("name")) type="text" name="name" required maxlength="100" value=(name)
                placeholder=(format!("{}-Production", label(provider))) aria-describedby=[described("name")];
            (layout::field_error(&id("name-error"), error("name")))
            label for=(id("secret")) { "API Key" }
            input id=(id("secret")) type="password" name="api_key" required autocomplete="off" spellcheck="false"
                aria-describedby=[described("api_key")];
            (layout::field_error(&id("api_key-error"), error("api_key")))
            @if let Some((project, env)) = target.slot {
                input type="hidden" name="scope" value=(project.as_deref().unwrap_or("organization"));
                input type="hidden" name="environment" value=(env.as_str());
            } @else {
                label for=(id("scope")) { "Scope" }
                select id=(id("scope")) name="scope" aria-describedby=[described("scope")] {
                    option value="organization" selected[scope == "organization"] { "Organization" }
                    @for p in projects { option value=(p.id) selected[scope == p.id] { "Project: " (p.name) } }
                }
                (layout::field_error(&id("scope-error"), error("scope")))
                label for=(id("env")) { "Environment" }
                select id=(id("env")) name="environment" aria-describedby=[described("environment")] {
                    option value="live" selected[environment == Environment::Live] { "live (production, sk_live_ keys)" }
                    option value="test" selected[environment == Environment::Test] { "test (development, sk_test_ keys)" }
                }
                (layout::field_error(&id("environment-error"), error("environment")))
            }
            label.check { input type="checkbox" name="test" value="1" checked[tested]; "Test before saving" }
            @if let Some(warning) = &target.untested { p.muted.warning { (warning) } }
            (layout::field_error(&id("form-error"), error("")))
            button type="submit" { "Save" }
        }
    }
}

/// A key's actions, one style per kind: *Test*, *Replace*, *Roll back* / *Make active* change
/// nothing irreversibly (outlined), *Remove* does (red). *Roll back* only for the key the active
/// one replaced; any other inactive key is *Make active*.
fn key_actions(csrf: &str, key: &ProviderKey, rolls_back: bool) -> Markup {
    html! {
        div.actions {
            form.inline method="post" action=(paths::fill(PROVIDER_KEY_TEST, &[&key.id])) {
                (csrf_field(csrf)) button.secondary type="submit" { "Test" }
            }
            @if key.active {
                a.button.secondary href=(paths::fill(PROVIDER_KEY_REPLACE, &[&key.id])) { "Replace" }
            } @else {
                form.inline method="post" action=(paths::fill(PROVIDER_KEY_ACTIVATE, &[&key.id])) {
                    (csrf_field(csrf))
                    button.secondary type="submit" { @if rolls_back { "Roll back" } @else { "Make active" } }
                }
            }
            a.button.danger href=(paths::fill(PROVIDER_KEY_REMOVE, &[&key.id])) { "Remove" }
        }
    }
}

/// Live health from real traffic (distinct from the manual test), when the key was last used,
/// and whether it is due for rotation.
fn health_cell(key: &ProviderKey) -> Markup {
    let Some(h) = &key.health else { return html! {} };
    html! {
        @match h.status {
            // A flag a manual test raised is shown as the last test, not as traffic.
            HealthStatus::InvalidKey | HealthStatus::QuotaExceeded if flagged_by_test(key) => {
                span.muted { "No failed completions" }
            }
            HealthStatus::InvalidKey | HealthStatus::QuotaExceeded => {
                span.badge.bad { (h.last_error.map_or("Failing", |e| e.message())) }
                " ×" (h.consecutive_failures)
                @if let Some(since) = &h.since { br; span.muted { "since " (when(since)) } }
            }
            HealthStatus::Ok => { "Working" }
            HealthStatus::Unknown => { span.muted { "Not used yet" } }
        }
        @if let Some(used) = &h.last_success_at { br; span.muted { "Last used " (when(used)) } }
        @if h.rotation_due { br; span.badge.bad { "Rotation due" } " (" (h.age_days) " days old)" }
    }
}

fn key_row(csrf: &str, key: &ProviderKey, admin: bool, rolls_back: bool, projects: &HashMap<String, String>) -> Markup {
    html! {
        tr id=(format!("key-{}", key.id)) {
            td { (key.name.as_deref().unwrap_or("—")) br; span.muted { (scope_text(key, projects)) " · " (key.environment.as_str()) } }
            td.masked { (key.masked.as_deref().unwrap_or("")) }
            td {
                @if key.active && !works(key) { span.badge.bad { "Active · failing" } }
                @else if key.active { span.badge.active { "Active" } }
                @else { span.badge { "Inactive" } }
            }
            td {
                @match &key.last_test {
                    Some(t) => { (t.message) br; span.muted { (when(&t.tested_at)) } }
                    None => { (key.status.message()) }
                }
            }
            td { (health_cell(key)) }
            @if admin { td { (key_actions(csrf, key, rolls_back)) } }
        }
    }
}

/// The section's header badges: which environments have an active key, and a warning when the
/// environment the organization's API keys use has none (they would get `NO_PROVIDER_KEY`).
fn header_badges(provider: Provider, keys: &[&ProviderKey], usual: Environment) -> Markup {
    let active: Vec<Environment> = [Environment::Live, Environment::Test]
        .into_iter()
        .filter(|e| keys.iter().any(|k| k.active && k.environment == *e))
        .collect();
    html! {
        @for env in &active {
            @if keys.iter().any(|k| k.active && k.environment == *env && !works(k)) {
                span.badge.bad { "Active · " (env.as_str()) " · failing" }
            } @else {
                span.badge.active { "Active · " (env.as_str()) }
            }
        }
        @if keys.is_empty() {
            span.badge { "Not configured" }
        } @else {
            span.muted.count { (keys.len()) @if keys.len() == 1 { " key" } @else { " keys" } }
        }
        @if !keys.is_empty() && !active.contains(&usual) {
            span.badge.bad title=(format!("Your API keys are {}: they find no {} {} key", usual.as_str(), usual.as_str(), label(provider))) {
                "No " (usual.as_str()) " key"
            }
        }
    }
}

/// Under the header, when the environment in use has no key but another has: say it in words.
fn environment_warning(provider: Provider, keys: &[&ProviderKey], usual: Environment) -> Markup {
    let here = keys.iter().any(|k| k.active && k.environment == usual);
    let other = keys.iter().find(|k| k.active && k.environment != usual).map(|k| k.environment);
    html! {
        @if !here && let Some(other) = other {
            p.notice.error {
                "Your organization's API keys are " strong { (usual.as_str()) } ", and a " (usual.as_str()) " API key spends only "
                (usual.as_str()) " provider keys: completions with " (label(provider)) " get NO_PROVIDER_KEY ("
                (converra::missing_key_sentence(provider, usual, &[other])) "). "
                "Add a " (usual.as_str()) " key below."
            }
        }
    }
}

fn provider_section(
    signed: &Signed,
    provider: Provider,
    keys: &[&ProviderKey],
    projects: &[Project],
    names: &HashMap<String, String>,
    refill: Option<&Refill>,
    usual: Environment,
) -> Markup {
    let admin = signed.caller.require_admin().is_ok();
    let refill = refill.filter(|r| r.provider == provider);
    let working: Vec<String> = keys
        .iter()
        .filter(|k| k.active && known_to_work(k))
        .map(|k| format!("{} ({}, {})", k.name.as_deref().unwrap_or("—"), k.environment.as_str(), scope_text(k, names)))
        .collect();
    let untested = (!working.is_empty()).then(|| {
        format!(
            "Unticked, the new key replaces the active key of its slot without a test; working now: {}.",
            working.join(", ")
        )
    });
    let target = FormTarget {
        action: PROVIDER_KEYS.to_owned(),
        slot: None,
        environment: usual,
        untested,
        scope: None,
        back: None,
    };
    html! {
        section.card id=(provider.as_str()) aria-labelledby=(format!("{}-title", provider.as_str())) {
            h2 id=(format!("{}-title", provider.as_str())) {
                (label(provider))
                (header_badges(provider, keys, usual))
            }
            (environment_warning(provider, keys, usual))
            @if !keys.is_empty() {
                table.stacked {
                    thead { tr { th { "Key" } th { "Preview" } th { "State" } th { "Last test" } th { "In traffic" } @if admin { th { "Actions" } } } }
                    tbody { @for k in keys { (key_row(&signed.csrf, k, admin, was_active_before(k, keys), names)) } }
                }
            }
            @if admin {
                details open[refill.is_some()] {
                    summary { "Add API Key" }
                    (add_form(&signed.csrf, provider, projects, &target, refill))
                }
            }
        }
    }
}

/// The whole page: what just happened, and a failed Add form open again with its values.
pub async fn render(
    core: &Core,
    signed: &Signed,
    notice: Option<Notice>,
    status: StatusCode,
    refill: Option<&Refill>,
) -> WebResult<Response> {
    let keys = core.list_provider_keys(&signed.caller, ProviderKeyFilter::default()).await?;
    let projects = core.list_projects(&signed.caller).await?;
    let names: HashMap<String, String> = projects.iter().map(|p| (p.id.clone(), p.name.clone())).collect();
    let usual = core.usual_environment(&signed.caller).await?;
    let body = html! {
        (layout::notice(&notice))
        @if signed.caller.require_admin().is_err() { p.notice.ok { (KEYS_MANAGED_BY_ADMINS) "." } }
        @for provider in Provider::ALL {
            // The active keys first (a stable sort: the others keep their order): what serves is
            // what one looks for.
            @let mine: Vec<&ProviderKey> = {
                let mut mine: Vec<&ProviderKey> = keys.iter().filter(|k| k.provider == provider).collect();
                mine.sort_by_key(|k| !k.active);
                mine
            };
            (provider_section(signed, provider, &mine, &projects, &names, refill, usual))
        }
        (super::agents::panel(core.public_url(), signed.caller.environment))
    };
    let page = layout::page("Integrations", INTEGRATIONS, &signed.caller, &signed.csrf, body);
    Ok((status, page).into_response())
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    render(&core, &signed, notice, StatusCode::OK, None).await
}
