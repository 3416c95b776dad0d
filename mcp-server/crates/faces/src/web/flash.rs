//! Post-redirect-get: a form that changed something answers `303 See Other` to the page it came
//! from, and what happened travels in a short-lived cookie (the "flash") that the next page
//! shows once and clears. Reloading that page only reads it again; the back button never
//! re-posts. The one exception is a page that shows a secret once (a new API key, a new
//! sign-in link): it is rendered as the form's answer, never stored to be shown later.
//!
//! The flash holds a sentence of the product's own (never a secret: notices never carry one),
//! `HttpOnly`, `SameSite=Lax`, for one minute; a page escapes it like every other value.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::Site;
use super::guard::cookie;
use super::layout::Notice;

/// How long a flash waits for the page that shows it.
const FLASH_SECS: i64 = 60;
/// A flash longer than this is cut (a cookie holds about 4 kB).
const MAX_TEXT: usize = 600;

/// The notice a form left for this page, if any.
pub struct Flash(pub Option<Notice>);

fn encode(n: &Notice) -> String {
    let text: String = n.text.chars().take(MAX_TEXT).collect();
    let kind = if n.ok { 'o' } else { 'e' };
    format!("{kind}{}", form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>())
}

fn decode(value: &str) -> Option<Notice> {
    let ok = match value.get(..1)? {
        "o" => true,
        "e" => false,
        _ => return None,
    };
    let field = format!("t={}", &value[1..]);
    let (_, text) = form_urlencoded::parse(field.as_bytes()).next()?;
    (!text.is_empty()).then(|| Notice { ok, text: text.into_owned() })
}

/// `303 See Other` to `to`, leaving `notice` for the page there.
pub fn redirect(site: &Site, to: &str, notice: Option<Notice>) -> Response {
    match notice {
        Some(n) => ([(SET_COOKIE, site.cookie(site.flash_cookie(), &encode(&n), FLASH_SECS))], Redirect::to(to))
            .into_response(),
        None => Redirect::to(to).into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(site) = parts.extensions.get::<Arc<Site>>() else { return Ok(Flash(None)) };
        Ok(Flash(cookie(&parts.headers, site.flash_cookie()).and_then(decode)))
    }
}

/// Clears the flash once a page has been answered with it (a page shows it once): every answer
/// to a request that carried one, unless that answer leaves a new one.
pub async fn clear_shown(site: Arc<Site>, req: Request, next: Next) -> Response {
    let carried = cookie(req.headers(), site.flash_cookie()).is_some();
    let mut response = next.run(req).await;
    let prefix = format!("{}=", site.flash_cookie());
    let sets_one =
        response.headers().get_all(SET_COOKIE).iter().any(|v| v.to_str().is_ok_and(|v| v.starts_with(&prefix)));
    if carried && !sets_one && !response.status().is_redirection() {
        response.headers_mut().append(SET_COOKIE, site.cookie(site.flash_cookie(), "", 0));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_survives_the_cookie_whatever_its_characters() {
        for (ok, text) in
            [(true, "Saved OpenAI-Production: it is now the active OpenAI key."), (false, "a; b, \"c\" ü +")]
        {
            let back = decode(&encode(&Notice { ok, text: text.into() })).unwrap();
            assert_eq!((back.ok, back.text.as_str()), (ok, text));
            assert!(!encode(&Notice { ok, text: text.into() }).contains([';', ',', ' ', '"']));
        }
        assert!(decode("x123").is_none() && decode("").is_none() && decode("o").is_none());
    }
}
