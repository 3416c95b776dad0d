//! The web face: Settings → Integrations and its neighbours in the browser, server-rendered
//! over the same core functions as the other faces (maud: templates checked at compile time,
//! every value escaped). No script is needed by any form; the one script (a copy button) and
//! the stylesheet are compiled into the binary.
//!
//! Security, once for every page (`guard.rs`): a session cookie (`__Host-` and `Secure` with an
//! https public URL, always `HttpOnly` and `SameSite=Lax`), the `Host` and `Origin` of every
//! cookie-authenticated request checked against `CONVERRA_PUBLIC_URL`, a CSRF token on every
//! form that changes state (sign-in forms included), a CSP without inline script and with
//! `frame-ancestors 'none'`, `Referrer-Policy: no-referrer`, and `Cache-Control: no-store`.
//! The session cookie means nothing to `/api/v1`, `/v1` or `/api/mcp`: they read only
//! `Authorization`.
//!
//! After a click: a form that changed something redirects to its page (post-redirect-get,
//! `flash.rs`); every address answers a GET and any method with a page, never JSON.

mod agents;
mod ai_settings;
mod api_keys;
mod assets;
mod connect;
mod error;
mod flash;
mod guard;
mod integrations;
mod layout;
mod members;
mod paths;
mod projects;
mod provider_keys;
mod sign_in;
mod trusted_proxies;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{MethodRouter, any, get};
use tower_http::set_header::SetResponseHeaderLayer;

use converra_core::Core;
use error::WebError;
pub use trusted_proxies::TrustedProxies;

/// Where the web face is served, from `CONVERRA_PUBLIC_URL`: what cookies are called and which
/// `Host` and `Origin` a browser's request must carry; and, from `CONVERRA_TRUSTED_PROXIES`,
/// whose word on the client's address counts.
#[derive(Debug, Clone)]
pub struct Site {
    secure: bool,
    authority: String,
    origin: String,
    proxies: TrustedProxies,
}

impl Site {
    /// The site at `authority` (`host[:port]`, lower case, what browsers send in `Host`), over
    /// https or not (`CONVERRA_PUBLIC_URL`).
    pub fn new(https: bool, authority: String, proxies: TrustedProxies) -> Self {
        let origin = format!("{}://{authority}", if https { "https" } else { "http" });
        Self { secure: https, authority, origin, proxies }
    }

    /// The session cookie's name: `__Host-` only where the browser will accept it (https).
    fn session_cookie(&self) -> &'static str {
        if self.secure { "__Host-converra_session" } else { "converra_session" }
    }

    /// The sign-in forms' CSRF cookie (double submit: there is no session yet).
    fn csrf_cookie(&self) -> &'static str {
        if self.secure { "__Host-converra_csrf" } else { "converra_csrf" }
    }

    /// What a form left for the next page to say (post-redirect-get, `flash.rs`).
    fn flash_cookie(&self) -> &'static str {
        if self.secure { "__Host-converra_flash" } else { "converra_flash" }
    }

    /// A `Set-Cookie` value: host-only, whole site, HttpOnly, SameSite=Lax, Secure on https.
    fn cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }
}

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// Every web address takes the methods it is routed for and answers any other with a page
/// (never another face's JSON).
fn at(router: Router<Arc<Core>>, path: &str, methods: MethodRouter<Arc<Core>>) -> Router<Arc<Core>> {
    router.route(path, methods.fallback(|| async { WebError::NotAllowed }))
}

/// The web pages, with the headers every one of them carries. Every address a form posts to
/// also answers a GET: with the page the form is on (or its confirmation), never an error.
pub fn routes(site: Site) -> Router<Arc<Core>> {
    use paths::*;
    let connect_rest = format!("{CONNECT}/{{*rest}}");
    let routes: [(&str, MethodRouter<Arc<Core>>); 30] = [
        ("/", get(|| async { Redirect::to(INTEGRATIONS) })),
        ("/settings", get(|| async { Redirect::to(INTEGRATIONS) })),
        (SIGN_IN, get(sign_in::page).post(sign_in::with_api_key)),
        (SIGN_IN_LINK, get(sign_in::link_page_get).post(sign_in::with_link)),
        (SIGN_OUT, get(sign_in::sign_out_page).post(sign_in::sign_out)),
        (INTEGRATIONS, get(integrations::page)),
        (PROVIDER_KEYS, get(provider_keys::to_page).post(provider_keys::add)),
        (PROVIDER_KEY_TEST, get(provider_keys::to_page).post(provider_keys::test)),
        (PROVIDER_KEY_REPLACE, get(provider_keys::replace_page).post(provider_keys::replace)),
        (PROVIDER_KEY_ACTIVATE, get(provider_keys::to_page).post(provider_keys::activate)),
        (PROVIDER_KEY_REMOVE, get(provider_keys::remove_page).post(provider_keys::remove)),
        (CONNECT, get(connect::page).post(connect::submit)),
        (PROJECTS, get(projects::page).post(projects::create)),
        (PROJECT_DELETE, get(projects::delete_page).post(projects::delete)),
        (PROJECT_ADD_KEY, get(projects::add_key_page)),
        (AI_SETTINGS, get(ai_settings::page).post(ai_settings::update)),
        (USAGE, get(usage::page)),
        (BUDGETS, get(usage::to_page).post(usage::set_budget)),
        (BUDGET_REMOVE, get(usage::to_page).post(usage::remove_budget)),
        (API_KEYS, get(api_keys::page).post(api_keys::create)),
        (API_KEY_REVOKE, get(api_keys::revoke_page).post(api_keys::revoke)),
        (MEMBERS, get(members::page).post(members::add)),
        (MEMBER_ROLE, get(members::to_page).post(members::change_role)),
        (MEMBER_REMOVE, get(members::remove_page).post(members::remove)),
        (MEMBER_SIGN_IN_LINK, get(members::to_page).post(members::new_link)),
        (STYLE, get(assets::style)),
        (COPY_SCRIPT, get(assets::copy_script)),
        // Any other address under the web's own prefixes is a page that says so.
        ("/settings/{*rest}", any(|| async { WebError::NoPage })),
        ("/sign-in/{*rest}", any(|| async { WebError::NoPage })),
        (&connect_rest, any(|| async { WebError::NoPage })),
    ];
    let pages = routes.into_iter().fold(Router::new(), |router, (path, methods)| at(router, path, methods));
    let set = |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    let site = Arc::new(site);
    let shown = site.clone();
    // One stack (outermost first), applied once: axum wraps every route in each layer
    // separately otherwise.
    pages.layer(
        tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .layer(set(header::X_FRAME_OPTIONS, "DENY"))
            .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(set(header::REFERRER_POLICY, "no-referrer"))
            .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
            .layer(axum::Extension(site))
            .layer(axum::middleware::from_fn(move |req, next| flash::clear_shown(shown.clone(), req, next))),
    )
}
