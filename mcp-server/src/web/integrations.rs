//! Settings → Integrations (seeds 000, 001, 003): one section per provider with the Active
//! badge, the masked preview, the last test and when; *Add*, *Test*, *Replace*, *Roll back*
//! and *Remove* for admins and owners. Members see the status only, and the sentence "AI
//! provider keys are managed by workspace admins"; the core refuses them anyway.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use converra::{
    AddProviderKey, Environment, HealthStatus, KeySource, Project, Provider, ProviderKey, ProviderKeyFilter, Resolution,
};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use super::error::{WebResult, explain, notice_of};
use super::guard::{Signed, SignedForm};
use super::layout::{self, Notice, csrf_field, when};
use crate::core::{Caller, Core};

pub const PATH: &str = "/settings/integrations";
pub const MEMBERS_SENTENCE: &str = "AI provider keys are managed by workspace admins";

/// How each provider is named on the page.
pub fn label(p: Provider) -> &'static str {
    match p {
        Provider::Openai => "OpenAI",
        Provider::Anthropic => "Anthropic",
        Provider::Gemini => "Gemini",
        Provider::Deepseek => "DeepSeek",
    }
}

/// The scope of a key as people read it.
fn scope_text(key: &ProviderKey, projects: &HashMap<String, String>) -> String {
    match &key.project_id {
        None => "Organization".into(),
        Some(id) => format!("Project: {}", projects.get(id).map_or(id.as_str(), String::as_str)),
    }
}

/// The form that adds a key: for a provider, or fixed to one slot (Replace).
pub fn add_form(
    csrf: &str,
    provider: Provider,
    projects: &[Project],
    slot: Option<(&Option<String>, Environment)>,
) -> Markup {
    let id = |field: &str| format!("{}-{field}", provider.as_str());
    html! {
        form.stack method="post" action="/settings/integrations/keys" {
            (csrf_field(csrf))
            input type="hidden" name="provider" value=(provider.as_str());
            label for=(id("name")) { "Name" }
            input id=(id("name")) type="text" name="name" required maxlength="100" placeholder=(format!("{}-Production", label(provider)));
            label for=(id("secret")) { "API Key" }
            input id=(id("secret")) type="password" name="api_key" required autocomplete="off" spellcheck="false";
            @if let Some((project, env)) = slot {
                input type="hidden" name="scope" value=(project.as_deref().unwrap_or("organization"));
                input type="hidden" name="environment" value=(env.as_str());
            } @else {
                label for=(id("scope")) { "Scope" }
                select id=(id("scope")) name="scope" {
                    option value="organization" { "Organization" }
                    @for p in projects { option value=(p.id) { "Project: " (p.name) } }
                }
                label for=(id("env")) { "Environment" }
                select id=(id("env")) name="environment" {
                    option value="live" { "live (production)" }
                    option value="test" { "test (development)" }
                }
            }
            label.check { input type="checkbox" name="test" value="1" checked; "Test before saving" }
            button type="submit" { "Save" }
        }
    }
}

fn key_actions(csrf: &str, key: &ProviderKey) -> Markup {
    let base = format!("{PATH}/keys/{}", key.id);
    html! {
        div.actions {
            form.inline method="post" action=(format!("{base}/test")) {
                (csrf_field(csrf)) button.secondary type="submit" { "Test" }
            }
            @if key.active {
                a href=(format!("{base}/replace")) { "Replace" }
            } @else {
                form.inline method="post" action=(format!("{base}/activate")) {
                    (csrf_field(csrf)) button.secondary type="submit" { "Roll back" }
                }
            }
            a href=(format!("{base}/remove")) { "Remove" }
        }
    }
}

/// Live health from real traffic (distinct from the manual test), when the key was last used,
/// and whether it is due for rotation.
fn health_cell(key: &ProviderKey) -> Markup {
    let Some(h) = &key.health else { return html! {} };
    html! {
        @match h.status {
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

fn key_row(csrf: &str, key: &ProviderKey, admin: bool, projects: &HashMap<String, String>) -> Markup {
    html! {
        tr id=(format!("key-{}", key.id)) {
            td { (key.name.as_deref().unwrap_or("—")) br; span.muted { (scope_text(key, projects)) " · " (key.environment.as_str()) } }
            td.masked { (key.masked.as_deref().unwrap_or("")) }
            td {
                @if key.active { span.badge.active { "Active" } } @else { span.badge { "Inactive" } }
            }
            td {
                @match &key.last_test {
                    Some(t) => { (t.message) br; span.muted { (when(&t.tested_at)) } }
                    None => { (key.status.message()) }
                }
            }
            td { (health_cell(key)) }
            @if admin { td { (key_actions(csrf, key)) } }
        }
    }
}

fn provider_section(
    signed: &Signed,
    provider: Provider,
    keys: &[&ProviderKey],
    projects: &[Project],
    names: &HashMap<String, String>,
) -> Markup {
    let admin = signed.caller.require_admin().is_ok();
    let active = keys.iter().any(|k| k.active);
    html! {
        section.card id=(provider.as_str()) aria-labelledby=(format!("{}-title", provider.as_str())) {
            h2 id=(format!("{}-title", provider.as_str())) {
                (label(provider))
                @if active { span.badge.active { "Active" } } @else { span.badge { "Not configured" } }
            }
            @if !keys.is_empty() {
                table.stacked {
                    thead { tr { th { "Key" } th { "Preview" } th { "State" } th { "Last test" } th { "In traffic" } @if admin { th { "Actions" } } } }
                    tbody { @for k in keys { (key_row(&signed.csrf, k, admin, names)) } }
                }
            }
            @if admin {
                details { summary { "Add API Key" } (add_form(&signed.csrf, provider, projects, None)) }
            }
        }
    }
}

/// The whole page, with what just happened.
pub async fn render(core: &Core, signed: &Signed, notice: Option<Notice>, status: StatusCode) -> WebResult<Response> {
    let keys = core.list_provider_keys(&signed.caller, ProviderKeyFilter::default()).await?;
    let projects = core.list_projects(&signed.caller).await?;
    let names: HashMap<String, String> = projects.iter().map(|p| (p.id.clone(), p.name.clone())).collect();
    let body = html! {
        (layout::notice(&notice))
        @if signed.caller.require_admin().is_err() { p.notice.ok { (MEMBERS_SENTENCE) "." } }
        @for provider in Provider::ALL {
            @let mine: Vec<&ProviderKey> = keys.iter().filter(|k| k.provider == provider).collect();
            (provider_section(signed, provider, &mine, &projects, &names))
        }
    };
    let page = layout::page("Integrations", PATH, &signed.caller, &signed.csrf, body);
    Ok((status, page).into_response())
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed) -> WebResult<Response> {
    render(&core, &signed, None, StatusCode::OK).await
}

/// Renders the page after a form: the success's notice, or the error's words and status.
async fn after<T>(
    core: &Core,
    caller: Caller,
    csrf: String,
    outcome: crate::core::Result<T>,
    ok: impl FnOnce(T) -> String,
) -> WebResult<Response> {
    let (status, notice) = notice_of(outcome, ok);
    render(core, &Signed::new(caller, csrf), notice, status).await
}

#[derive(Deserialize)]
pub struct AddForm {
    provider: Provider,
    name: String,
    api_key: SecretString,
    scope: String,
    environment: Environment,
    test: Option<String>,
}

pub async fn add(State(core): State<Arc<Core>>, f: SignedForm<AddForm>) -> WebResult<Response> {
    let form = f.form;
    let tested = form.test.is_some();
    let req = AddProviderKey {
        provider: form.provider,
        name: form.name,
        api_key: form.api_key,
        project_id: (form.scope != "organization").then_some(form.scope),
        environment: Some(form.environment),
        test: tested,
    };
    let outcome = core.add_provider_key(&f.caller, req).await;
    after(&core, f.caller, f.csrf, outcome, |k| {
        let name = k.name.unwrap_or_default();
        let test = if tested { " Connection successful." } else { "" };
        format!("Saved {name}: it is now the active {} key.{test}", label(k.provider))
    })
    .await
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn test(State(core): State<Arc<Core>>, Path(id): Path<String>, f: SignedForm<Empty>) -> WebResult<Response> {
    let outcome = core.test_provider_key(&f.caller, &id).await;
    let signed = Signed::new(f.caller, f.csrf);
    let notice = match outcome {
        Ok(t) if t.status == converra::KeyStatus::Ok => Notice::ok(t.message),
        Ok(t) => Notice::error(t.message),
        Err(e) => Notice::error(explain(&e).1),
    };
    render(&core, &signed, notice, StatusCode::OK).await
}

pub async fn activate(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> WebResult<Response> {
    let outcome = core.activate_provider_key(&f.caller, &id).await;
    after(&core, f.caller, f.csrf, outcome, |k| {
        format!("Rolled back: {} is the active {} key again.", k.name.unwrap_or_default(), label(k.provider))
    })
    .await
}

/// What serves a slot now, in a sentence (after *Remove*).
pub fn now_serving(provider: Provider, r: &Resolution) -> String {
    let masked = r.masked.as_deref().unwrap_or("");
    match r.source {
        KeySource::Project => format!("Now serving {}: the project's key {masked}.", label(provider)),
        KeySource::Organization => format!("Now serving {}: the organization's key {masked}.", label(provider)),
        KeySource::Platform => format!("Now serving {}: your plan's monthly token allowance.", label(provider)),
        KeySource::None => format!("No key serves {} now: its AI features stop until a key is added.", label(provider)),
    }
}

pub async fn remove(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> WebResult<Response> {
    let outcome = core.remove_provider_key_explained(&f.caller, &id).await;
    after(&core, f.caller, f.csrf, outcome, |(k, now)| {
        format!("Removed {}. {}", k.name.unwrap_or_default(), now_serving(k.provider, &now))
    })
    .await
}

pub async fn remove_page(State(core): State<Arc<Core>>, Path(id): Path<String>, signed: Signed) -> WebResult<Response> {
    let key = core.get_provider_key(&signed.caller, &id).await?;
    let body = html! {
        section.card {
            h2 { "Remove " (key.name.as_deref().unwrap_or("")) "?" }
            p { (label(key.provider)) " key " span.masked { (key.masked.as_deref().unwrap_or("")) } " will be deleted for good. "
                "Completions then use the next key in line: the project's, the organization's, or your plan's allowance." }
            div.actions {
                form.inline method="post" action=(format!("{PATH}/keys/{}/remove", key.id)) {
                    (csrf_field(&signed.csrf)) button.danger type="submit" { "Remove" }
                }
                a href=(PATH) { "Cancel" }
            }
        }
    };
    Ok(layout::page("Integrations", PATH, &signed.caller, &signed.csrf, body).into_response())
}

pub async fn replace_page(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    signed: Signed,
) -> WebResult<Response> {
    let key = core.get_provider_key(&signed.caller, &id).await?;
    let body = html! {
        section.card {
            h2 { "Replace " (key.name.as_deref().unwrap_or("")) }
            p { "The new key becomes active at once. The old one (" span.masked { (key.masked.as_deref().unwrap_or("")) }
                ") stays inactive, with Roll back, until you remove it." }
            (add_form(&signed.csrf, key.provider, &[], Some((&key.project_id, key.environment))))
            p { a href=(PATH) { "Cancel" } }
        }
    };
    Ok(layout::page("Integrations", PATH, &signed.caller, &signed.csrf, body).into_response())
}
