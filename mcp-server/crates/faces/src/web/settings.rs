//! The other settings pages: AI settings (owners change them, seed 000), Usage this month with the allowance bar (seed 001), and API
//! keys (create — shown once, on a page never cached — list, revoke; seed 002).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use converra::{CreateApiKey, Environment, Tone, UpdateAiSettings, UsageQuery};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Signed, SignedForm};
use super::layout::{self, Notice, counted, csrf_field, nothing, when};
use converra_core::access::sessions::random_token;
use converra_core::{Core, Error};

pub const API_KEYS: &str = "/settings/api-keys";

fn ai_page(signed: &Signed, settings: &converra::AiSettings, notice: &Option<Notice>) -> Markup {
    let owner = signed.caller.require_owner().is_ok();
    let tone = settings.tone.unwrap_or(Tone::Professional);
    let body = html! {
        (layout::notice(notice))
        @if owner {
            form.stack method="post" action="/settings/ai" {
                (csrf_field(&signed.csrf))
                label.check { input type="checkbox" name="enabled" value="1" checked[settings.enabled]; "AI suggestions enabled" }
                label for="tone" { "Tone" }
                select id="tone" name="tone" {
                    @for t in [Tone::Professional, Tone::Friendly, Tone::Casual] {
                        option value=(t.as_str()) selected[t == tone] { (t.as_str()) }
                    }
                }
                label for="key_rotation_days" { "Rotate provider keys every (days)" }
                input id="key_rotation_days" name="key_rotation_days" type="number" min="1" max="3650" required
                    value=(settings.key_rotation_days);
                button type="submit" { "Save" }
            }
        } @else {
            p { "AI suggestions are " strong { @if settings.enabled { "enabled" } @else { "disabled" } } ", tone " strong { (tone.as_str()) } "." }
            p { "Provider keys are due for rotation after " strong { (settings.key_rotation_days) } " days." }
            p.muted { "Only workspace Owners can configure AI settings." }
        }
    };
    layout::page("AI settings", "/settings/ai", &signed.caller, &signed.csrf, body)
}

pub async fn ai(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    let settings = core.ai_settings(&signed.caller).await?;
    Ok(ai_page(&signed, &settings, &notice).into_response())
}

#[derive(Deserialize)]
pub struct AiForm {
    enabled: Option<String>,
    tone: Tone,
    /// Absent from an older form: the period stays as it is.
    key_rotation_days: Option<u32>,
}

pub async fn update_ai(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<AiForm>,
) -> WebResult<Response> {
    let req = UpdateAiSettings {
        enabled: Some(f.form.enabled.is_some()),
        tone: Some(f.form.tone),
        key_rotation_days: f.form.key_rotation_days,
    };
    let outcome = core.update_ai_settings(&f.caller, req).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok(_) => Ok(flash::redirect(&site, "/settings/ai", Notice::ok("AI settings saved."))),
        Err(e) => {
            let (status, text) = explain(&e);
            let settings = core.ai_settings(&signed.caller).await?;
            Ok((status, ai_page(&signed, &settings, &Notice::error(text))).into_response())
        }
    }
}

/// One grouping of a usage report as a table (the same breakdowns `converra usage` prints).
fn usage_table(title: &str, groups: &[converra::UsageGroup], name: &dyn Fn(Option<&str>) -> String) -> Markup {
    html! {
        @if !groups.is_empty() {
            table {
                thead { tr { th { (title) } th { "Requests" } th { "Input tokens" } th { "Output tokens" } } }
                tbody { @for g in groups {
                    tr { td { (name(g.key.as_deref())) } td { (g.totals.requests) } td { (g.totals.input_tokens) } td { (g.totals.output_tokens) } }
                } }
            }
        }
    }
}

/// Settings → Usage for a month (`?month=2026-11`, this month by default): the totals of the
/// completions that succeeded, every attempt by outcome (failed ones too), the plan allowance,
/// and the breakdowns by provider, model, key source and project.
pub async fn usage(
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
        form.inline-fields method="get" action="/settings/usage" {
            label for="month" { "Month" }
            input id="month" type="month" name="month" value=(report.month) required;
            button.secondary type="submit" { "Show" }
        }
        p { "In " (report.month) ": " strong { (counted(report.totals.requests, "completion", "completions")) } " succeeded, "
            (report.totals.input_tokens) " input and " (report.totals.output_tokens) " output tokens." }
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
    Ok(layout::page("Usage", "/settings/usage", &signed.caller, &signed.csrf, body).into_response())
}

async fn api_keys_page(core: &Core, signed: &Signed, created: Markup, notice: &Option<Notice>) -> WebResult<Markup> {
    let keys = core.list_api_keys(&signed.caller).await?;
    let usual = core.usual_environment(&signed.caller).await?;
    // A new nonce with every rendering: the form it is in creates one key at most.
    let nonce = random_token();
    let body = html! {
        (layout::notice(notice))
        (created)
        section.card {
            h2 { "Create API Key" }
            form.stack method="post" action=(API_KEYS) {
                (csrf_field(&signed.csrf))
                input type="hidden" name="nonce" value=(nonce.expose_secret());
                label for="key-name" { "Name" }
                input id="key-name" type="text" name="name" required maxlength="100" placeholder="Production";
                label for="key-env" { "Environment" }
                select id="key-env" name="environment" {
                    @for env in [Environment::Live, Environment::Test] {
                        option value=(env.as_str()) selected[env == usual] {
                            (env.as_str()) " (sk_" (env.as_str()) "_…)"
                        }
                    }
                }
                button type="submit" { "Create API Key" }
            }
        }
        table {
            thead { tr { th { "Name" } th { "Key" } th.wide { "Last used" } th { "" } } }
            tbody { @for k in keys.iter().filter(|k| k.revoked_at.is_none()) {
                tr {
                    td { (k.name) br; span.muted { (k.environment.as_str()) } }
                    td.masked { (k.prefix) "…" (k.last_four) }
                    td.wide { (k.last_used_at.as_deref().map(when).unwrap_or_else(|| "never".into())) }
                    td { a.button.danger href=(format!("{API_KEYS}/{}/revoke", k.id)) { "Revoke" } }
                }
            } }
        }
    };
    Ok(layout::page("API keys", API_KEYS, &signed.caller, &signed.csrf, body))
}

pub async fn api_keys(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    Ok(api_keys_page(&core, &signed, nothing(), &notice).await?.into_response())
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    environment: Environment,
    #[serde(default)]
    nonce: String,
}

/// The one form answered in place: the new key is shown once, on this answer (never stored to
/// be shown later). Its nonce makes a reload, which posts it again, create nothing.
pub async fn create_api_key(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<CreateForm>,
) -> WebResult<Response> {
    let req = CreateApiKey { name: f.form.name, environment: Some(f.form.environment), ..Default::default() };
    let outcome = core.create_api_key_once(&f.caller, &f.form.nonce, req).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok(Some(created)) => {
            let (title, text) = (html! { "Your new API key" }, html! { "Copy it now: it is only shown once." });
            let shown = layout::shown_once(title, text, "new-key", "New API key", created.key.expose_secret());
            let page = api_keys_page(&core, &signed, shown, &None).await?;
            // The key is in this page: no cache, no back-button copy.
            Ok(([(CACHE_CONTROL, "no-store")], page).into_response())
        }
        Ok(None) => {
            let text = "This form was already sent: its key was created and shown once, and is listed below. \
                        Use the form again for another key.";
            Ok(flash::redirect(&site, API_KEYS, Notice::ok(text)))
        }
        Err(e) => {
            let (status, text) = explain(&e);
            Ok((status, api_keys_page(&core, &signed, nothing(), &Notice::error(text)).await?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

/// *Revoke*'s confirmation: which key, and what stops working.
pub async fn revoke_page(State(core): State<Arc<Core>>, Path(id): Path<String>, signed: Signed) -> WebResult<Response> {
    let keys = core.list_api_keys(&signed.caller).await?;
    let key = keys.iter().find(|k| k.id == id && k.revoked_at.is_none()).ok_or(Error::NotFound("API key"))?;
    let body = html! {
        section.card {
            h2 { "Revoke " (key.name) "?" }
            p { "The " (key.environment.as_str()) " API key " span.masked { (key.prefix) "…" (key.last_four) }
                " stops working at once: every request with it fails, and every browser signed in with it is signed out. "
                "This cannot be undone." }
            div.actions {
                form.inline method="post" action=(format!("{API_KEYS}/{}/revoke", key.id)) {
                    (csrf_field(&signed.csrf)) button.danger type="submit" { "Revoke " (key.name) }
                }
                a href=(API_KEYS) { "Cancel" }
            }
        }
    };
    Ok(layout::page("API keys", API_KEYS, &signed.caller, &signed.csrf, body).into_response())
}

pub async fn revoke_api_key(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> Response {
    let outcome = core.revoke_api_key(&f.caller, &id).await;
    let notice = match outcome {
        Ok(()) => Notice::ok("API key revoked: requests with it fail from now on."),
        Err(e) => Notice::error(explain(&e).1),
    };
    if f.caller.api_key_id == id {
        // This browser signed in with it: the session has ended with the key.
        return Redirect::to("/sign-in").into_response();
    }
    flash::redirect(&site, API_KEYS, notice)
}
