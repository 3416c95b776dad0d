//! A Messages request translated for an OpenAI model (`/v1/messages` on an OpenAI key). The top
//! level here, the messages and their blocks in `to_openai_messages.rs`. Carried: `system`, the
//! messages (text, images, PDFs, tool calls and results), `tools`, `tool_choice` with
//! `disable_parallel_tool_use`, `stop_sequences`, `max_tokens`, `temperature`, `top_p`,
//! `output_config` (`effort` as `reasoning_effort`, `format` as a strict JSON schema),
//! `metadata.user_id` (handed to the core, which hashes it), streaming with its usage. Left out and
//! named (`X-Converra-Dropped-Fields`), as changing nothing in the answer: `cache_control`,
//! `context_management` (hints to edit the context server-side), `service_tier`, `thinking` of type
//! `adaptive` (the model decides whether to think, as an OpenAI reasoning model does on its own at
//! `reasoning_effort`; Chat Completions never returns the reasoning, and adaptive thinking asks for
//! none), and thinking blocks of earlier turns (Anthropic itself strips those from the context).
//! Refused by name (`UNSUPPORTED_FIELD`, nothing sent): every other field, `thinking` with a fixed
//! `budget_tokens` (no effort level is a token budget, and the thinking it asks for cannot come
//! back), `top_k`, server tools (`web_search_…`, `bash_…`, …), and any block or member this module
//! does not know.

use converra::Provider;
use serde_json::value::RawValue;

use super::chat_body::{ChatBody, ChatMessage, JsonSchema, Named, ResponseFormat, StreamOptions, Tool, ToolChoice};
use super::to_openai_messages::{messages, system};
use super::view::MessagesView;
use crate::openai::{Members, value_of};
use converra_base::Error;

/// A translated request: the body, the advisory fields left out of it, and the client's end-user
/// id (`metadata.user_id`), which the core turns into `safety_identifier`.
#[derive(Debug)]
pub struct ToOpenAi<'a> {
    pub body: ChatBody<'a>,
    pub dropped: Vec<&'static str>,
    pub end_user: Option<String>,
}

/// The translation's bookkeeping: which provider a refusal names, what was left out.
pub(super) struct Tx {
    provider: Provider,
    pub dropped: Vec<&'static str>,
}

impl Tx {
    /// Names an advisory field left out (once, in the order first met).
    pub fn drop(&mut self, name: &'static str) {
        if !self.dropped.contains(&name) {
            self.dropped.push(name);
        }
    }

    /// `UNSUPPORTED_FIELD` naming `field`.
    pub fn refuse(&self, field: impl Into<String>) -> Error {
        Error::UnsupportedField { field: field.into(), provider: self.provider }
    }
}

/// The members of an object value, or a validation error naming it.
pub(super) fn object<'a>(raw: &'a RawValue, at: &str) -> Result<Members<'a>, Error> {
    Members::parse(raw.get(), at)
}

/// A string member's value, if present.
pub(super) fn string_of(members: &Members<'_>, name: &str, at: &str) -> Result<Option<String>, Error> {
    let field = if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
    members.get(name).map(|raw| value_of::<String>(raw, &field, "a string")).transpose()
}

/// Each member present other than `known`: `cache_control` left out and named, any other refused
/// by its path.
pub(super) fn only(members: &Members<'_>, known: &[&str], at: &str, tx: &mut Tx) -> Result<(), Error> {
    for (name, raw) in &members.0 {
        if raw.get() == "null" || known.contains(&name.as_ref()) {
            continue;
        }
        if name == "cache_control" {
            tx.drop("cache_control");
        } else {
            return Err(tx.refuse(format!("{at}.{name}")));
        }
    }
    Ok(())
}

/// Translates `view` into a Chat Completions body for `model` (the provider's own name), or
/// refuses the first field that cannot be carried.
pub fn to_chat<'a>(view: &MessagesView<'a>, model: String, provider: Provider) -> Result<ToOpenAi<'a>, Error> {
    let mut tx = Tx { provider, dropped: Vec::new() };
    let mut body = ChatBody {
        model,
        messages: Vec::new(),
        max_completion_tokens: None,
        temperature: None,
        top_p: None,
        stop: None,
        tools: Vec::new(),
        tool_choice: None,
        parallel_tool_calls: None,
        reasoning_effort: None,
        response_format: None,
        stream: view.stream,
        stream_options: view.stream.then_some(StreamOptions { include_usage: true }),
        safety_identifier: None,
    };
    let (mut system_raw, mut messages_raw, mut end_user, mut one_call) = (None, None, None, false);
    for (name, raw) in &view.members.0 {
        let raw: &'a RawValue = raw;
        if raw.get() == "null" {
            continue;
        }
        match name.as_ref() {
            "model" | "stream" => {}
            "messages" => messages_raw = Some(raw),
            "system" => system_raw = Some(raw),
            "max_tokens" => body.max_completion_tokens = Some(value_of(raw, "max_tokens", "a whole number")?),
            "temperature" => body.temperature = Some(number(raw, "temperature")?),
            "top_p" => body.top_p = Some(number(raw, "top_p")?),
            "stop_sequences" => {
                value_of::<Vec<String>>(raw, "stop_sequences", "an array of strings")?;
                body.stop = Some(raw);
            }
            "tools" => body.tools = tools(raw, &mut tx)?,
            "tool_choice" => (body.tool_choice, one_call) = tool_choice(raw, &mut tx)?,
            "thinking" => thinking(raw, &mut tx)?,
            "output_config" => output_config(raw, &mut tx, &mut body)?,
            "metadata" => end_user = metadata(raw, &mut tx)?,
            "context_management" => tx.drop("context_management"),
            "service_tier" => tx.drop("service_tier"),
            other => return Err(tx.refuse(other)),
        }
    }
    if let Some(raw) = system_raw {
        body.messages.push(ChatMessage::System { content: system(raw, "system", &mut tx)? });
    }
    if let Some(raw) = messages_raw {
        messages(raw, &mut tx, &mut body.messages)?;
    }
    // At most one call per answer; meaningless (and refused by OpenAI) without tools to call.
    if one_call && !body.tools.is_empty() {
        body.parallel_tool_calls = Some(false);
    }
    Ok(ToOpenAi { body, dropped: tx.dropped, end_user })
}

/// A number member, carried as the client wrote it.
fn number<'a>(raw: &'a RawValue, name: &str) -> Result<&'a RawValue, Error> {
    value_of::<f64>(raw, name, "a number")?;
    Ok(raw)
}

/// Client tools as functions (`input_schema` the parameters, as written); a server tool (one
/// with a `type` such as `web_search_20250305`) is refused by its type.
fn tools<'a>(raw: &'a RawValue, tx: &mut Tx) -> Result<Vec<Tool<'a>>, Error> {
    let list: Vec<&'a RawValue> = value_of(raw, "tools", "an array of tools")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, raw) in list.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let tool = object(raw, &at)?;
        match string_of(&tool, "type", &at)?.as_deref() {
            None | Some("custom") => {}
            Some(server) => return Err(tx.refuse(format!("tools: {server}"))),
        }
        only(&tool, &["type", "name", "description", "input_schema", "strict"], &at, tx)?;
        let name = string_of(&tool, "name", &at)?
            .ok_or_else(|| Error::validation(format!("{at}.name"), format!("`{at}.name` is required")))?;
        let parameters = match tool.get("input_schema") {
            Some(schema) if schema.get().starts_with('{') => schema,
            _ => {
                let field = format!("{at}.input_schema");
                return Err(Error::validation(&field, format!("`{field}` must be a JSON schema object")));
            }
        };
        let strict = tool
            .get("strict")
            .map(|raw| value_of::<bool>(raw, &format!("{at}.strict"), "true or false"))
            .transpose()?;
        out.push(Tool {
            kind: "function",
            function: super::chat_body::Function {
                name,
                description: string_of(&tool, "description", &at)?,
                parameters,
                strict,
            },
        });
    }
    Ok(out)
}

/// `tool_choice` and whether it asks for at most one call (`disable_parallel_tool_use`).
fn tool_choice(raw: &RawValue, tx: &mut Tx) -> Result<(Option<ToolChoice>, bool), Error> {
    let at = "tool_choice";
    let choice = object(raw, at)?;
    only(&choice, &["type", "name", "disable_parallel_tool_use"], at, tx)?;
    let one_call = choice
        .get("disable_parallel_tool_use")
        .map(|raw| value_of::<bool>(raw, "tool_choice.disable_parallel_tool_use", "true or false"))
        .transpose()?
        .unwrap_or(false);
    let kind = string_of(&choice, "type", at)?;
    let choice = match kind.as_deref() {
        Some("auto") => ToolChoice::Mode("auto"),
        Some("any") => ToolChoice::Mode("required"),
        Some("none") => ToolChoice::Mode("none"),
        Some("tool") => {
            let name = string_of(&choice, "name", at)?
                .ok_or_else(|| Error::validation("tool_choice.name", "`tool_choice.name` is required"))?;
            ToolChoice::Named { kind: "function", function: Named { name } }
        }
        _ => return Err(Error::validation("tool_choice.type", "`tool_choice.type` must be auto, any, tool or none")),
    };
    Ok((Some(choice), one_call))
}

/// `thinking`: `disabled` is what a Chat Completions answer is (nothing to send); `adaptive`
/// is left out and named; `enabled`, a fixed budget of returned thinking, cannot be carried.
fn thinking(raw: &RawValue, tx: &mut Tx) -> Result<(), Error> {
    let members = object(raw, "thinking")?;
    match string_of(&members, "type", "thinking")?.as_deref() {
        Some("disabled") => Ok(()),
        Some("adaptive") => {
            tx.drop("thinking");
            Ok(())
        }
        Some("enabled") => Err(tx.refuse("thinking")),
        _ => Err(Error::validation("thinking.type", "`thinking.type` must be enabled, adaptive or disabled")),
    }
}

/// `output_config`: `effort` is OpenAI's `reasoning_effort` (the same levels, but `max`, which
/// OpenAI has not), `format` a JSON schema the answer follows (strict, as Anthropic's is).
fn output_config<'a>(raw: &'a RawValue, tx: &mut Tx, body: &mut ChatBody<'a>) -> Result<(), Error> {
    let at = "output_config";
    let config = object(raw, at)?;
    only(&config, &["effort", "format"], at, tx)?;
    if let Some(effort) = string_of(&config, "effort", at)? {
        body.reasoning_effort = Some(match effort.as_str() {
            "low" => "low",
            "medium" => "medium",
            "high" => "high",
            "xhigh" => "xhigh",
            _ => return Err(tx.refuse("output_config.effort")),
        });
    }
    if let Some(raw) = config.get("format") {
        let at = "output_config.format";
        let format = object(raw, at)?;
        only(&format, &["type", "schema"], at, tx)?;
        if string_of(&format, "type", at)?.as_deref() != Some("json_schema") {
            return Err(tx.refuse("output_config.format.type"));
        }
        let schema = match format.get("schema") {
            Some(schema) if schema.get().starts_with('{') => schema,
            _ => {
                return Err(Error::validation(
                    "output_config.format.schema",
                    "`output_config.format.schema` must be a JSON schema object",
                ));
            }
        };
        body.response_format = Some(ResponseFormat {
            kind: "json_schema",
            json_schema: JsonSchema { name: "output", schema, strict: true },
        });
    }
    Ok(())
}

/// `metadata`: its `user_id`, the end user's id (Anthropic's only member).
fn metadata(raw: &RawValue, tx: &mut Tx) -> Result<Option<String>, Error> {
    let members = object(raw, "metadata")?;
    only(&members, &["user_id"], "metadata", tx)?;
    string_of(&members, "user_id", "metadata")
}

#[cfg(test)]
#[path = "to_openai_tests.rs"]
mod tests;
