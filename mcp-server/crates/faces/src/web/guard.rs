//! Who is asking, and whether the request may change anything: the extractors every page uses.
//!
//! - [`Signed`]: a session cookie whose session is alive, on a request whose `Host` is the
//!   public URL's. Anything else sends the browser to the sign-in page.
//! - [`SignedForm`]: the same, for a form that changes state: its `Origin` (when the browser
//!   sends one) must be the public URL's, its `csrf` field must be the session's token (else
//!   403), and it spends the caller's plan bucket like any other request that does work.
//! - [`SignInForm`]: the sign-in forms, before any session: `Host` and `Origin` as above, the
//!   CSRF cookie and field must match (double submit), and the client address's sign-in
//!   bucket is spent before the credentials are looked at (the TCP peer's address, or from a
//!   proxy in `CONVERRA_TRUSTED_PROXIES` the client its `X-Forwarded-For` names; an IPv6
//!   client by its /64).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::Site;
use super::error::WebError;
use converra_core::access::sessions::csrf_token;
use converra_core::{Caller, Core};

/// A signed-in browser: who, and the CSRF token its forms carry.
pub struct Signed {
    pub caller: Caller,
    pub csrf: String,
}

/// A state-changing form from a signed-in browser, checked (see the module's text).
pub struct SignedForm<T> {
    pub caller: Caller,
    pub csrf: String,
    pub form: T,
    /// The session cookie's value (sign-out ends that session).
    pub session: SecretString,
}

/// A form with nothing in it but its CSRF token: a button that does one thing (remove, revoke,
/// sign out).
#[derive(serde::Deserialize)]
pub struct Empty {}

/// A sign-in form, checked (see the module's text).
pub struct SignInForm<T> {
    pub form: T,
}

impl Signed {
    /// The signed-in browser a checked form came from (its page is rendered again).
    pub fn new(caller: Caller, csrf: String) -> Self {
        Self { caller, csrf }
    }

    /// The session cookie's value, after the `Host` check.
    fn session(parts: &Parts) -> Result<SecretString, WebError> {
        let site = site(parts);
        check_host(parts, &site)?;
        let cookie = cookie(&parts.headers, site.session_cookie()).ok_or(WebError::SignedOut)?;
        Ok(SecretString::from(cookie.to_owned()))
    }
}

/// The client's address for the sign-in bucket: the TCP peer's, or from a trusted proxy the one
/// its `X-Forwarded-For` names (see `config::TrustedProxies`).
fn client_address(parts: &Parts, site: &Site) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    // A value that is not text reads as a bad hop, which ends the walk.
    let forwarded = parts.headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or(""));
    Some(site.proxies.client(peer.ip(), forwarded))
}

fn site(parts: &Parts) -> Arc<Site> {
    parts.extensions.get::<Arc<Site>>().cloned().expect("the web routes carry their Site")
}

/// The value of cookie `name`, if the request carries it.
pub(super) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The request's `Host` must be the public URL's (a page served under another name could be a
/// DNS-rebinding attack, and its cookies are not ours).
fn check_host(parts: &Parts, site: &Site) -> Result<(), WebError> {
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if host.eq_ignore_ascii_case(&site.authority) { Ok(()) } else { Err(WebError::WrongHost) }
}

/// A form post must come from a page of this site. Browsers say so in `Sec-Fetch-Site` (sent
/// whatever the referrer policy); `Origin`, when it names an origin, must be the public URL's.
/// Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` for its own forms, so
/// `null` proves nothing either way: the CSRF token decides then.
fn check_origin(parts: &Parts, site: &Site) -> Result<(), WebError> {
    let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(WebError::Csrf);
    }
    match header(ORIGIN.as_str()) {
        Some(origin) if origin != "null" && origin != site.origin => Err(WebError::Csrf),
        _ => Ok(()),
    }
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The form's `csrf` field.
fn csrf_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned())
}

async fn body(req: Request) -> Result<axum::body::Bytes, WebError> {
    let limit = crate::http::BodyLimit::of(req.extensions());
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| WebError::TooLarge)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WebError> {
    serde_urlencoded::from_bytes(body).map_err(|e| WebError::BadForm(e.to_string()))
}

impl FromRequestParts<Arc<Core>> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, WebError> {
        let session = Signed::session(parts)?;
        let caller = core.session_caller(&session).await?;
        Ok(Signed { caller, csrf: csrf_token(&session) })
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<Core>> for SignedForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, core: &Arc<Core>) -> Result<Self, WebError> {
        let (mut parts, body_in) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, core).await?;
        let session = Signed::session(&parts)?;
        check_origin(&parts, &site(&parts))?;
        let bytes = body(Request::from_parts(parts, body_in)).await?;
        if !csrf_field(&bytes).is_some_and(|given| same(&given, &signed.csrf)) {
            return Err(WebError::Csrf);
        }
        core.spend_plan_bucket(&signed.caller).await?;
        Ok(SignedForm { form: parse(&bytes)?, caller: signed.caller, csrf: signed.csrf, session })
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<Core>> for SignInForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, core: &Arc<Core>) -> Result<Self, WebError> {
        let (parts, body_in) = req.into_parts();
        let site = site(&parts);
        check_host(&parts, &site)?;
        check_origin(&parts, &site)?;
        let expected = cookie(&parts.headers, site.csrf_cookie()).unwrap_or_default().to_owned();
        let client = client_address(&parts, &site);
        let bytes = body(Request::from_parts(parts, body_in)).await?;
        if !csrf_field(&bytes).is_some_and(|given| same(&given, &expected)) {
            return Err(WebError::Csrf);
        }
        core.sign_in_attempt(client).await?;
        Ok(SignInForm { form: parse(&bytes)? })
    }
}
