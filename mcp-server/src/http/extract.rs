//! Request extractors whose failures are our JSON errors: bodies (size limit, JSON syntax,
//! unknown or invalid fields named by path), queries, paths and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::core::{Caller, Error};
use crate::edge::error::ApiError;

/// Parses a JSON body into a wire type; names the faulty field on failure.
pub struct Json<T>(pub T);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // The common case parses once; only a failure pays for locating the faulty field.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("request body is not valid JSON: {inner}")
        } else {
            // serde's text names the field and the expected type; it never quotes secrets,
            // because secret fields are plain strings that always deserialize.
            format!("invalid request body: {inner}")
        };
        let field = (path != "." && !inner.is_syntax()).then_some(path);
        Error::Validation { field, message }
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let bytes = read_body(req, state).await?;
        if !is_json {
            return Err(ApiError(Error::Validation {
                field: None,
                message: "Content-Type must be application/json".into(),
            }));
        }
        Ok(Json(parse_json(&bytes)?))
    }
}

/// Reads a whole body within the configured limit; over it is `PAYLOAD_TOO_LARGE`, which each
/// face renders in its own shape (axum's own rejection is plain text).
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge { limit: crate::edge::body_limit() }
        } else {
            Error::Validation { field: None, message: "could not read the request body".into() }
        }
    })
}

/// Parses the query string into a wire type.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = Some(e.path().to_string()).filter(|p| p != ".");
            ApiError(Error::Validation { field, message: format!("invalid query: {}", e.into_inner()) })
        })
    }
}

/// The authenticated caller, put there by the auth middleware.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Taken, not cloned: one handler extracts the caller once.
        parts.extensions.remove::<Caller>().ok_or(ApiError(Error::Unauthorized(crate::core::AuthError::Missing)))
    }
}

/// One path segment (an object id); a malformed one is a JSON 400, not axum's plain text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|axum::extract::Path(v)| Path(v)).map_err(
            |e| {
                ApiError(Error::Validation {
                    field: Some("id".into()),
                    message: format!("invalid path: {}", e.body_text()),
                })
            },
        )
    }
}
