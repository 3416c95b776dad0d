//! What the Integrations page's buttons do: *Add* and *Replace* (the form posts here, and
//! a failure shows the form again open, with what was typed but the secret, and the error
//! beside its field), *Test*, *Roll back*, *Remove* (after a confirmation). A success goes back
//! to the page (post-redirect-get: `flash.rs`); each address also answers a GET, with the page
//! it belongs to, never an error of another face.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use converra::{AddProviderKey, Environment, KeySource, Provider, Resolution};
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Empty, Signed, SignedForm};
use super::integrations::{FormTarget, Refill, add_form, label, render};
use super::layout::{self, Notice, csrf_field};
use super::paths::{self, INTEGRATIONS, PROJECTS, PROVIDER_KEY_REMOVE, PROVIDER_KEY_REPLACE};
use converra_core::Core;
use converra_core::vault::{RemovalPreview, known_to_work};

#[derive(Deserialize)]
pub struct AddForm {
    provider: Provider,
    name: String,
    api_key: SecretString,
    scope: String,
    environment: Environment,
    test: Option<String>,
    /// `/settings/projects` when the form was opened from a project's row.
    #[serde(default)]
    back: Option<String>,
}

impl AddForm {
    /// The form again, for the page that shows it after `e` (never the secret).
    fn refill(self, e: &converra_core::Error) -> Refill {
        Refill {
            provider: self.provider,
            name: self.name,
            scope: self.scope,
            environment: self.environment,
            tested: self.test.is_some(),
            field: Refill::field_of(e),
            error: explain(e).1,
        }
    }
}

/// Adds the form's key: the core call both *Add* and *Replace* make, and what the page then says.
async fn save(core: &Core, f: &SignedForm<AddForm>) -> converra_core::Result<String> {
    let form = &f.form;
    let tested = form.test.is_some();
    let req = AddProviderKey {
        provider: form.provider,
        name: form.name.clone(),
        api_key: form.api_key.clone(),
        project_id: (form.scope != "organization").then(|| form.scope.clone()),
        environment: Some(form.environment),
        test: tested,
    };
    let k = core.add_provider_key(&f.caller, req).await?;
    let name = k.name.unwrap_or_default();
    let test = if tested { " Connection successful." } else { "" };
    Ok(format!("Saved {name}: it is now the active {} {} key.{test}", k.environment.as_str(), label(k.provider)))
}

pub async fn add(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<AddForm>,
) -> WebResult<Response> {
    // Back where the form was opened: Projects, or Integrations.
    let to = if f.form.back.as_deref() == Some(PROJECTS) { PROJECTS } else { INTEGRATIONS };
    match save(&core, &f).await {
        Ok(text) => Ok(flash::redirect(&site, to, Notice::ok(text))),
        Err(e) => {
            let status = explain(&e).0;
            let signed = Signed::new(f.caller, f.csrf);
            let refill = f.form.refill(&e);
            // An error about the whole form (a refusal) is said at the top as well.
            let notice = if refill.field.is_empty() { Notice::error(refill.error.clone()) } else { None };
            render(&core, &signed, notice, status, Some(&refill)).await
        }
    }
}

/// The Replace page: the add form fixed to the key's slot, again with a failed attempt's values.
async fn replace_view(
    core: &Core,
    signed: &Signed,
    id: &str,
    refill: Option<&Refill>,
    status: StatusCode,
) -> WebResult<Response> {
    let key = core.get_provider_key(&signed.caller, id).await?;
    let untested = (key.active && known_to_work(&key)).then(|| {
        format!(
            "{} works now: unticked, the new key replaces it without a test. Roll back stays possible.",
            key.name.as_deref().unwrap_or("The active key")
        )
    });
    let target = FormTarget {
        action: paths::fill(PROVIDER_KEY_REPLACE, &[id]),
        slot: Some((&key.project_id, key.environment)),
        environment: key.environment,
        untested,
        scope: None,
        back: None,
    };
    let body = html! {
        section.card {
            h2 { "Replace " (key.name.as_deref().unwrap_or("")) }
            p { "The new key becomes the active " (key.environment.as_str()) " key at once. The old one ("
                span.masked { (key.masked.as_deref().unwrap_or("")) }
                ") stays inactive, with Roll back, until you remove it." }
            (add_form(&signed.csrf, key.provider, &[], &target, refill))
            p { a href=(INTEGRATIONS) { "Cancel" } }
        }
    };
    Ok((status, layout::page("Integrations", INTEGRATIONS, &signed.caller, &signed.csrf, body)).into_response())
}

pub async fn replace_page(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    signed: Signed,
) -> WebResult<Response> {
    replace_view(&core, &signed, &id, None, StatusCode::OK).await
}

/// *Replace*'s form: a new key for the same slot (the form's hidden fields name it).
pub async fn replace(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<AddForm>,
) -> WebResult<Response> {
    match save(&core, &f).await {
        Ok(text) => Ok(flash::redirect(&site, INTEGRATIONS, Notice::ok(text))),
        Err(e) => {
            let status = explain(&e).0;
            let signed = Signed::new(f.caller, f.csrf);
            let refill = f.form.refill(&e);
            replace_view(&core, &signed, &id, Some(&refill), status).await
        }
    }
}

/// Back to the page: a GET on an address that only takes the page's forms.
pub async fn to_page() -> Redirect {
    Redirect::to(INTEGRATIONS)
}

/// After an action on a key: back to the page with what happened; a refusal is said there too.
fn back<T>(site: &Site, outcome: converra_core::Result<T>, ok: impl FnOnce(T) -> Option<Notice>) -> Response {
    let notice = match outcome {
        Ok(value) => ok(value),
        Err(e) => Notice::error(explain(&e).1),
    };
    flash::redirect(site, INTEGRATIONS, notice)
}

pub async fn test(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> Response {
    let outcome = core.test_provider_key(&f.caller, &id).await;
    back(&site, outcome, |t| {
        if t.status == converra::KeyStatus::Ok { Notice::ok(t.message) } else { Notice::error(t.message) }
    })
}

pub async fn activate(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> Response {
    let outcome = core.activate_provider_key(&f.caller, &id).await;
    back(&site, outcome, |k| {
        Notice::ok(format!(
            "Rolled back: {} is the active {} key again.",
            k.name.unwrap_or_default(),
            label(k.provider)
        ))
    })
}

/// What serves a slot, in words: "the organization's key sk-…wxyz", or `None` for nothing.
fn serving(r: &Resolution) -> Option<String> {
    let masked = r.masked.as_deref().unwrap_or("");
    match r.source {
        KeySource::Project => Some(format!("the project's key {masked}")),
        KeySource::Organization => Some(format!("the organization's key {masked}")),
        KeySource::Platform => Some("your plan's monthly token allowance".to_owned()),
        KeySource::None => None,
    }
}

/// What serves a slot now, in a sentence (after *Remove*).
pub fn now_serving(provider: Provider, r: &Resolution) -> String {
    match serving(r) {
        Some(what) => format!("Now serving {}: {what}.", label(provider)),
        None => format!("No key serves {} now: its AI features stop until a key is added.", label(provider)),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    /// An inactive key of the same slot to make active in the same step.
    activate: Option<String>,
}

pub async fn remove(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<RemoveForm>,
) -> Response {
    let outcome = core.remove_provider_key_for(&f.caller, &id, f.form.activate.as_deref()).await;
    back(&site, outcome, |(k, now)| {
        Notice::ok(format!("Removed {}. {}", k.name.unwrap_or_default(), now_serving(k.provider, &now)))
    })
}

/// *Remove*'s confirmation: the key, what serves its slot without it, and for an active key the
/// inactive one that last worked, offered to take over in the same step.
pub async fn remove_page(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    signed: Signed,
    Flash(notice): Flash,
) -> WebResult<Response> {
    let RemovalPreview { key, next, successor } = core.removal_preview(&signed.caller, &id).await?;
    let name = key.name.as_deref().unwrap_or("");
    let provider = label(key.provider);
    let env = key.environment.as_str();
    let action = paths::fill(PROVIDER_KEY_REMOVE, &[&key.id]);
    let then = match serving(&next) {
        Some(what) => format!("{provider} in {env} is then served by {what}."),
        None => format!("No key serves {provider} in {env} then: its AI features stop until a key is added."),
    };
    let body = html! {
        (layout::notice(&notice))
        section.card {
            h2 { "Remove " (name) "?" }
            p { (provider) " key " span.masked { (key.masked.as_deref().unwrap_or("")) } " (" (env) ") will be deleted for good." }
            @if key.active {
                p { strong { "It is the active " (env) " " (provider) " key." } " Removed alone: " (then) }
            } @else {
                p { "It is not in use: " (then) }
            }
            @if let Some(s) = &successor {
                p { (s.name.as_deref().unwrap_or("")) " (" span.masked { (s.masked.as_deref().unwrap_or("")) } "), inactive, "
                    (s.last_test.as_ref().map_or("worked".to_owned(), |t| format!("last tested {}", layout::when(&t.tested_at))))
                    ", can take over in the same step." }
            }
            div.actions {
                @if let Some(s) = &successor {
                    form.inline method="post" action=(action) {
                        (csrf_field(&signed.csrf))
                        input type="hidden" name="activate" value=(s.id);
                        button type="submit" { "Remove and make " (s.name.as_deref().unwrap_or("")) " active" }
                    }
                }
                form.inline method="post" action=(action) {
                    (csrf_field(&signed.csrf))
                    button.danger type="submit" { @if successor.is_some() { "Remove only" } @else { "Remove" } }
                }
                a href=(INTEGRATIONS) { "Cancel" }
            }
        }
    };
    Ok(layout::page("Integrations", INTEGRATIONS, &signed.caller, &signed.csrf, body).into_response())
}
