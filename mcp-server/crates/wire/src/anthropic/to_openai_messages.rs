//! A Messages request's `system` and `messages` as Chat Completions messages (see `to_openai.rs`
//! for what is carried, left out and refused). A block becomes a content part: text as text, an
//! image as an `image_url` (a base64 image as a `data:` URL), a base64 PDF as an inline `file`;
//! an assistant's `tool_use` becomes one of its `tool_calls` (the input's JSON text as the
//! arguments); a `tool_result` becomes a `tool` message, placed before the user's other blocks
//! of the same turn (OpenAI wants the results right after the calls). A failed result
//! (`is_error`) says so in its first words (`Error: `), the one way a tool message can.

use serde_json::value::RawValue;

use super::chat_body::{ChatMessage, Content, FileData, FunctionCall, ImageUrl, Part, ToolCall};
use super::to_openai::{Tx, object, only, string_of};
use crate::openai::{Members, value_of};
use converra_base::Error;

/// Carried blocks: a content block's members and its `type`.
struct Block<'a> {
    at: String,
    members: Members<'a>,
    kind: String,
}

fn block<'a>(raw: &'a RawValue, at: String) -> Result<Block<'a>, Error> {
    let members = object(raw, &at)?;
    let kind = string_of(&members, "type", &at)?
        .ok_or_else(|| Error::validation(format!("{at}.type"), format!("`{at}.type` is required")))?;
    Ok(Block { at, members, kind })
}

impl Block<'_> {
    fn only(&self, known: &[&str], tx: &mut Tx) -> Result<(), Error> {
        let mut all = vec!["type"];
        all.extend_from_slice(known);
        only(&self.members, &all, &self.at, tx)
    }

    fn text(&self) -> Result<String, Error> {
        Ok(string_of(&self.members, "text", &self.at)?.unwrap_or_default())
    }

    /// This block refused by its type.
    fn refused(&self, tx: &Tx) -> Error {
        tx.refuse(format!("{}.{}", self.at, self.kind))
    }
}

/// A content value's blocks (an array of objects), each with its path.
fn blocks<'a>(raw: &'a RawValue, at: &str) -> Result<Vec<(&'a RawValue, String)>, Error> {
    let list: Vec<&'a RawValue> = value_of(raw, at, "a string or an array of content blocks")?;
    Ok(list.into_iter().enumerate().map(|(j, raw)| (raw, format!("{at}[{j}]"))).collect())
}

/// Text-only content (`system`, a system message, a tool result): a string as a string, text
/// blocks as text parts; any other block refused.
pub(super) fn system(raw: &RawValue, at: &str, tx: &mut Tx) -> Result<Content, Error> {
    if raw.get().starts_with('"') {
        return Ok(Content::Text(value_of(raw, at, "a string")?));
    }
    let mut parts = Vec::new();
    for (raw, at) in blocks(raw, at)? {
        let block = block(raw, at)?;
        if block.kind != "text" {
            return Err(block.refused(tx));
        }
        block.only(&["text"], tx)?;
        parts.push(Part::Text { text: block.text()? });
    }
    Ok(Content::Parts(parts))
}

/// Appends `messages` (the client's array) to `out`, translated.
pub(super) fn messages<'a>(raw: &'a RawValue, tx: &mut Tx, out: &mut Vec<ChatMessage<'a>>) -> Result<(), Error> {
    let list: Vec<&'a RawValue> = value_of(raw, "messages", "an array of messages")?;
    for (i, raw) in list.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = object(raw, &at)?;
        only(&message, &["role", "content"], &at, tx)?;
        let role = string_of(&message, "role", &at)?;
        let content_at = format!("{at}.content");
        let content = message
            .get("content")
            .ok_or_else(|| Error::validation(&content_at, format!("`{content_at}` is required")))?;
        match role.as_deref() {
            Some("user") => user(content, &content_at, tx, out)?,
            Some("assistant") => out.push(assistant(content, &content_at, tx)?),
            // A system message mid-conversation (Claude Code's `mid-conversation-system` beta).
            Some("system") => out.push(ChatMessage::System { content: system(content, &content_at, tx)? }),
            _ => {
                let field = format!("{at}.role");
                return Err(Error::validation(&field, format!("`{field}` must be user, assistant or system")));
            }
        }
    }
    Ok(())
}

/// A user turn: its tool results as `tool` messages first, then its other blocks as one user
/// message (if any).
fn user<'a>(raw: &'a RawValue, at: &str, tx: &mut Tx, out: &mut Vec<ChatMessage<'a>>) -> Result<(), Error> {
    if raw.get().starts_with('"') {
        out.push(ChatMessage::User { content: Content::Text(value_of(raw, at, "a string")?) });
        return Ok(());
    }
    let mut parts = Vec::new();
    for (raw, at) in blocks(raw, at)? {
        let block = block(raw, at)?;
        match block.kind.as_str() {
            "text" => {
                block.only(&["text"], tx)?;
                parts.push(Part::Text { text: block.text()? });
            }
            "image" => {
                block.only(&["source"], tx)?;
                parts.push(Part::ImageUrl { image_url: ImageUrl { url: image_url(&block, tx)? } });
            }
            "document" => {
                block.only(&["source", "title"], tx)?;
                parts.push(pdf(&block, tx)?);
            }
            "tool_result" => out.push(tool_result(&block, tx)?),
            _ => return Err(block.refused(tx)),
        }
    }
    if !parts.is_empty() {
        out.push(ChatMessage::User { content: Content::Parts(parts) });
    }
    Ok(())
}

/// An assistant turn: its text as content, its `tool_use` blocks as tool calls; thinking of an
/// earlier turn is left out, named (Anthropic strips it from the context too).
fn assistant<'a>(raw: &'a RawValue, at: &str, tx: &mut Tx) -> Result<ChatMessage<'a>, Error> {
    if raw.get().starts_with('"') {
        let content = Content::Text(value_of(raw, at, "a string")?);
        return Ok(ChatMessage::Assistant { content: Some(content), tool_calls: Vec::new() });
    }
    let (mut parts, mut tool_calls) = (Vec::new(), Vec::new());
    for (raw, at) in blocks(raw, at)? {
        let block = block(raw, at)?;
        match block.kind.as_str() {
            "text" => {
                block.only(&["text"], tx)?;
                parts.push(Part::Text { text: block.text()? });
            }
            "tool_use" => {
                block.only(&["id", "name", "input"], tx)?;
                let need = |name: &str| {
                    string_of(&block.members, name, &block.at)?.ok_or_else(|| {
                        Error::validation(format!("{}.{name}", block.at), format!("`{}.{name}` is required", block.at))
                    })
                };
                let (id, name) = (need("id")?, need("name")?);
                let arguments = match block.members.get("input") {
                    Some(input) if input.get().starts_with('{') => input.get(),
                    _ => {
                        let field = format!("{}.input", block.at);
                        return Err(Error::validation(&field, format!("`{field}` must be an object")));
                    }
                };
                tool_calls.push(ToolCall { id, kind: "function", function: FunctionCall { name, arguments } });
            }
            "thinking" => tx.drop("content.thinking"),
            "redacted_thinking" => tx.drop("content.redacted_thinking"),
            _ => return Err(block.refused(tx)),
        }
    }
    let content = match (parts.is_empty(), tool_calls.is_empty()) {
        (false, _) => Some(Content::Parts(parts)),
        (true, true) => Some(Content::Text(String::new())),
        (true, false) => None,
    };
    Ok(ChatMessage::Assistant { content, tool_calls })
}

/// A `tool_result` as a `tool` message; its content text only (a string, or text blocks).
fn tool_result<'a>(block: &Block<'a>, tx: &mut Tx) -> Result<ChatMessage<'a>, Error> {
    block.only(&["tool_use_id", "content", "is_error"], tx)?;
    let tool_call_id = string_of(&block.members, "tool_use_id", &block.at)?.ok_or_else(|| {
        Error::validation(format!("{}.tool_use_id", block.at), format!("`{}.tool_use_id` is required", block.at))
    })?;
    let failed = block
        .members
        .get("is_error")
        .map(|raw| value_of::<bool>(raw, &format!("{}.is_error", block.at), "true or false"))
        .transpose()?
        .unwrap_or(false);
    let content = match block.members.get("content") {
        Some(raw) => system(raw, &format!("{}.content", block.at), tx)?,
        None => Content::Text(String::new()),
    };
    let content = match (failed, content) {
        (false, content) => content,
        (true, Content::Text(text)) => Content::Text(format!("Error: {text}")),
        (true, Content::Parts(mut parts)) => {
            parts.insert(0, Part::Text { text: "Error:".into() });
            Content::Parts(parts)
        }
    };
    Ok(ChatMessage::Tool { tool_call_id, content })
}

/// The members of a block's `source`, and its `type`.
fn source<'a>(block: &Block<'a>) -> Result<(Members<'a>, String, String), Error> {
    let at = format!("{}.source", block.at);
    let raw = block.members.get("source").ok_or_else(|| Error::validation(&at, format!("`{at}` is required")))?;
    let source = object(raw, &at)?;
    let kind = string_of(&source, "type", &at)?.unwrap_or_default();
    Ok((source, kind, at))
}

/// A source's required string member.
fn required(source: &Members<'_>, name: &str, at: &str) -> Result<String, Error> {
    string_of(source, name, at)?
        .ok_or_else(|| Error::validation(format!("{at}.{name}"), format!("`{at}.{name}` is required")))
}

/// An image's URL: base64 data as a `data:` URL, or the image's own URL. A file id (an object
/// stored on an Anthropic account) means nothing to OpenAI.
fn image_url(block: &Block<'_>, tx: &mut Tx) -> Result<String, Error> {
    let (source, kind, at) = source(block)?;
    match kind.as_str() {
        "base64" => {
            only(&source, &["type", "media_type", "data"], &at, tx)?;
            Ok(format!("data:{};base64,{}", required(&source, "media_type", &at)?, required(&source, "data", &at)?))
        }
        "url" => {
            only(&source, &["type", "url"], &at, tx)?;
            required(&source, "url", &at)
        }
        "file" => Err(tx.refuse(format!("{at}.file_id"))),
        other => Err(tx.refuse(format!("{at}.{other}"))),
    }
}

/// A base64 PDF as an inline file (its `title` the file's name); any other document (text,
/// a URL, a stored file, custom content) is refused by its source.
fn pdf(block: &Block<'_>, tx: &mut Tx) -> Result<Part, Error> {
    let (source, kind, at) = source(block)?;
    if kind == "file" {
        return Err(tx.refuse(format!("{at}.file_id")));
    }
    if kind != "base64" {
        return Err(tx.refuse(format!("{at}.{kind}")));
    }
    only(&source, &["type", "media_type", "data"], &at, tx)?;
    let media_type = required(&source, "media_type", &at)?;
    if media_type != "application/pdf" {
        return Err(tx.refuse(format!("{at}.media_type")));
    }
    let filename = string_of(&block.members, "title", &block.at)?.unwrap_or_else(|| "document.pdf".into());
    let file_data = format!("data:{media_type};base64,{}", required(&source, "data", &at)?);
    Ok(Part::File { file: FileData { filename, file_data } })
}
