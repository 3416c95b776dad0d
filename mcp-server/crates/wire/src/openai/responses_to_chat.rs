//! A Responses request (`POST /v1/responses`) translated into a Chat Completions body, for a
//! provider that does not serve the Responses API (translated where the fields allow, else
//! `UNSUPPORTED_FIELD`). Carried: `instructions` and `input` (`responses_input.rs`), function tools
//! — a `namespace`'s functions too, named `namespace__name` — `tool_choice`, `parallel_tool_calls`,
//! `text.format` (as `response_format`), `reasoning.effort` (as `reasoning_effort`),
//! `max_output_tokens` (as `max_tokens`, the name DeepSeek documents), `temperature`, `top_p`,
//! `stream` (with usage asked for, to meter and report it). Values that ask for what chat does
//! anyway carry as they are: `store: false`, `background: false`, `truncation: "disabled"`. Left
//! out and named in `X-Converra-Dropped-Fields`: the advisory fields — end-user ids and tags,
//! caching and service hints, `store` (nothing is kept on another provider), reasoning summaries
//! and the encrypted reasoning only OpenAI can read. Refused by name: hosted tools (web search,
//! file search, code interpreter, computer use, MCP, image generation, shells), custom tools,
//! background runs, `truncation: "auto"`, logprobs, and any field not named here.

use std::borrow::Cow;
use std::collections::HashMap;

use converra::Provider;
use serde::Serialize;
use serde_json::value::RawValue;

use super::responses::ResponsesView;
use super::responses_input::{Messages, chat_tool_name, only, required, string, unsupported};
use super::view::{Members, json_string, json_text, value_of};
use converra_base::Error;

/// Top-level fields that change nothing in the answer: left out, each named.
const ADVISORY: [&str; 8] = [
    "metadata",
    "client_metadata",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "user",
    "service_tier",
    "stream_options",
];

/// The only `include` value a translated answer can do without: OpenAI's encrypted reasoning,
/// which no other provider produces.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// A Responses request as a chat body, and what the answer's translation back needs.
#[derive(Debug)]
pub struct ChatTranslation {
    /// The Chat Completions request, JSON.
    pub body: Vec<u8>,
    /// The advisory fields left out, for `X-Converra-Dropped-Fields`.
    pub dropped: Vec<String>,
    /// Which chat tool names stand for a namespace's function.
    pub names: ToolNames,
}

/// Chat tool names that stand for a namespace's function: the namespace and the function's
/// own name, so an answer's call goes back as the client named it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames(HashMap<String, (String, String)>);

impl ToolNames {
    /// The namespace (if any) and name of the function a chat tool call names.
    pub fn split<'a>(&'a self, chat_name: &'a str) -> (Option<&'a str>, &'a str) {
        match self.0.get(chat_name) {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, chat_name),
        }
    }
}

#[derive(Serialize)]
struct ChatTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatFunction<'a>,
}

#[derive(Serialize)]
struct ChatFunction<'a> {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<&'a RawValue>,
}

impl ResponsesView<'_> {
    /// This request as a chat body for `provider` (which decides only whether reasoning text
    /// goes back: DeepSeek's does), or the first field that cannot be carried.
    pub fn to_chat(&self, provider: Provider) -> Result<ChatTranslation, Error> {
        let mut messages = Messages::new(provider);
        let mut names = ToolNames::default();
        let mut dropped: Vec<String> = Vec::new();
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        let (mut instructions, mut input) = (None, None);
        for (name, raw) in &self.members.0 {
            let (name, text) = (name.as_ref(), raw.get());
            if text == "null" {
                continue;
            }
            match name {
                "model" => {}
                "instructions" => instructions = Some(*raw),
                "input" => input = Some(*raw),
                "tools" => fields.push(("tools", tools(raw, provider, &mut names)?)),
                "tool_choice" => fields.push(("tool_choice", tool_choice(raw, provider)?)),
                "parallel_tool_calls" | "temperature" | "top_p" => fields.push((static_name(name), text.to_owned())),
                "max_output_tokens" => fields.push(("max_tokens", text.to_owned())),
                "stream" => {
                    fields.push(("stream", text.to_owned()));
                    if text == "true" {
                        fields.push(("stream_options", r#"{"include_usage":true}"#.to_owned()));
                    }
                }
                "text" => {
                    if let Some(format) = response_format(raw, provider)? {
                        fields.push(("response_format", format));
                    }
                }
                "reasoning" => {
                    let members = Members::parse(text, "reasoning")?;
                    only(&members, "reasoning", &["effort", "summary", "generate_summary"], provider)?;
                    if let Some(effort) = members.get("effort") {
                        fields.push(("reasoning_effort", effort.get().to_owned()));
                    }
                    if members.get("summary").or(members.get("generate_summary")).is_some() {
                        dropped.push("reasoning.summary".into());
                    }
                }
                "include" => {
                    let values: Vec<Cow<str>> = value_of(raw, "include", "an array of strings")?;
                    if let Some(other) = values.iter().find(|v| *v != ENCRYPTED_REASONING) {
                        return Err(unsupported(format!("include: {other}"), provider));
                    }
                    if !values.is_empty() {
                        dropped.push(format!("include: {ENCRYPTED_REASONING}"));
                    }
                }
                "store" if text == "false" => {}
                "store" => dropped.push("store".into()),
                "background" if text == "false" => {}
                "truncation" if text == r#""disabled""# => {}
                advisory if ADVISORY.contains(&advisory) => dropped.push(advisory.into()),
                other => return Err(unsupported(other, provider)),
            }
        }
        if let Some(raw) = instructions {
            messages.instructions(raw)?;
        }
        if let Some(raw) = input {
            messages.input(raw)?;
        }
        dropped.extend(messages.dropped.iter().cloned());
        let mut body = format!(r#"{{"model":{},"messages":{}"#, json_string(&self.model), json_text(&messages.out));
        for (name, value) in fields {
            body.push_str(&format!(",{}:{value}", json_string(name)));
        }
        body.push('}');
        Ok(ChatTranslation { body: body.into_bytes(), dropped, names })
    }
}

/// A chat body's field as the client's Responses request names it, for a refusal by the chat
/// translation this body goes through next (Anthropic's, Gemini's): the fields renamed here get
/// their own names back (`reasoning_effort` is `reasoning.effort`); any other keeps its chat name.
pub fn responses_field(chat: &str) -> String {
    const RENAMED: [(&str, &str); 4] = [
        ("reasoning_effort", "reasoning.effort"),
        ("max_tokens", "max_output_tokens"),
        ("response_format.json_schema", "text.format"),
        ("response_format", "text.format"),
    ];
    for (chat_name, name) in RENAMED {
        if let Some(rest) = chat.strip_prefix(chat_name)
            && (rest.is_empty() || rest.starts_with('.'))
        {
            return format!("{name}{rest}");
        }
    }
    chat.to_owned()
}

/// The carried top-level names that keep their name on the chat wire.
fn static_name(name: &str) -> &'static str {
    match name {
        "parallel_tool_calls" => "parallel_tool_calls",
        "temperature" => "temperature",
        _ => "top_p",
    }
}

/// `tools`: each function as a chat tool; a namespace's functions each as one, named
/// `namespace__name` (recorded in `names`), the namespace's description before their own.
fn tools(raw: &RawValue, provider: Provider, names: &mut ToolNames) -> Result<String, Error> {
    let raws: Vec<&RawValue> = value_of(raw, "tools", "an array")?;
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let members = Members::parse(raw.get(), &at)?;
        match string(&members, &at, "type")?.as_deref() {
            Some("function") => out.push(function(&at, &members, None, provider)?),
            Some("namespace") => {
                only(&members, &at, &["type", "name", "description", "tools"], provider)?;
                let namespace = required(&members, &at, "name")?;
                let description = string(&members, &at, "description")?;
                let inner: Vec<&RawValue> = members
                    .get("tools")
                    .map(|raw| value_of(raw, &format!("{at}.tools"), "an array"))
                    .transpose()?
                    .unwrap_or_default();
                for (j, raw) in inner.into_iter().enumerate() {
                    let inner_at = format!("{at}.tools[{j}]");
                    let members = Members::parse(raw.get(), &inner_at)?;
                    match string(&members, &inner_at, "type")?.as_deref() {
                        Some("function") => {
                            let tool =
                                function(&inner_at, &members, Some((&namespace, description.as_deref())), provider)?;
                            let own = string(&members, &inner_at, "name")?.unwrap_or_default().into_owned();
                            names.0.insert(tool.function.name.clone(), (namespace.clone().into_owned(), own));
                            out.push(tool);
                        }
                        other => return Err(unsupported(format!("tools: {}", other.unwrap_or("namespace")), provider)),
                    }
                }
            }
            Some(other) => return Err(unsupported(format!("tools: {other}"), provider)),
            None => return Err(Error::validation(format!("{at}.type"), format!("`{at}.type` is required"))),
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = out.iter().map(|t| t.function.name.as_str()).find(|name| !seen.insert(*name)) {
        return Err(Error::validation("tools", format!("`tools` names the function `{twice}` twice")));
    }
    Ok(json_text(&out))
}

/// One function tool (Responses' flat shape) as a chat tool.
fn function<'a>(
    at: &str,
    members: &Members<'a>,
    namespace: Option<(&str, Option<&str>)>,
    provider: Provider,
) -> Result<ChatTool<'a>, Error> {
    only(members, at, &["type", "name", "description", "parameters", "strict"], provider)?;
    let name = required(members, at, "name")?;
    let mut description = string(members, at, "description")?;
    if let Some((_, Some(about))) = namespace {
        description = Some(match description {
            Some(own) => Cow::Owned(format!("{about}\n\n{own}")),
            None => Cow::Owned(about.to_owned()),
        });
    }
    Ok(ChatTool {
        kind: "function",
        function: ChatFunction {
            name: chat_tool_name(namespace.map(|(n, _)| n), &name),
            description,
            parameters: members.get("parameters"),
            strict: members.get("strict"),
        },
    })
}

/// `tool_choice`: `none`, `auto`, `required`, or one function by name.
fn tool_choice(raw: &RawValue, provider: Provider) -> Result<String, Error> {
    if raw.get().starts_with('"') {
        let choice: Cow<str> = value_of(raw, "tool_choice", "a string or an object")?;
        return match choice.as_ref() {
            "none" | "auto" | "required" => Ok(raw.get().to_owned()),
            _ => Err(unsupported("tool_choice", provider)),
        };
    }
    let members = Members::parse(raw.get(), "tool_choice")?;
    if string(&members, "tool_choice", "type")?.as_deref() != Some("function") {
        return Err(unsupported("tool_choice", provider));
    }
    only(&members, "tool_choice", &["type", "name", "namespace"], provider)?;
    let name = required(&members, "tool_choice", "name")?;
    let name = chat_tool_name(string(&members, "tool_choice", "namespace")?.as_deref(), &name);
    Ok(format!(r#"{{"type":"function","function":{{"name":{}}}}}"#, json_string(&name)))
}

/// `text`: its `format` as chat's `response_format` (none for plain text).
fn response_format(raw: &RawValue, provider: Provider) -> Result<Option<String>, Error> {
    let members = Members::parse(raw.get(), "text")?;
    only(&members, "text", &["format"], provider)?;
    let Some(format) = members.get("format") else { return Ok(None) };
    let format = Members::parse(format.get(), "text.format")?;
    match string(&format, "text.format", "type")?.as_deref() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(r#"{"type":"json_object"}"#.into())),
        Some("json_schema") => {
            only(&format, "text.format", &["type", "name", "schema", "description", "strict"], provider)?;
            let mut schema = String::from("{");
            for name in ["name", "description", "schema", "strict"] {
                if let Some(value) = format.get(name) {
                    if schema.len() > 1 {
                        schema.push(',');
                    }
                    schema.push_str(&format!("{}:{}", json_string(name), value.get()));
                }
            }
            schema.push('}');
            Ok(Some(format!(r#"{{"type":"json_schema","json_schema":{schema}}}"#)))
        }
        _ => Err(unsupported("text.format", provider)),
    }
}

#[cfg(test)]
#[path = "responses_to_chat_tests.rs"]
mod tests;
