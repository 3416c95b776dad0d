//! What a tool takes besides `&self`: the authenticated caller and its typed arguments.

use std::borrow::Cow;

use axum::http::request::Parts;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::schemars::{self, JsonSchema};
use serde::de::DeserializeOwned;

use converra_core::{Caller, Error};

/// The authenticated caller of a tool call.
///
/// Over HTTP the REST auth middleware put the [`Caller`] into the request's extensions, and rmcp
/// hands the request's [`Parts`] to the tool, so it is found one level down. Over stdio there
/// are no `Parts`: the stdio server resolves its API key before each call and puts the `Caller`
/// into the tool context's extensions directly.
pub struct Authenticated(pub Caller);

impl<S> FromContextPart<ToolCallContext<'_, S>> for Authenticated {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let extensions = &context.request_context().extensions;
        extensions
            .get::<Caller>()
            .or_else(|| extensions.get::<Parts>().and_then(|parts| parts.extensions.get::<Caller>()))
            .cloned()
            .map(Authenticated)
            // Unreachable behind the auth middleware; a protocol error, not a tool error.
            .ok_or_else(|| rmcp::ErrorData::internal_error("the request is not authenticated", None))
    }
}

/// A tool's arguments, parsed like a REST body: a missing, unknown or invalid field is a
/// `VALIDATION_ERROR` tool error naming the field, with the same wording as REST.
///
/// Named `Parameters` on purpose: rmcp's `#[tool]` macro takes the input schema from the
/// argument whose type is called `Parameters`. Parsing never fails the extraction; the tool
/// body meets the error with `?`.
pub struct Parameters<T>(pub Result<T, Error>);

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// Parses tool arguments; the error names the faulty field (`provider`, `messages[0].role`).
pub fn parse_arguments<T: DeserializeOwned>(arguments: rmcp::model::JsonObject) -> Result<T, Error> {
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        // serde's text names the field and the expected type; it never quotes secrets, because
        // secret fields are plain strings that always deserialize.
        let message = format!("invalid arguments: {}", e.into_inner());
        Error::Validation { field: (path != ".").then_some(path), message }
    })
}

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        Ok(Parameters(parse_arguments(context.arguments.take().unwrap_or_default())))
    }
}
