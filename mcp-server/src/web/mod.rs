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

mod assets;
mod connect;
mod error;
mod guard;
mod integrations;
mod layout;
mod members;
mod settings;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::{PublicUrl, TrustedProxies};
use crate::core::Core;

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
    pub fn new(url: &PublicUrl, proxies: TrustedProxies) -> Self {
        Self { secure: url.https, authority: url.authority.clone(), origin: url.origin(), proxies }
    }

    /// The session cookie's name: `__Host-` only where the browser will accept it (https).
    fn session_cookie(&self) -> &'static str {
        if self.secure { "__Host-converra_session" } else { "converra_session" }
    }

    /// The sign-in forms' CSRF cookie (double submit: there is no session yet).
    fn csrf_cookie(&self) -> &'static str {
        if self.secure { "__Host-converra_csrf" } else { "converra_csrf" }
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

/// The web pages, with the headers every one of them carries.
pub fn routes(site: Site) -> Router<Arc<Core>> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/settings/integrations") }))
        .route("/sign-in", get(sign_in::page).post(sign_in::with_api_key))
        .route("/sign-in/link/{token}", get(sign_in::link_page_get).post(sign_in::with_link))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/settings/integrations", get(integrations::page))
        .route("/settings/integrations/keys", post(integrations::add))
        .route("/settings/integrations/keys/{id}/test", post(integrations::test))
        .route("/settings/integrations/keys/{id}/replace", get(integrations::replace_page))
        .route("/settings/integrations/keys/{id}/activate", post(integrations::activate))
        .route("/settings/integrations/keys/{id}/remove", get(integrations::remove_page).post(integrations::remove))
        .route("/connect/{token}", get(connect::page).post(connect::submit))
        .route("/settings/projects", get(settings::projects))
        .route("/settings/ai", get(settings::ai).post(settings::update_ai))
        .route("/settings/usage", get(settings::usage))
        .route("/settings/api-keys", get(settings::api_keys).post(settings::create_api_key))
        .route("/settings/api-keys/{id}/revoke", post(settings::revoke_api_key))
        .route(members::PATH, get(members::page).post(members::add))
        .route("/settings/members/{id}/role", post(members::change_role))
        .route("/settings/members/{id}/remove", post(members::remove))
        .route("/assets/style.css", get(assets::style))
        .route("/assets/copy.js", get(assets::copy_script));
    let set = |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    pages
        .layer(axum::Extension(Arc::new(site)))
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
