//! The web face's one mapping from errors to pages: a page that says what happened in the
//! product's words, with the status the REST face would give. A session that ended sends the
//! browser to the sign-in page instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{layout, paths};
use converra_core::{AuthError, Error};

/// Why a page could not be shown or a form not applied.
pub enum WebError {
    /// A core refusal or failure.
    Core(Error),
    /// No session, or one that ended.
    SignedOut,
    /// A form without its CSRF token, or posted from another origin.
    Csrf,
    /// A `Host` that is not the public URL's.
    WrongHost,
    /// A form whose fields do not parse.
    BadForm(String),
    TooLarge,
    /// No page at this address.
    NoPage,
    /// A method this address does not take.
    NotAllowed,
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthorized(AuthError::SignedOut) => WebError::SignedOut,
            e => WebError::Core(e),
        }
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// What a core error means on a page: status and a sentence for people.
pub(super) fn explain(e: &Error) -> (StatusCode, String) {
    crate::http::error::log(e);
    let status = StatusCode::from_u16(crate::http::error::http_status(e)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match e {
        Error::NotFound("Connect link") => {
            "This link is no longer valid: it was used, it expired, or it belongs to another organization. Ask for a new one."
                .to_owned()
        }
        Error::NotStored { .. } => format!("{e}: the key was not saved."),
        Error::NoProviderKey { .. } => match e.body().error.missing_key() {
            Some(missing) => format!("{e} ({missing})."),
            None => e.to_string(),
        },
        Error::RateLimited(info) => {
            format!("Too many attempts: wait {} seconds and try again.", info.retry_after.unwrap_or(60))
        }
        e => e.to_string(),
    };
    (status, text)
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            WebError::SignedOut => return Redirect::to(paths::SIGN_IN).into_response(),
            WebError::Core(e) => explain(&e),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form did not come from this page or has expired: reload the page and try again.".to_owned(),
            ),
            WebError::WrongHost => (
                StatusCode::BAD_REQUEST,
                "This address is not where Converra is served: open it through its public URL.".to_owned(),
            ),
            WebError::BadForm(why) => (StatusCode::BAD_REQUEST, format!("The form could not be read: {why}")),
            WebError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.".to_owned()),
            WebError::NoPage => (StatusCode::NOT_FOUND, "There is no page at this address.".to_owned()),
            WebError::NotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "This address only takes a form from its page: open the page and use its form.".to_owned(),
            ),
        };
        (status, layout::error_page(&text)).into_response()
    }
}
