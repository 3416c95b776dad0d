//! A Chat Completions request read for a provider of another wire (Anthropic, Gemini): every
//! field either carried into [`Chat`] — what both translations build from — or refused by name
//! (`UNSUPPORTED_FIELD`, nothing sent). The few advisory fields that change nothing in the
//! answer (end-user ids, tags, storage and caching hints) are left out and named for
//! `X-Converra-Dropped-Fields`. Never dropped silently. The messages are read in `turns.rs`.

use converra::Provider;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::Stop;
use super::turns::{Turn, read_turns};
use super::view::{ChatView, Members, value_of};
use converra_base::Error;

/// Top-level fields every translation carries.
const CARRIED: [&str; 14] = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "n",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

/// Top-level fields Gemini's `generationConfig` carries too (Anthropic has no equivalent).
const CARRIED_BY_GEMINI: [&str; 3] = ["seed", "frequency_penalty", "presence_penalty"];

/// Top-level fields that do not change the answer (end-user ids, tags, storage and caching
/// hints, the service tier): left out on a translated path, each named in
/// `X-Converra-Dropped-Fields`.
const ADVISORY: [&str; 7] =
    ["user", "safety_identifier", "metadata", "store", "prompt_cache_key", "prompt_cache_retention", "service_tier"];

/// Values that ask for exactly what a request without the field gets: carried by being left out.
const NEUTRAL: [(&str, &str); 5] = [
    ("logprobs", "false"),
    ("frequency_penalty", "0"),
    ("presence_penalty", "0"),
    ("top_logprobs", "0"),
    ("modalities", "[\"text\"]"),
];

/// A Chat Completions request as both translations need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    /// The system and developer messages' text, in order.
    pub system: Vec<String>,
    pub turns: Vec<Turn>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `parallel_tool_calls` (true unless the client said false).
    pub parallel_tool_calls: bool,
    pub format: Format,
    pub stop: Vec<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Gemini only (refused for Anthropic).
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u32>,
    pub stream: bool,
    /// Whether the client asked for the final usage chunk of a stream.
    pub include_usage: bool,
    /// The advisory fields left out, in the client's order (`X-Converra-Dropped-Fields`).
    pub dropped: Vec<String>,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// Its JSON Schema (`parameters`), if any.
    pub parameters: Option<Value>,
    pub strict: bool,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    /// This one function.
    Named(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching this schema.
    JsonSchema {
        schema: Value,
        strict: bool,
    },
}

/// An object's members, read one by one; any member not read is refused by name.
pub(super) struct Object<'a> {
    at: String,
    members: Members<'a>,
    provider: Provider,
}

impl<'a> Object<'a> {
    pub fn parse(raw: &'a RawValue, at: String, provider: Provider) -> Result<Self, Error> {
        Ok(Self { members: Members::parse(raw.get(), &at)?, at, provider })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.at)
    }

    /// A member's value (`null` reads as absent).
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.members.get(name)
    }

    /// A member read as `T`, or a validation error naming it.
    pub fn read<T: Deserialize<'a>>(&self, name: &str, expected: &str) -> Result<Option<T>, Error> {
        self.get(name).map(|raw| value_of(raw, &self.path(name), expected)).transpose()
    }

    /// A required member read as `T`.
    pub fn require<T: Deserialize<'a>>(&self, name: &str, expected: &str) -> Result<T, Error> {
        self.read(name, expected)?
            .ok_or_else(|| Error::validation(self.path(name), format!("`{}` is required", self.path(name))))
    }

    /// Refuses the first member (not `null`) outside `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), Error> {
        match self.members.0.iter().find(|(name, raw)| raw.get() != "null" && !known.contains(&name.as_ref())) {
            Some((name, _)) => Err(unsupported(self.path(name), self.provider)),
            None => Ok(()),
        }
    }
}

pub(super) fn unsupported(field: impl Into<String>, provider: Provider) -> Error {
    Error::UnsupportedField { field: field.into(), provider }
}

/// Whether `raw` holds the JSON value `neutral` (`0` and `0.0` alike).
fn is_neutral(raw: &RawValue, neutral: &str) -> bool {
    match (serde_json::from_str::<Value>(raw.get()), serde_json::from_str::<Value>(neutral)) {
        (Ok(Value::Number(a)), Ok(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl ChatView<'_> {
    /// Reads this request for `provider` (Anthropic or Gemini), or refuses the first field that
    /// cannot reach it faithfully.
    pub fn translated(&self, provider: Provider) -> Result<Chat, Error> {
        let mut dropped = Vec::new();
        for (name, raw) in &self.members.0 {
            let name = name.as_ref();
            let carried =
                CARRIED.contains(&name) || (provider == Provider::Gemini && CARRIED_BY_GEMINI.contains(&name));
            if raw.get() == "null" || carried || NEUTRAL.iter().any(|(n, v)| *n == name && is_neutral(raw, v)) {
                continue;
            }
            match ADVISORY.iter().find(|a| **a == name) {
                Some(advisory) => dropped.push((*advisory).to_owned()),
                None => return Err(unsupported(name, provider)),
            }
        }
        if self.n != 1 {
            return Err(unsupported("n", provider));
        }
        let top = |name: &str| self.members.get(name);
        let number = |name: &str| top(name).map(|raw| value_of::<f64>(raw, name, "a number")).transpose();
        let messages = top("messages").map_or("[]", RawValue::get);
        let (system, turns) = read_turns(messages, provider, &mut dropped)?;
        let max_tokens = match self.number("max_completion_tokens")?.or(self.number("max_tokens")?) {
            Some(0) => return Err(Error::validation("max_tokens", "`max_tokens` must be at least 1")),
            cap => cap,
        };
        let stop = top("stop")
            .map(|raw| value_of::<Stop>(raw, "stop", "a string or an array of strings"))
            .transpose()?
            .map(Stop::into_vec)
            .unwrap_or_default();
        let tools = match top("tools") {
            Some(raw) => read_tools(raw, provider)?,
            None => Vec::new(),
        };
        Ok(Chat {
            system,
            turns,
            tools,
            tool_choice: top("tool_choice").map(|raw| read_tool_choice(raw, provider)).transpose()?,
            parallel_tool_calls: top("parallel_tool_calls")
                .map(|raw| value_of::<bool>(raw, "parallel_tool_calls", "true or false"))
                .transpose()?
                .unwrap_or(true),
            format: top("response_format").map(|raw| read_format(raw, provider)).transpose()?.unwrap_or(Format::Text),
            stop,
            temperature: number("temperature")?,
            top_p: number("top_p")?,
            seed: top("seed").map(|raw| value_of::<i64>(raw, "seed", "a whole number")).transpose()?,
            frequency_penalty: number("frequency_penalty")?,
            presence_penalty: number("presence_penalty")?,
            max_tokens,
            stream: self.stream,
            include_usage: self.include_usage,
            dropped,
        })
    }
}

/// `tools`: functions only (a custom or hosted tool has no equivalent).
fn read_tools(raw: &RawValue, provider: Provider) -> Result<Vec<Tool>, Error> {
    let list: Vec<&RawValue> = value_of(raw, "tools", "an array of tools")?;
    let mut tools = Vec::with_capacity(list.len());
    for (i, raw) in list.into_iter().enumerate() {
        let tool = Object::parse(raw, format!("tools[{i}]"), provider)?;
        let kind: String = tool.require("type", "a string")?;
        if kind != "function" {
            return Err(unsupported(tool.path("type"), provider));
        }
        tool.only(&["type", "function"])?;
        let function = Object::parse(
            tool.get("function").ok_or_else(|| Error::validation(tool.path("function"), "a function is required"))?,
            tool.path("function"),
            provider,
        )?;
        function.only(&["name", "description", "parameters", "strict"])?;
        tools.push(Tool {
            name: function.require("name", "a string")?,
            description: function.read("description", "a string")?,
            parameters: function.read("parameters", "a JSON Schema object")?,
            strict: function.read("strict", "true or false")?.unwrap_or(false),
        });
    }
    Ok(tools)
}

/// `tool_choice`: `none`, `auto`, `required`, or one named function.
fn read_tool_choice(raw: &RawValue, provider: Provider) -> Result<ToolChoice, Error> {
    if raw.get().starts_with('"') {
        return match value_of::<String>(raw, "tool_choice", "a string")?.as_str() {
            "none" => Ok(ToolChoice::None),
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            _ => Err(Error::validation("tool_choice", "`tool_choice` must be none, auto, required or a function")),
        };
    }
    let choice = Object::parse(raw, "tool_choice".into(), provider)?;
    // `allowed_tools` and custom tools have no equivalent.
    if choice.require::<String>("type", "a string")? != "function" {
        return Err(unsupported("tool_choice", provider));
    }
    choice.only(&["type", "function"])?;
    let function = Object::parse(
        choice.get("function").ok_or_else(|| Error::validation("tool_choice.function", "a function is required"))?,
        "tool_choice.function".into(),
        provider,
    )?;
    function.only(&["name"])?;
    Ok(ToolChoice::Named(function.require("name", "a string")?))
}

/// `response_format`: text, any JSON object, or JSON matching a schema.
fn read_format(raw: &RawValue, provider: Provider) -> Result<Format, Error> {
    let format = Object::parse(raw, "response_format".into(), provider)?;
    match format.require::<String>("type", "a string")?.as_str() {
        "text" => {
            format.only(&["type"])?;
            Ok(Format::Text)
        }
        "json_object" => {
            format.only(&["type"])?;
            Ok(Format::JsonObject)
        }
        "json_schema" => {
            format.only(&["type", "json_schema"])?;
            let at = "response_format.json_schema";
            let spec = Object::parse(
                format.get("json_schema").ok_or_else(|| Error::validation(at, format!("`{at}` is required")))?,
                at.into(),
                provider,
            )?;
            // The name only labels the schema; a description would be instructions with no place.
            spec.only(&["name", "schema", "strict"])?;
            let _: String = spec.require("name", "a string")?;
            Ok(Format::JsonSchema {
                schema: spec.require("schema", "a JSON Schema object")?,
                strict: spec.read("strict", "true or false")?.unwrap_or(false),
            })
        }
        _ => Err(unsupported("response_format.type", provider)),
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
