//! Settings → Projects: per project and provider, its own key or the organization's it inherits.
//! Admins and owners create and delete projects (after a confirmation naming what goes with it),
//! and add a project's own key, or replace it, from its row. The rules are the REST face's core
//! functions.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use converra::{CreateProject, KeySource, Provider};
use maud::html;
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash::{self, Flash};
use super::guard::{Empty, Signed, SignedForm};
use super::integrations::{FormTarget, add_form, label};
use super::layout::{self, Notice, csrf_field};
use super::paths::{self, PROJECT_ADD_KEY, PROJECT_DELETE, PROJECTS, PROVIDER_KEY_REPLACE, PROVIDER_KEYS};
use converra_core::Core;

fn source_text(source: KeySource) -> &'static str {
    match source {
        KeySource::Project => "Own key",
        KeySource::Organization => "Inherits the organization's",
        KeySource::Platform => "Plan allowance",
        KeySource::None => "No key",
    }
}

async fn projects_page(
    core: &Core,
    signed: &Signed,
    notice: &Option<Notice>,
    status: StatusCode,
) -> WebResult<Response> {
    let admin = signed.caller.require_admin().is_ok();
    let projects = core.list_projects(&signed.caller).await?;
    let mut rows = Vec::new();
    for p in &projects {
        let mut cells = Vec::new();
        for provider in Provider::ALL {
            cells.push((provider, core.explain_resolution(&signed.caller, provider, Some(&p.id)).await?));
        }
        rows.push((p, cells));
    }
    let env = signed.caller.environment.as_str();
    let body = html! {
        (layout::notice(notice))
        p { "A project uses its own key where it has one; otherwise it inherits the organization's. "
            "Shown for " strong { (env) } " keys (this browser's API key's environment)." }
        @if admin {
            section.card {
                h2 { "Create project" }
                form.stack method="post" action=(PROJECTS) {
                    (csrf_field(&signed.csrf))
                    label for="project-name" { "Name" }
                    input id="project-name" type="text" name="name" required maxlength="100" placeholder="Website";
                    button type="submit" { "Create project" }
                }
            }
        }
        @if projects.is_empty() { p.muted { "No projects yet: every completion uses the organization's keys." } }
        @else {
            table.stacked {
                thead { tr { th { "Project" } @for p in Provider::ALL { th { (label(p)) } } @if admin { th { "" } } } }
                tbody {
                    @for (p, cells) in &rows {
                        tr id=(format!("project-{}", p.id)) {
                            td { strong { (p.name) } }
                            @for (provider, r) in cells {
                                td {
                                    span.muted { (label(*provider)) ": " } (source_text(r.source))
                                    @if admin {
                                        br;
                                        @match (&r.source, &r.key_id) {
                                            (KeySource::Project, Some(id)) => {
                                                a.button.secondary href=(paths::fill(PROVIDER_KEY_REPLACE, &[id])) { "Replace" }
                                            }
                                            _ => {
                                                a.button.secondary href=(paths::fill(PROJECT_ADD_KEY, &[&p.id, provider.as_str()])) { "Add own key" }
                                            }
                                        }
                                    }
                                }
                            }
                            @if admin { td { a.button.danger href=(paths::fill(PROJECT_DELETE, &[&p.id])) { "Delete" } } }
                        }
                    }
                }
            }
        }
    };
    Ok((status, layout::page("Projects", PROJECTS, &signed.caller, &signed.csrf, body)).into_response())
}

pub async fn page(State(core): State<Arc<Core>>, signed: Signed, Flash(notice): Flash) -> WebResult<Response> {
    projects_page(&core, &signed, &notice, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

pub async fn create(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    f: SignedForm<CreateForm>,
) -> WebResult<Response> {
    match core.create_project(&f.caller, CreateProject { name: f.form.name }).await {
        Ok(p) => Ok(flash::redirect(&site, PROJECTS, Notice::ok(format!("Created project {}.", p.name)))),
        Err(e) => {
            let (status, text) = explain(&e);
            projects_page(&core, &Signed::new(f.caller, f.csrf), &Notice::error(text), status).await
        }
    }
}

/// *Delete*'s confirmation: the project, and its own keys that go with it.
pub async fn delete_page(State(core): State<Arc<Core>>, Path(id): Path<String>, signed: Signed) -> WebResult<Response> {
    signed.caller.require_admin()?;
    let project = core.get_project(&signed.caller, &id).await?;
    let filter = converra::ProviderKeyFilter { project_id: Some(project.id.clone()), ..Default::default() };
    let keys = core.list_provider_keys(&signed.caller, filter).await?;
    let own: Vec<_> = keys.iter().filter(|k| k.project_id.as_deref() == Some(project.id.as_str())).collect();
    let body = html! {
        section.card {
            h2 { "Delete project " (project.name) "?" }
            @if own.is_empty() {
                p { "It has no keys of its own. Completions that name it stop working; this cannot be undone." }
            } @else {
                p { "Its own provider keys are deleted with it, for good:" }
                ul { @for k in &own {
                    li { (label(k.provider)) " " (k.name.as_deref().unwrap_or("")) " (" (k.environment.as_str()) ") "
                        span.masked { (k.masked.as_deref().unwrap_or("")) } }
                } }
                p { "Completions that name the project stop working; this cannot be undone." }
            }
            div.actions {
                form.inline method="post" action=(paths::fill(PROJECT_DELETE, &[&project.id])) {
                    (csrf_field(&signed.csrf)) button.danger type="submit" { "Delete " (project.name) }
                }
                a href=(PROJECTS) { "Cancel" }
            }
        }
    };
    Ok(layout::page("Projects", PROJECTS, &signed.caller, &signed.csrf, body).into_response())
}

pub async fn delete(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(id): Path<String>,
    f: SignedForm<Empty>,
) -> Response {
    let name = core.get_project(&f.caller, &id).await.map(|p| p.name).unwrap_or_default();
    let notice = match core.delete_project(&f.caller, &id).await {
        Ok(()) => Notice::ok(format!("Deleted project {name} and its own keys.")),
        Err(e) => Notice::error(explain(&e).1),
    };
    flash::redirect(&site, PROJECTS, notice)
}

/// A project's own key for one provider: the Add form, its scope fixed to the project.
pub async fn add_key_page(
    State(core): State<Arc<Core>>,
    Path((id, provider)): Path<(String, Provider)>,
    signed: Signed,
) -> WebResult<Response> {
    signed.caller.require_admin()?;
    let project = core.get_project(&signed.caller, &id).await?;
    let environment = core.usual_environment(&signed.caller).await?;
    let target = FormTarget {
        action: PROVIDER_KEYS.to_owned(),
        slot: None,
        environment,
        untested: None,
        scope: Some(project.id.clone()),
        back: Some(PROJECTS),
    };
    let body = html! {
        section.card {
            h2 { "Add " (label(provider)) " key for " (project.name) }
            p { "It serves " (project.name) " only, instead of the organization's " (label(provider)) " key, in its environment." }
            (add_form(&signed.csrf, provider, std::slice::from_ref(&project), &target, None))
            p { a href=(PROJECTS) { "Cancel" } }
        }
    };
    Ok(layout::page("Projects", PROJECTS, &signed.caller, &signed.csrf, body).into_response())
}
