//! A Chat Completions `messages` array read for translation: the system and developer messages'
//! text apart, then the conversation as turns — user text and images, assistant text and tool
//! calls (their arguments parsed), tool results. Anything a message holds beyond that is refused
//! by name (`messages[2].audio`), but an echo of a previous answer's citations, which the model
//! never reads, is left out and named.

use converra::Provider;
use serde_json::Value;
use serde_json::value::RawValue;

use super::translate::{Object, unsupported};
use super::view::value_of;
use converra_base::Error;

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    User(Content),
    Assistant {
        content: Content,
        calls: Vec<ToolCall>,
    },
    /// A tool's result for the call `call_id` (of the function `name`).
    Tool {
        call_id: String,
        name: String,
        content: Content,
    },
}

/// A message's content: a plain string stays one; parts stay parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
}

/// An image part: its bytes (a `data:` URL's), or a URL the provider fetches.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Inline { media_type: String, data: String },
    Url(String),
}

/// A call the assistant made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, parsed from the JSON text the client holds (always an object).
    pub arguments: Value,
}

impl Content {
    /// The text of every text part, joined (a tool result or system message as one string).
    pub fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t.as_str()),
                    Part::Image(_) => None,
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(text) => text.is_empty(),
            Content::Parts(parts) => parts.is_empty(),
        }
    }
}

/// Reads `messages` (its JSON text): the system texts and the turns. Left-out citations are
/// named in `dropped`.
pub(super) fn read_turns(
    messages: &str,
    provider: Provider,
    dropped: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<Turn>), Error> {
    let raws: Vec<&RawValue> = serde_json::from_str(messages)
        .map_err(|_| Error::validation("messages", "`messages` must be an array of objects"))?;
    let (mut system, mut turns) = (Vec::new(), Vec::with_capacity(raws.len()));
    for (i, raw) in raws.into_iter().enumerate() {
        let message = Object::parse(raw, format!("messages[{i}]"), provider)?;
        let role: String = message.require("role", "a string")?;
        match role.as_str() {
            "system" | "developer" => {
                message.only(&["role", "content"])?;
                system.push(content(&message, false)?.text());
            }
            "user" => {
                message.only(&["role", "content"])?;
                turns.push(Turn::User(content(&message, true)?));
            }
            "assistant" => {
                // An answer echoed back whole: its empty or absent extras carry nothing.
                if message.get("annotations").is_some_and(|raw| raw.get() != "[]") {
                    dropped.push(message.path("annotations"));
                }
                message.only(&["role", "content", "tool_calls", "annotations"])?;
                let calls = match message.get("tool_calls") {
                    Some(raw) => tool_calls(raw, &message.path("tool_calls"), provider)?,
                    None => Vec::new(),
                };
                turns.push(Turn::Assistant { content: content(&message, false)?, calls });
            }
            "tool" => {
                message.only(&["role", "content", "tool_call_id"])?;
                let call_id: String = message.require("tool_call_id", "a string")?;
                let name = called(&turns, &call_id).ok_or_else(|| {
                    let at = message.path("tool_call_id");
                    Error::validation(&at, format!("`{at}` names no tool call of an earlier assistant message"))
                })?;
                turns.push(Turn::Tool { call_id, name, content: content(&message, false)? });
            }
            // The older `function` role belongs to `functions`, which is not carried.
            _ => return Err(unsupported(message.path("role"), provider)),
        }
    }
    Ok((system, turns))
}

/// The function an earlier assistant turn called with `id`.
fn called(turns: &[Turn], id: &str) -> Option<String> {
    turns.iter().rev().find_map(|turn| match turn {
        Turn::Assistant { calls, .. } => calls.iter().find(|c| c.id == id).map(|c| c.name.clone()),
        _ => None,
    })
}

/// A message's `content`: a string, or parts (text; images where `images` allows them).
fn content(message: &Object<'_>, images: bool) -> Result<Content, Error> {
    let Some(raw) = message.get("content") else { return Ok(Content::Text(String::new())) };
    let at = message.path("content");
    if raw.get().starts_with('"') {
        return Ok(Content::Text(value_of(raw, &at, "a string")?));
    }
    let list: Vec<&RawValue> = value_of(raw, &at, "a string or an array of content parts")?;
    let mut parts = Vec::with_capacity(list.len());
    for (j, raw) in list.into_iter().enumerate() {
        let part = Object::parse(raw, format!("{at}[{j}]"), message.provider())?;
        let kind: String = part.require("type", "a string")?;
        match kind.as_str() {
            "text" => {
                part.only(&["type", "text"])?;
                parts.push(Part::Text(part.require("text", "a string")?));
            }
            "image_url" if images => {
                part.only(&["type", "image_url"])?;
                parts.push(Part::Image(image(&part)?));
            }
            // Audio, files, a refusal echoed back: no equivalent.
            _ => return Err(unsupported(part.path(&kind), message.provider())),
        }
    }
    Ok(Content::Parts(parts))
}

/// An `image_url` part: a `data:` URL's bytes, or an `http(s)` URL (Anthropic fetches one;
/// Gemini reads only its own file URIs, so there it is refused). The other providers read
/// an image at its full resolution (`detail: high`, as `auto` picks for any large image); a
/// low-resolution read has no equivalent.
fn image(part: &Object<'_>) -> Result<Image, Error> {
    let at = part.path("image_url");
    let raw = part.get("image_url").ok_or_else(|| Error::validation(&at, format!("`{at}` is required")))?;
    let image = Object::parse(raw, at.clone(), part.provider())?;
    image.only(&["url", "detail"])?;
    if image.read::<String>("detail", "a string")?.is_some_and(|d| d == "low") {
        return Err(unsupported(image.path("detail"), part.provider()));
    }
    let url: String = image.require("url", "a string")?;
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = rest.split_once(";base64,").ok_or_else(|| {
            Error::validation(image.path("url"), "a `data:` URL must be base64 (`data:image/png;base64,…`)")
        })?;
        return Ok(Image::Inline { media_type: media_type.to_owned(), data: data.to_owned() });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        if part.provider() == Provider::Gemini {
            return Err(unsupported(image.path("url"), part.provider()));
        }
        return Ok(Image::Url(url));
    }
    Err(Error::validation(image.path("url"), "an image URL must be `https:` or a base64 `data:` URL"))
}

/// An assistant's `tool_calls`: functions, their arguments JSON objects.
fn tool_calls(raw: &RawValue, at: &str, provider: Provider) -> Result<Vec<ToolCall>, Error> {
    let list: Vec<&RawValue> = value_of(raw, at, "an array of tool calls")?;
    let mut calls = Vec::with_capacity(list.len());
    for (k, raw) in list.into_iter().enumerate() {
        let call = Object::parse(raw, format!("{at}[{k}]"), provider)?;
        if call.read::<String>("type", "a string")?.is_some_and(|t| t != "function") {
            return Err(unsupported(call.path("type"), provider));
        }
        call.only(&["id", "type", "function"])?;
        let at = call.path("function");
        let function = Object::parse(
            call.get("function").ok_or_else(|| Error::validation(&at, format!("`{at}` is required")))?,
            at,
            provider,
        )?;
        function.only(&["name", "arguments"])?;
        let text: String = function.read("arguments", "a string")?.unwrap_or_default();
        let arguments = match text.trim() {
            "" => Value::Object(Default::default()),
            text => serde_json::from_str::<Value>(text).ok().filter(Value::is_object).ok_or_else(|| {
                Error::validation(function.path("arguments"), "`arguments` must be a JSON object, as text")
            })?,
        };
        calls.push(ToolCall {
            id: call.require("id", "a string")?,
            name: function.require("name", "a string")?,
            arguments,
        });
    }
    Ok(calls)
}
