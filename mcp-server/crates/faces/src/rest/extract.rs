//! Request extractors whose failures are our JSON errors: bodies (size limit, JSON syntax,
//! unknown or invalid fields named by path), queries, paths and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use converra_core::{Caller, Error};

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
/// face renders in its own shape (axum's own rejection is plain text). Within the app's budget
/// of buffered bytes too, when it has one (`http/budget.rs`).
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    let limit = crate::http::BodyLimit::of(req.extensions());
    if let Some(budget) = req.extensions().get::<crate::http::budget::BufferBudget>().cloned() {
        return budget.read(req, limit).await;
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge { limit }
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

/// The authenticated caller, put there by the auth middleware (a wrapper: `Caller` is the
/// core's, and axum's extractor trait is foreign to both crates).
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Taken, not cloned: one handler extracts the caller once.
        parts
            .extensions
            .remove::<Caller>()
            .map(Authenticated)
            .ok_or(ApiError(Error::Unauthorized(converra_core::AuthError::Missing)))
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

/// Property tests standing in for a fuzzer: the request JSON types never panic on arbitrary
/// input, and a wrong shape is a validation error. Regression seeds, if proptest ever finds
/// one, land in `proptest-regressions/` (committed).
#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::parse_json;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn request_types_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_json::<converra::AddProviderKey>(&bytes);
            let _ = parse_json::<converra::CompletionRequest>(&bytes);
            let _ = parse_json::<converra::CreateApiKey>(&bytes);
            let _ = parse_json::<converra::CreateMember>(&bytes);
        }

        #[test]
        fn request_types_reject_wrong_shapes_as_validation_errors(value in arb_json()) {
            let bytes = serde_json::to_vec(&value).unwrap();
            for result in [
                parse_json::<converra::AddProviderKey>(&bytes).err(),
                parse_json::<converra::CompletionRequest>(&bytes).err(),
                parse_json::<converra::CreateMember>(&bytes).err(),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert_eq!(result.code(), converra::ErrorCode::ValidationError);
            }
        }
    }

    /// Arbitrary JSON, with the field names the request types use so deep paths are reached.
    fn arb_json() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("provider".to_owned()),
            Just("name".to_owned()),
            Just("api_key".to_owned()),
            Just("model".to_owned()),
            Just("messages".to_owned()),
            Just("role".to_owned()),
            Just("content".to_owned()),
            Just("email".to_owned()),
            "[a-z]{1,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9 -]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(names.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
