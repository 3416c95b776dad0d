//! `/connect/<token>`: where a signed-in admin or owner pastes a provider key that an agent
//! (MCP `add_provider_key` without `api_key`) or a teammate asked for, so the secret never
//! passes through a model. Opening the page consumes nothing; the form's POST does, once.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;

use super::Site;
use super::error::{WebResult, explain};
use super::flash;
use super::guard::{Signed, SignedForm};
use super::integrations::label;
use super::layout::{self, Notice, csrf_field, when};
use super::members;
use super::paths::{self, CONNECT, INTEGRATIONS};
use converra_core::vault::ConnectRequest;
use converra_core::{Core, Error};

fn page_for(signed: &Signed, token: &str, req: &ConnectRequest, notice: &Option<Notice>) -> maud::Markup {
    let scope = match (&req.project_name, &req.project_id) {
        (Some(name), _) => format!("Project {name}"),
        (None, Some(id)) => format!("Project {id}"),
        (None, None) => "Organization".to_owned(),
    };
    let body = html! {
        (layout::notice(notice))
        section.card {
            h2 { "Connect " (label(req.provider)) }
            p { (req.asked_by) " asked for the " (label(req.provider)) " key named " strong { (req.name) }
                " in " strong { (req.org_name) } "." }
            p.muted { "Scope: " (scope) " · Environment: " (req.environment.as_str()) " · This link works once, until " (when(&req.expires_at)) "." }
            form.stack method="post" action=(paths::fill(CONNECT, &[token])) {
                (csrf_field(&signed.csrf))
                label for="secret" { "API Key" }
                input id="secret" type="password" name="api_key" required autocomplete="off" spellcheck="false";
                label.check { input type="checkbox" name="test" value="1" checked; "Test before saving" }
                button type="submit" { "Save" }
            }
            p.muted { "The key is stored encrypted and never shown again, here or to the agent that asked." }
        }
    };
    layout::page("Connect a provider key", "", &signed.caller, &signed.csrf, body)
}

pub async fn page(State(core): State<Arc<Core>>, Path(token): Path<String>, signed: Signed) -> WebResult<Response> {
    match core.connect_request(&signed.caller, &token).await {
        Ok(req) => Ok(page_for(&signed, &token, &req, &None).into_response()),
        // A plain member of the organization: the link is for one of its admins or owners.
        Err(e @ Error::Forbidden(_)) => {
            let (status, text) = explain(&e);
            let managers = core.workspace_managers(&signed.caller).await?;
            let body = html! {
                (layout::notice(&Notice::error(text)))
                section.card {
                    h2 { "Pass this link to an admin" }
                    p { "This link asks for a provider key, which only an admin or owner of " strong { (signed.caller.org_name) }
                        " can store. Send it to one of them; it works once, within 10 minutes of being made." }
                }
                (members::managers_list(&managers))
            };
            Ok((status, layout::page("Connect a provider key", "", &signed.caller, &signed.csrf, body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ConnectForm {
    api_key: SecretString,
    test: Option<String>,
}

pub async fn submit(
    State(core): State<Arc<Core>>,
    Extension(site): Extension<Arc<Site>>,
    Path(token): Path<String>,
    f: SignedForm<ConnectForm>,
) -> WebResult<Response> {
    let tested = f.form.test.is_some();
    let outcome = core.use_connect_link(&f.caller, &token, f.form.api_key, tested).await;
    let signed = Signed::new(f.caller, f.csrf);
    match outcome {
        Ok(key) => {
            let test = if tested { " Connection successful." } else { "" };
            let text = format!(
                "Saved {}: it is now the active {} key.{test} You can tell the agent it is done.",
                key.name.unwrap_or_default(),
                label(key.provider)
            );
            Ok(flash::redirect(&site, INTEGRATIONS, Notice::ok(text)))
        }
        Err(e) => {
            let (status, text) = explain(&e);
            // The link still works when storing failed (the core released it): show it again.
            match core.connect_request(&signed.caller, &token).await {
                Ok(req) => Ok((status, page_for(&signed, &token, &req, &Notice::error(text))).into_response()),
                Err(_) => Err(e.into()),
            }
        }
    }
}
