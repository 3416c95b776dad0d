//! Settings → API keys: create one (shown once, on a page never cached), list them, revoke one.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use converra::{CreateApiKey, Environment};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Empty, Signed, SignedForm};
use super::layout::{self, Notice, csrf_field, nothing, when};
use super::paths::{self, API_KEY_REVOKE, API_KEYS};
use converra_core::access::sessions::random_token;
use converra_core::{Core, Error};

async fn api_keys_page(core: &Core, signed: &Signed, created: Markup, notice: &Option<Notice>) -> WebResult<Markup> {
    let keys = core.list_api_keys(&signed.caller).await?;
    let usual = core.usual_environment(&signed.caller).await?;
    let projects = core.list_projects(&signed.caller).await?;
    let project_name = |id: &str| projects.iter().find(|p| p.id == id).map_or(id.to_owned(), |p| p.name.clone());
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
                @if !projects.is_empty() {
                    label for="key-project" { "Project" }
                    select id="key-project" name="project_id" {
                        option value="" { "Any project (named per request)" }
                        @for p in &projects { option value=(p.id) { "Only " (p.name) } }
                    }
                    p.muted { "A key bound to a project can only act in it: its calls count against that project's budget." }
                }
                button type="submit" { "Create API Key" }
            }
        }
        table {
            thead { tr { th { "Name" } th { "Key" } th.wide { "Last used" } th { "" } } }
            tbody { @for k in keys.iter().filter(|k| k.revoked_at.is_none()) {
                tr {
                    td { (k.name) br; span.muted { (k.environment.as_str())
                        @if let Some(p) = &k.project_id { " · only " (project_name(p)) } } }
                    td.masked { (k.prefix) "…" (k.last_four) }
                    td.wide { (k.last_used_at.as_deref().map(when).unwrap_or_else(|| "never".into())) }
                    td { a.button.danger href=(paths::fill(API_KEY_REVOKE, &[&k.id])) { "Revoke" } }
                }
            } }
        }
    };
    Ok(layout::page("API keys", API_KEYS, &signed.caller, &signed.csrf, body))
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    Ok(api_keys_page(&core, &signed, nothing(), &notice).await?.into_response())
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    environment: Environment,
    /// Empty: any project.
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    nonce: String,
}

/// The one form answered in place: the new key is shown once, on this answer (never stored to
/// be shown later). Its nonce makes a reload, which posts it again, create nothing.
pub async fn create(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<CreateForm>,
) -> WebResult<Response> {
    let project_id = Some(f.form.project_id).filter(|p| !p.is_empty());
    let req =
        CreateApiKey { name: f.form.name, environment: Some(f.form.environment), project_id, ..Default::default() };
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
                form.inline method="post" action=(paths::fill(API_KEY_REVOKE, &[&key.id])) {
                    (csrf_field(&signed.csrf)) button.danger type="submit" { "Revoke " (key.name) }
                }
                a href=(API_KEYS) { "Cancel" }
            }
        }
    };
    Ok(layout::page("API keys", API_KEYS, &signed.caller, &signed.csrf, body).into_response())
}

pub async fn revoke(
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
        return Redirect::to(paths::SIGN_IN).into_response();
    }
    flash::redirect(&site, API_KEYS, notice)
}
