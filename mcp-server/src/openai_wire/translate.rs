//! A Chat Completions request translated for a provider of another wire (Anthropic, Gemini):
//! what Converra's own request carries — system, user and assistant text, the output cap,
//! temperature, stop, streaming — and nothing else. A field that would change the answer and is
//! not carried is refused by name (`UNSUPPORTED_FIELD`, nothing sent); the few advisory fields
//! that change nothing in the answer are left out and named (`X-Converra-Dropped-Fields`).
//! Never dropped silently.

use converra::{CompletionRequest, Message, MessageRole, Provider};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Stop;
use super::view::{ChatView, Members};
use crate::core::Error;

/// Top-level fields the translation carries.
const CARRIED: [&str; 9] = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "stop",
    "stream",
    "stream_options",
    "n",
];

/// Top-level fields that do not change the answer (end-user ids, tags, storage and caching
/// hints, the service tier): left out on a translated path, each named in
/// `X-Converra-Dropped-Fields`.
pub const ADVISORY: [&str; 6] = ["user", "safety_identifier", "metadata", "store", "prompt_cache_key", "service_tier"];

/// The translated request and the advisory fields left out of it.
pub struct Translated {
    pub request: CompletionRequest,
    pub dropped: Vec<&'static str>,
}

fn unsupported(field: impl Into<String>, provider: Provider) -> Error {
    Error::UnsupportedField { field: field.into(), provider }
}

fn value<'a, T: Deserialize<'a>>(raw: &'a RawValue, field: &str, expected: &str) -> Result<T, Error> {
    serde_json::from_str(raw.get()).map_err(|_| Error::validation(field, format!("`{field}` must be {expected}")))
}

impl ChatView<'_> {
    /// Translates this request into Converra's own for `provider`, or refuses the first field
    /// that cannot reach it. `project_id` comes from `X-Converra-Project`; no tone is applied
    /// (the caller's prompt is theirs).
    pub fn translated(&self, provider: Provider, project_id: Option<String>) -> Result<Translated, Error> {
        let mut dropped = Vec::new();
        for (name, raw) in &self.members.0 {
            if raw.get() == "null" || CARRIED.contains(&name.as_ref()) {
                continue;
            }
            match ADVISORY.iter().find(|a| **a == name.as_ref()) {
                Some(advisory) => dropped.push(*advisory),
                None => return Err(unsupported(name.as_ref(), provider)),
            }
        }
        if self.n != 1 {
            return Err(unsupported("n", provider));
        }
        let messages_raw = self.members.get("messages").map_or("[]", RawValue::get);
        let raws: Vec<&RawValue> = serde_json::from_str(messages_raw)
            .map_err(|_| Error::validation("messages", "`messages` must be an array of objects"))?;
        let mut messages = Vec::with_capacity(raws.len());
        for (i, raw) in raws.into_iter().enumerate() {
            messages.push(message(i, raw, provider)?);
        }
        let max_completion = self.number("max_completion_tokens")?;
        let max_tokens = self.number("max_tokens")?;
        let temperature =
            self.members.get("temperature").map(|raw| value::<f32>(raw, "temperature", "a number")).transpose()?;
        let stop = self
            .members
            .get("stop")
            .map(|raw| value::<Stop>(raw, "stop", "a string or an array of strings"))
            .transpose()?
            .map(Stop::into_vec)
            .unwrap_or_default();
        let request = CompletionRequest {
            model: self.model.clone().into_owned(),
            messages,
            max_tokens: max_completion.or(max_tokens),
            temperature,
            stop,
            project_id,
            tone: None,
            stream: false,
        };
        Ok(Translated { request, dropped })
    }
}

/// One message: a role Converra's request has, and text content (a string, or text parts).
fn message(i: usize, raw: &RawValue, provider: Provider) -> Result<Message, Error> {
    let at = format!("messages[{i}]");
    let members = Members::parse(raw.get(), &at)?;
    let role: String = match members.get("role") {
        Some(raw) => value(raw, &format!("{at}.role"), "a string")?,
        None => return Err(Error::validation(format!("{at}.role"), format!("`{at}.role` is required"))),
    };
    let role = match role.as_str() {
        "system" | "developer" => MessageRole::System,
        "user" => MessageRole::User,
        "assistant" => MessageRole::Assistant,
        // Tool results (and the older `function` role) belong to tool calls, not carried yet.
        _ => return Err(unsupported(format!("{at}.role"), provider)),
    };
    for (name, value) in &members.0 {
        if value.get() != "null" && name != "role" && name != "content" {
            return Err(unsupported(format!("{at}.{name}"), provider));
        }
    }
    let content = match members.get("content") {
        None => String::new(),
        Some(raw) if raw.get().starts_with('"') => value(raw, &format!("{at}.content"), "a string")?,
        Some(raw) => {
            let parts: Vec<&RawValue> = value(raw, &format!("{at}.content"), "a string or an array of content parts")?;
            let mut text = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                text.push_str(&text_part(&format!("{at}.content[{j}]"), part, provider)?);
            }
            text
        }
    };
    Ok(Message { role, content })
}

/// A text part's text; any other part (an image, audio, a file) is refused by its type.
fn text_part(at: &str, raw: &RawValue, provider: Provider) -> Result<String, Error> {
    let members = Members::parse(raw.get(), at)?;
    let kind: String = match members.get("type") {
        Some(raw) => value(raw, &format!("{at}.type"), "a string")?,
        None => return Err(Error::validation(format!("{at}.type"), format!("`{at}.type` is required"))),
    };
    if kind != "text" {
        return Err(unsupported(format!("{at}.{kind}"), provider));
    }
    for (name, value) in &members.0 {
        if value.get() != "null" && name != "type" && name != "text" {
            return Err(unsupported(format!("{at}.{name}"), provider));
        }
    }
    match members.get("text") {
        Some(raw) => value(raw, &format!("{at}.text"), "a string"),
        None => Ok(String::new()),
    }
}
