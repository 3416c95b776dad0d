//! Signing in and out: a one-time login link (`converra admin login-link`), or a Converra API
//! key pasted into a password field. Both forms carry a CSRF token (double submit: a cookie
//! set with the page, and the same value in the form), so nobody can sign a browser in as
//! someone else. A link's page does not sign in by being opened (link previews open links):
//! its button does.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Site;
use super::error::{WebError, explain};
use super::flash::{self, Flash};
use super::guard::{Empty, SignInForm, SignedForm, cookie};
use super::layout::{self, Notice};
use super::paths::{self, INTEGRATIONS, SIGN_IN, SIGN_IN_LINK};
use converra_core::Core;
use converra_core::access::sessions::{ABSOLUTE_SECS, NewSession, random_token};

#[derive(Deserialize)]
pub struct ApiKeyForm {
    api_key: SecretString,
}

/// A page with a sign-in form: the CSRF cookie (the browser's, if it has one, so that two
/// open sign-in tabs both work; a new one otherwise) and the same value in the form.
fn with_csrf_cookie(
    site: &Site,
    headers: &HeaderMap,
    status: StatusCode,
    render: impl FnOnce(&str) -> Markup,
) -> Response {
    let csrf = match cookie(headers, site.csrf_cookie()).map(str::to_owned) {
        Some(v) if v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => v,
        _ => random_token().expose_secret().to_owned(),
    };
    let cookie = site.cookie(site.csrf_cookie(), &csrf, 3600);
    (status, [(SET_COOKIE, cookie)], render(&csrf)).into_response()
}

/// The form that signs in with a Converra API key.
fn api_key_form(csrf: &str) -> Markup {
    html! {
        form.stack method="post" action=(SIGN_IN) {
            (layout::csrf_field(csrf))
            label { "Converra API key"
                input type="password" name="api_key" autocomplete="off" required placeholder="sk_live_…";
            }
            button type="submit" { "Sign in" }
        }
    }
}

fn sign_in_page(csrf: &str, notice: &Option<Notice>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to Converra" }
            (layout::notice(notice))
            (api_key_form(csrf))
            p.muted { "No key at hand? Your operator can print a one-time sign-in link with "
                code { "converra admin login-link --org ORG --email EMAIL" } "." }
        },
    )
}

pub async fn page(
    axum::Extension(site): axum::Extension<Arc<Site>>,
    headers: HeaderMap,
    Flash(notice): Flash,
) -> Response {
    with_csrf_cookie(&site, &headers, StatusCode::OK, |csrf| sign_in_page(csrf, &notice))
}

/// The answer to a sign-in: the session cookie, the CSRF cookie cleared, on to the settings. A
/// session this browser had before ends (one browser, one session).
async fn signed_in(core: &Core, site: &Site, headers: &HeaderMap, session: NewSession) -> Response {
    if let Some(old) = cookie(headers, site.session_cookie())
        && let Err(e) = core.sign_out(&SecretString::from(old.to_owned())).await
    {
        tracing::warn!(error = %e, "could not end the previous web session");
    }
    let cookie = site.cookie(site.session_cookie(), session.cookie.expose_secret(), ABSOLUTE_SECS);
    let clear = site.cookie(site.csrf_cookie(), "", 0);
    (AppendHeaders([(SET_COOKIE, cookie), (SET_COOKIE, clear)]), Redirect::to(INTEGRATIONS)).into_response()
}

pub async fn with_api_key(
    State(core): State<Arc<Core>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    headers: HeaderMap,
    SignInForm { form }: SignInForm<ApiKeyForm>,
) -> Response {
    match core.sign_in_with_api_key(&form.api_key).await {
        Ok(session) => signed_in(&core, &site, &headers, session).await,
        Err(e) => {
            let (status, text) = explain(&e);
            with_csrf_cookie(&site, &headers, status, |csrf| sign_in_page(csrf, &Notice::error(text)))
        }
    }
}

/// A link's page: who it signs in as (`holder`: organization and email), and the button; a
/// link that no longer works gets the reason and a way to sign in with a key instead.
fn link_page(csrf: &str, token: &str, holder: Option<&(String, String)>, notice: &Option<Notice>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to Converra" }
            (layout::notice(notice))
            @if let Some((org, email)) = holder {
                p #signing-in-as { "You will be signed in as " strong { (email) } " in " strong { (org) } "." }
                p { "This one-time link signs you in. It works once, within 10 minutes of being made." }
                form.stack method="post" action=(paths::fill(SIGN_IN_LINK, &[token])) {
                    (layout::csrf_field(csrf))
                    button type="submit" { "Sign in as " (email) }
                }
            } @else {
                p { "Or sign in with a Converra API key:" }
                (api_key_form(csrf))
            }
        },
    )
}

pub async fn link_page_get(
    State(core): State<Arc<Core>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match core.login_link_holder(&token).await {
        Ok(holder) => {
            with_csrf_cookie(&site, &headers, StatusCode::OK, |csrf| link_page(csrf, &token, Some(&holder), &None))
        }
        Err(e) => {
            let (status, text) = explain(&e);
            with_csrf_cookie(&site, &headers, status, |csrf| link_page(csrf, &token, None, &Notice::error(text)))
        }
    }
}

pub async fn with_link(
    State(core): State<Arc<Core>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    SignInForm { form: Empty {} }: SignInForm<Empty>,
) -> Response {
    match core.sign_in_with_link(&token).await {
        Ok(session) => signed_in(&core, &site, &headers, session).await,
        Err(e) => {
            let (status, text) = explain(&e);
            let holder = core.login_link_holder(&token).await.ok();
            with_csrf_cookie(&site, &headers, status, |csrf| {
                link_page(csrf, &token, holder.as_ref(), &Notice::error(text))
            })
        }
    }
}

pub async fn sign_out(
    State(core): State<Arc<Core>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    form: SignedForm<Empty>,
) -> Result<Response, WebError> {
    core.sign_out(&form.session).await?;
    let clear = site.cookie(site.session_cookie(), "", 0);
    let mut out = flash::redirect(&site, SIGN_IN, Notice::ok("You are signed out."));
    out.headers_mut().append(SET_COOKIE, clear);
    Ok(out)
}

/// `/sign-out` opened as a page: signing out takes the button (a link must not sign anyone out).
pub async fn sign_out_page() -> Redirect {
    Redirect::to(INTEGRATIONS)
}
