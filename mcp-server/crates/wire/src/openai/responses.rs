//! OpenAI's Responses API (`POST /v1/responses`, `/v1/responses/compact`: Codex, the OpenAI
//! Agents SDK) and embeddings (`POST /v1/embeddings`) as the `/v1` face forwards them: read at
//! the top level with the same validating pass as a chat body (`view.rs`), the few values
//! Converra needs read from there, the body sent on as written with only top-level values
//! spliced. Also what Converra reads of a Responses answer: the usage of a whole answer or of the
//! event that ends a stream (`response.completed`, `response.incomplete`, `response.failed`),
//! the id of a stored response it created, and the size of what was generated.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::PromptSize;
use super::view::{Members, splice, top_level, value_of};
use converra_base::Error;

/// A Responses body (create or compact), checked at the top level, borrowing the client's bytes.
pub struct ResponsesView<'a> {
    body: &'a str,
    pub(super) members: Members<'a>,
    /// `model` as sent (with its `provider/` prefix, if any).
    pub model: Cow<'a, str>,
    pub stream: bool,
    /// `store` as sent; OpenAI stores a response unless told `false`.
    pub store: Option<bool>,
}

/// A field that names an object stored on the provider account, and the id it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// The field as the client wrote it (`previous_response_id`, `prompt.id`, `file_id`…).
    pub field: &'static str,
    /// The id, when the object is one Converra can have relayed (a stored response).
    pub response_id: Option<String>,
}

/// Hosted tools that run on the provider account without billing or storing there: the
/// client's own functions (alone or grouped in a `namespace`, as Codex sends them) and the tools
/// an agent runs itself (Codex's shell and patch tools).
const CLIENT_TOOLS: [&str; 6] = ["function", "custom", "namespace", "local_shell", "shell", "apply_patch"];

/// Names in `input` or `tools` whose presence means a closer look (an escape may hide a name).
const ACCOUNT_NEEDLES: [&str; 5] = ["file_id", "item_reference", "vector_store_ids", "container", "\\u"];

impl<'a> ResponsesView<'a> {
    /// The one validating pass: one JSON object with each top-level name once; `model` a
    /// string; `stream` and `store` true or false; `input` a string or an array and `tools` an
    /// array when present. Nothing else is looked at here.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (body, members) = top_level(body)?;
        let model = match members.get("model") {
            Some(raw) => value_of::<Cow<'a, str>>(raw, "model", "a string")?,
            None => return Err(Error::validation("model", "`model` is required")),
        };
        if let Some(raw) = members.get("input")
            && !(raw.get().starts_with('[') || raw.get().starts_with('"'))
        {
            return Err(Error::validation("input", "`input` must be a string or an array"));
        }
        if let Some(raw) = members.get("tools")
            && !raw.get().starts_with('[')
        {
            return Err(Error::validation("tools", "`tools` must be an array"));
        }
        let stream = members.get("stream").map(|raw| value_of::<bool>(raw, "stream", "true or false")).transpose()?;
        let store = members.get("store").map(|raw| value_of::<bool>(raw, "store", "true or false")).transpose()?;
        Ok(Self { body, members, model, stream: stream.unwrap_or(false), store })
    }

    /// A whole number a member holds, if present (`max_output_tokens`).
    pub fn number(&self, name: &str) -> Result<Option<u32>, Error> {
        self.members.get(name).map(|raw| value_of::<u32>(raw, name, "a whole number")).transpose()
    }

    /// Whether a member is present with a value other than `null`.
    pub fn has(&self, name: &str) -> bool {
        self.members.get(name).is_some()
    }

    /// The first field that names an object stored on the provider account: a previous
    /// response, a conversation, a stored prompt, an item reference, a file, a vector store, a
    /// container. Searched in the top level, `input` and `tools` only (`metadata` is the client's).
    pub fn account_ref(&self) -> Result<Option<AccountRef>, Error> {
        if let Some(raw) = self.members.get("previous_response_id") {
            let id: String = value_of(raw, "previous_response_id", "a string")?;
            return Ok(Some(AccountRef { field: "previous_response_id", response_id: Some(id) }));
        }
        if self.has("conversation") {
            return Ok(Some(AccountRef { field: "conversation", response_id: None }));
        }
        if let Some(prompt) = self.members.get("prompt") {
            #[derive(Deserialize)]
            struct Prompt {
                #[serde(default)]
                id: Option<Value>,
            }
            if value_of::<Prompt>(prompt, "prompt", "an object")?.id.is_some_and(|id| !id.is_null()) {
                return Ok(Some(AccountRef { field: "prompt.id", response_id: None }));
            }
        }
        for (name, raw) in [("input", self.members.get("input")), ("tools", self.members.get("tools"))] {
            let Some(raw) = raw else { continue };
            // The common case (no such name) is a search, not a parse.
            if !ACCOUNT_NEEDLES.iter().any(|needle| raw.get().contains(needle)) {
                continue;
            }
            let value: Value = value_of(raw, name, "valid JSON")?;
            let found = if name == "tools" { tools_ref(&value) } else { input_ref(&value) };
            if let Some(field) = found {
                return Ok(Some(AccountRef { field, response_id: None }));
            }
        }
        Ok(None)
    }

    /// The first tool (its `type`) that bills or stores on the provider account: anything but
    /// the client's own functions and the tools an agent runs itself; a remote MCP server is
    /// the client's own unless it is one of the account's connectors.
    pub fn account_tool(&self) -> Option<String> {
        self.provider_run_tools().into_iter().next()
    }

    /// The tools OpenAI runs and bills per call beyond tokens (those of [`Self::account_tool`]),
    /// by their price-table charge name, each with its cap on calls: `max_tool_calls` caps a
    /// search; `None` (uncapped, or billed by container time) means the call's cost has no bound.
    pub fn hosted_tools(&self) -> Vec<(String, Option<u64>)> {
        let cap = self.number("max_tool_calls").ok().flatten().map(u64::from);
        let charge =
            |kind: String| if kind.starts_with("web_search") { ("web_search".to_owned(), cap) } else { (kind, None) };
        self.provider_run_tools().into_iter().map(charge).collect()
    }

    /// The `type` of every tool the provider runs, in order.
    fn provider_run_tools(&self) -> Vec<String> {
        #[derive(Deserialize)]
        struct Tool {
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            server_url: Option<Value>,
            #[serde(default)]
            connector_id: Option<Value>,
        }
        let Some(tools) = self.members.get("tools").and_then(|raw| serde_json::from_str::<Vec<Tool>>(raw.get()).ok())
        else {
            return Vec::new();
        };
        tools
            .into_iter()
            .filter_map(|t| {
                let kind = t.kind.unwrap_or_default();
                let own = CLIENT_TOOLS.contains(&kind.as_str())
                    || (kind == "mcp" && t.server_url.is_some() && t.connector_id.is_none());
                (!own).then_some(kind)
            })
            .collect()
    }

    /// What the prompt's size is estimated from: `instructions` and `input`, with each attached
    /// image, file or audio clip left out and counted instead (a fixed amount each).
    pub fn prompt_size(&self) -> PromptSize {
        let instructions = self.members.get("instructions").map_or(0, |raw| raw.get().len() as u64);
        let input = self.members.get("input").map_or("", RawValue::get);
        let mut size = PromptSize { bytes: instructions + input.len() as u64, attachments: 0 };
        if !ATTACHMENTS.iter().any(|quoted| input.contains(quoted)) {
            return size;
        }
        #[derive(Deserialize)]
        struct Item<'a> {
            #[serde(default, borrow)]
            content: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Part<'a> {
            #[serde(rename = "type", default, borrow)]
            kind: Option<Cow<'a, str>>,
        }
        let Ok(items) = serde_json::from_str::<Vec<Item>>(input) else { return size };
        for content in items.iter().filter_map(|i| i.content) {
            let Ok(parts) = serde_json::from_str::<Vec<&RawValue>>(content.get()) else { continue };
            for part in parts {
                if let Ok(Part { kind: Some(kind) }) = serde_json::from_str::<Part>(part.get())
                    && ATTACHMENTS.iter().any(|quoted| quoted.trim_matches('"') == kind)
                {
                    size.bytes = size.bytes.saturating_sub(part.get().len() as u64);
                    size.attachments += 1;
                }
            }
        }
        size
    }

    /// The body to send upstream: the client's bytes with `sets` spliced (see `view::splice`).
    pub fn spliced(&self, sets: &[(&str, &str)]) -> Vec<u8> {
        splice(self.body, &self.members, sets)
    }
}

/// Input content parts counted as attachments, as JSON strings.
const ATTACHMENTS: [&str; 3] = ["\"input_image\"", "\"input_file\"", "\"input_audio\""];

/// In `input`: an item reference, or any file id (an image or file part naming an upload).
fn input_ref(value: &Value) -> Option<&'static str> {
    match value {
        Value::Array(items) => items.iter().find_map(input_ref),
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("item_reference") {
                return Some("item_reference");
            }
            if map.get("file_id").is_some_and(|id| id.is_string()) {
                return Some("file_id");
            }
            map.values().find_map(input_ref)
        }
        _ => None,
    }
}

/// In `tools`: a file search's vector stores, a code interpreter's container or its files.
/// Only each tool's own members are looked at (a function's parameters are a schema).
fn tools_ref(value: &Value) -> Option<&'static str> {
    let tools = value.as_array()?;
    tools.iter().filter_map(Value::as_object).find_map(|tool| {
        if tool.get("vector_store_ids").and_then(Value::as_array).is_some_and(|ids| !ids.is_empty()) {
            return Some("vector_store_ids");
        }
        match tool.get("container") {
            Some(Value::String(_)) => Some("container"),
            Some(Value::Object(c)) if c.get("file_ids").and_then(Value::as_array).is_some_and(|f| !f.is_empty()) => {
                Some("file_id")
            }
            _ => None,
        }
    })
}

/// A `POST /v1/embeddings` body, checked at the top level.
pub struct EmbeddingsView<'a> {
    body: &'a str,
    members: Members<'a>,
    pub model: Cow<'a, str>,
}

impl<'a> EmbeddingsView<'a> {
    /// The one validating pass: one JSON object with each top-level name once; `model` a
    /// string and `input` present.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (body, members) = top_level(body)?;
        let model = match members.get("model") {
            Some(raw) => value_of::<Cow<'a, str>>(raw, "model", "a string")?,
            None => return Err(Error::validation("model", "`model` is required")),
        };
        if members.get("input").is_none() {
            return Err(Error::validation("input", "`input` is required"));
        }
        Ok(Self { body, members, model })
    }

    /// Bytes of `input`, for the allowance's estimate.
    pub fn input_bytes(&self) -> u64 {
        self.members.get("input").map_or(0, |raw| raw.get().len() as u64)
    }

    /// The body to send upstream: the client's bytes with `sets` spliced.
    pub fn spliced(&self, sets: &[(&str, &str)]) -> Vec<u8> {
        splice(self.body, &self.members, sets)
    }
}

/// The usage of a Responses answer, as OpenAI reports it: cached input tokens are a part of
/// `input_tokens`, reasoning tokens a part of `output_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ResponsesUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct InputDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct OutputDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl ResponsesUsage {
    pub fn cached_tokens(&self) -> u64 {
        self.input_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0)
    }

    pub fn reasoning_tokens(&self) -> u64 {
        self.output_tokens_details.and_then(|d| d.reasoning_tokens).unwrap_or(0)
    }
}

/// What Converra reads of a response object (a whole answer, or the one a stream event carries).
#[derive(Deserialize)]
struct ResponseHead {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    usage: Option<ResponsesUsage>,
}

impl ResponseHead {
    /// The id of the response, when the provider keeps it (`store` not false).
    fn stored_id(&self) -> Option<String> {
        self.id.clone().filter(|_| self.store != Some(false))
    }
}

/// What Converra reads of a whole Responses answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WholeRead {
    pub usage: Option<ResponsesUsage>,
    /// The response's id, when the provider stored it.
    pub stored_id: Option<String>,
}

/// Reads a whole answer (a `response` object); one it cannot read yields nothing.
pub fn read_whole(body: &[u8]) -> WholeRead {
    match serde_json::from_slice::<ResponseHead>(body) {
        Ok(head) => WholeRead { usage: head.usage, stored_id: head.stored_id() },
        Err(_) => WholeRead::default(),
    }
}

/// What Converra reads of one stream event's data.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventRead {
    /// The usage, on the event that ends the stream (completed, incomplete or failed).
    pub usage: Option<ResponsesUsage>,
    /// `response.created`'s response id, when the provider stores it.
    pub stored_id: Option<String>,
    /// Bytes of generated text (any `*.delta` event's string), for an estimate should the usage
    /// never arrive.
    pub produced: u64,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<&'a RawValue>,
    #[serde(default)]
    response: Option<ResponseHead>,
}

/// The events that end a Responses stream, each carrying the response with its usage.
const FINAL_EVENTS: [&str; 3] = ["response.completed", "response.incomplete", "response.failed"];

/// Reads one event's data; an event it cannot read yields nothing (and is relayed all the same).
pub fn read_event(data: &str) -> EventRead {
    let Ok(event) = serde_json::from_str::<EventView>(data) else { return EventRead::default() };
    let kind = event.kind.as_deref().unwrap_or_default();
    let mut read = EventRead::default();
    if kind.ends_with(".delta")
        && let Some(delta) = event.delta
        && delta.get().starts_with('"')
    {
        read.produced = delta.get().len().saturating_sub(2) as u64;
    }
    if let Some(response) = event.response {
        if kind == "response.created" {
            read.stored_id = response.stored_id();
        }
        if FINAL_EVENTS.contains(&kind) {
            read.usage = response.usage;
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_that_end_a_stream_carry_its_usage_and_created_names_a_stored_response() {
        let usage = r#"{"input_tokens":30,"input_tokens_details":{"cached_tokens":12},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":39}"#;
        for kind in FINAL_EVENTS {
            let read = read_event(&format!(
                r#"{{"type":"{kind}","sequence_number":9,"response":{{"id":"resp_1","output":[],"usage":{usage}}}}}"#
            ));
            let u = read.usage.expect(kind);
            assert_eq!((u.input_tokens, u.output_tokens, u.cached_tokens(), u.reasoning_tokens()), (30, 9, 12, 4));
            assert_eq!(read.stored_id, None);
        }
        let created =
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","store":true,"usage":null}}"#;
        assert_eq!(read_event(created).stored_id.as_deref(), Some("resp_1"));
        let unstored = created.replace(r#""store":true"#, r#""store":false"#);
        assert_eq!(read_event(&unstored).stored_id, None);
        let delta = r#"{"type":"response.output_text.delta","item_id":"msg_1","delta":"Hello","sequence_number":4}"#;
        assert_eq!(read_event(delta).produced, 5);
        assert_eq!(read_event("not json"), EventRead::default());
    }

    #[test]
    fn the_tools_openai_runs_are_named_by_their_charge_and_a_search_is_capped_by_max_tool_calls() {
        let hosted = |body: &str| ResponsesView::parse(body.as_bytes()).unwrap().hosted_tools();
        let tools = r#""tools":[{"type":"function","name":"f"},{"type":"web_search"},{"type":"code_interpreter","container":{"type":"auto"}}]"#;
        let expected = [("web_search", None), ("code_interpreter", None)].map(|(n, c)| (n.to_owned(), c));
        assert_eq!(hosted(&format!(r#"{{"model":"gpt-5",{tools}}}"#)), expected);
        let capped = hosted(&format!(r#"{{"model":"gpt-5","max_tool_calls":3,{tools}}}"#));
        assert_eq!(capped[0], ("web_search".to_owned(), Some(3)));
        assert!(hosted(r#"{"model":"gpt-5","tools":[{"type":"function","name":"f"}]}"#).is_empty());
        let grouped =
            r#"{"model":"gpt-5","tools":[{"type":"namespace","name":"mcp","tools":[{"type":"function","name":"f"}]}]}"#;
        assert!(hosted(grouped).is_empty(), "a namespace groups the client's own functions");
    }

    #[test]
    fn fields_naming_account_objects_are_found_where_they_can_be_and_nowhere_else() {
        let found = |body: &str| ResponsesView::parse(body.as_bytes()).unwrap().account_ref().unwrap().map(|r| r.field);
        assert_eq!(found(r#"{"model":"gpt-5","input":"hi"}"#), None);
        assert_eq!(found(r#"{"model":"gpt-5","previous_response_id":"resp_1"}"#), Some("previous_response_id"));
        assert_eq!(found(r#"{"model":"gpt-5","conversation":{"id":"conv_1"}}"#), Some("conversation"));
        assert_eq!(found(r#"{"model":"gpt-5","prompt":{"id":"pmpt_1"}}"#), Some("prompt.id"));
        let input =
            r#"{"model":"gpt-5","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}"#;
        assert_eq!(found(input), Some("file_id"));
        assert_eq!(found(&input.replace("file_id", "fil\\u0065_id")), Some("file_id"));
        assert_eq!(
            found(r#"{"model":"gpt-5","input":[{"type":"item_reference","id":"msg_1"}]}"#),
            Some("item_reference")
        );
        let search = r#"{"model":"gpt-5","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}"#;
        assert_eq!(found(search), Some("vector_store_ids"));
        let code = r#"{"model":"gpt-5","tools":[{"type":"code_interpreter","container":"cntr_1"}]}"#;
        assert_eq!(found(code), Some("container"));
        // A function's schema may name a `file_id` property; the client's metadata is its own.
        let schema = r#"{"model":"gpt-5","metadata":{"file_id":"x"},"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"file_id":{"type":"string"},"container":{"type":"string"}}}}]}"#;
        assert_eq!(found(schema), None);
    }

    #[test]
    fn only_the_clients_own_tools_pass_on_the_platform_key() {
        let tool = |tools: &str| {
            ResponsesView::parse(format!(r#"{{"model":"gpt-5","tools":{tools}}}"#).as_bytes()).unwrap().account_tool()
        };
        assert_eq!(
            tool(r#"[{"type":"function","name":"f"},{"type":"local_shell"},{"type":"custom","name":"apply_patch"}]"#),
            None
        );
        assert_eq!(tool(r#"[{"type":"function","name":"f"},{"type":"web_search"}]"#).as_deref(), Some("web_search"));
        assert_eq!(tool(r#"[{"type":"mcp","server_label":"x","server_url":"https://mcp.example"}]"#), None);
        assert_eq!(
            tool(r#"[{"type":"mcp","server_label":"x","connector_id":"connector_gmail"}]"#).as_deref(),
            Some("mcp")
        );
        assert_eq!(tool(r#"[{"type":"image_generation"}]"#).as_deref(), Some("image_generation"));
    }

    #[test]
    fn attachments_count_apart_from_the_prompts_bytes() {
        let body = r#"{"model":"gpt-5","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"What is it?"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}]}"#;
        let size = ResponsesView::parse(body.as_bytes()).unwrap().prompt_size();
        assert_eq!(size.attachments, 1);
        assert!(size.bytes < 120, "{size:?}");
    }
}
