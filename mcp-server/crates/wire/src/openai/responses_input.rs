//! A Responses request's `instructions` and `input` as Chat Completions `messages`, for a
//! provider that serves chat only (`responses_to_chat.rs` does the rest of the body).
//! `instructions` is the first system message; a `message` item keeps its role (`developer` is
//! chat's `system`) and its text and image parts; the model's own turn — a reasoning item, its
//! message, its `function_call`s — is one assistant message, the calls as `tool_calls`; each
//! `function_call_output` a `tool` message. Reasoning goes back as DeepSeek's
//! `reasoning_content` when it is text (DeepSeek wants it back within a tool loop); reasoning
//! only OpenAI can read (`encrypted_content`) or only summarized, and on other providers any
//! reasoning, is the model's earlier private thinking, which no chat provider takes as input:
//! left out and named (`input: reasoning`). An item's `id` and `status` only identify it and
//! reach no model. Anything else is refused by name.

use std::borrow::Cow;

use converra::Provider;
use serde::Serialize;
use serde_json::value::RawValue;

use super::view::{Members, value_of};
use converra_base::Error;

/// One chat message of the translated body.
#[derive(Debug, Serialize)]
pub(super) struct ChatMessage<'a> {
    role: &'static str,
    /// `null` only on an assistant message that just calls tools.
    content: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<Cow<'a, str>>,
}

/// A message's content: one text as a string, anything else as chat's parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: Cow<'a, str> },
    Refusal { refusal: Cow<'a, str> },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Debug, Serialize)]
struct ImageUrl<'a> {
    url: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
struct ToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunction<'a>,
}

#[derive(Debug, Serialize)]
struct CallFunction<'a> {
    name: Cow<'a, str>,
    arguments: Cow<'a, str>,
}

impl<'a> Content<'a> {
    fn of(mut parts: Vec<Part<'a>>) -> Self {
        match parts.as_slice() {
            [Part::Text { .. }] => match parts.remove(0) {
                Part::Text { text } => Content::Text(text),
                _ => unreachable!("matched a single text part"),
            },
            _ => Content::Parts(parts),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Content::Parts(parts) if parts.is_empty())
    }
}

/// The name a namespace's function has on the chat wire (which has no namespaces): both names
/// joined by `__`, within chat's name alphabet.
pub fn chat_tool_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}__{name}"),
        None => name.to_owned(),
    }
}

pub(super) fn unsupported(field: impl Into<String>, provider: Provider) -> Error {
    Error::UnsupportedField { field: field.into(), provider }
}

/// A string member, if present (`null` is absent).
pub(super) fn string<'a>(members: &Members<'a>, at: &str, name: &str) -> Result<Option<Cow<'a, str>>, Error> {
    members.get(name).map(|raw| value_of::<Cow<'a, str>>(raw, &format!("{at}.{name}"), "a string")).transpose()
}

pub(super) fn required<'a>(members: &Members<'a>, at: &str, name: &str) -> Result<Cow<'a, str>, Error> {
    string(members, at, name)?
        .ok_or_else(|| Error::validation(format!("{at}.{name}"), format!("`{at}.{name}` is required")))
}

/// Refuses, by name, a member other than `known` that holds a value.
pub(super) fn only(members: &Members<'_>, at: &str, known: &[&str], provider: Provider) -> Result<(), Error> {
    match members.0.iter().find(|(name, raw)| raw.get() != "null" && !known.contains(&name.as_ref())) {
        Some((name, _)) => Err(unsupported(format!("{at}.{name}"), provider)),
        None => Ok(()),
    }
}

/// The model's turn being gathered: consecutive reasoning, message and call items.
#[derive(Default)]
struct Turn<'a> {
    reasoning: Option<String>,
    content: Option<Content<'a>>,
    calls: Vec<ToolCall<'a>>,
}

/// Builds the messages, item by item.
pub(super) struct Messages<'a> {
    provider: Provider,
    pub(super) out: Vec<ChatMessage<'a>>,
    turn: Turn<'a>,
    /// Advisory input left out (`input: reasoning`), at most once each.
    pub(super) dropped: Vec<String>,
}

impl<'a> Messages<'a> {
    pub(super) fn new(provider: Provider) -> Self {
        Self { provider, out: Vec::new(), turn: Turn::default(), dropped: Vec::new() }
    }

    /// `instructions`: the first system message.
    pub(super) fn instructions(&mut self, raw: &'a RawValue) -> Result<(), Error> {
        let text: Cow<'a, str> = value_of(raw, "instructions", "a string")?;
        self.push("system", Content::Text(text));
        Ok(())
    }

    /// `input`: a string (one user message) or an array of items.
    pub(super) fn input(&mut self, raw: &'a RawValue) -> Result<(), Error> {
        if raw.get().starts_with('"') {
            let text: Cow<'a, str> = value_of(raw, "input", "a string or an array")?;
            self.push("user", Content::Text(text));
            return Ok(());
        }
        let items: Vec<&'a RawValue> = value_of(raw, "input", "a string or an array of items")?;
        for (i, item) in items.into_iter().enumerate() {
            self.item(&format!("input[{i}]"), item)?;
        }
        self.end_turn();
        Ok(())
    }

    fn drop_named(&mut self, name: &str) {
        if !self.dropped.iter().any(|d| d == name) {
            self.dropped.push(name.to_owned());
        }
    }

    fn push(&mut self, role: &'static str, content: Content<'a>) {
        self.end_turn();
        let message = ChatMessage {
            role,
            content: Some(content),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        self.out.push(message);
    }

    /// Ends the model's turn being gathered: one assistant message, unless it held only
    /// reasoning (then nothing carries it: named as left out).
    fn end_turn(&mut self) {
        let turn = std::mem::take(&mut self.turn);
        if turn.content.is_none() && turn.calls.is_empty() {
            if turn.reasoning.is_some() {
                self.drop_named("input: reasoning");
            }
            return;
        }
        self.out.push(ChatMessage {
            role: "assistant",
            content: turn.content,
            reasoning_content: turn.reasoning,
            tool_calls: turn.calls,
            tool_call_id: None,
        });
    }

    fn item(&mut self, at: &str, raw: &'a RawValue) -> Result<(), Error> {
        let members = Members::parse(raw.get(), at)?;
        let kind = string(&members, at, "type")?;
        match kind.as_deref() {
            None | Some("message") => self.message(at, &members),
            Some("function_call") => {
                only(
                    &members,
                    at,
                    &["type", "id", "status", "call_id", "name", "namespace", "arguments"],
                    self.provider,
                )?;
                let name = required(&members, at, "name")?;
                let name = match string(&members, at, "namespace")? {
                    Some(namespace) => Cow::Owned(chat_tool_name(Some(&namespace), &name)),
                    None => name,
                };
                let call = ToolCall {
                    id: required(&members, at, "call_id")?,
                    kind: "function",
                    function: CallFunction { name, arguments: required(&members, at, "arguments")? },
                };
                // A call after the turn's text belongs to the same assistant message.
                self.turn.calls.push(call);
                Ok(())
            }
            Some("function_call_output") => {
                only(&members, at, &["type", "id", "status", "call_id", "output"], self.provider)?;
                let call_id = required(&members, at, "call_id")?;
                let content = match members.get("output") {
                    Some(raw) if raw.get().starts_with('[') => self.parts(&format!("{at}.output"), raw, "tool")?,
                    Some(raw) => {
                        Content::Text(value_of(raw, &format!("{at}.output"), "a string or an array of parts")?)
                    }
                    None => {
                        return Err(Error::validation(format!("{at}.output"), format!("`{at}.output` is required")));
                    }
                };
                self.end_turn();
                let message = ChatMessage {
                    role: "tool",
                    content: Some(content),
                    reasoning_content: None,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call_id),
                };
                self.out.push(message);
                Ok(())
            }
            Some("reasoning") => {
                only(
                    &members,
                    at,
                    &["type", "id", "status", "summary", "content", "encrypted_content"],
                    self.provider,
                )?;
                let text = self.reasoning_text(at, &members)?;
                match text {
                    // DeepSeek's own reasoning, back where DeepSeek wants it: on the turn's message.
                    Some(text) if self.provider == Provider::Deepseek => {
                        if self.turn.content.is_some() || !self.turn.calls.is_empty() {
                            self.end_turn();
                        }
                        self.turn.reasoning.get_or_insert_with(String::new).push_str(&text);
                    }
                    _ => self.drop_named("input: reasoning"),
                }
                Ok(())
            }
            Some(other) => Err(unsupported(format!("input: {other}"), self.provider)),
        }
    }

    /// The text of a reasoning item's `reasoning_text` parts, if any.
    fn reasoning_text(&self, at: &str, members: &Members<'a>) -> Result<Option<String>, Error> {
        let Some(raw) = members.get("content") else { return Ok(None) };
        let parts: Vec<&RawValue> = value_of(raw, &format!("{at}.content"), "an array of parts")?;
        let mut text = String::new();
        for (j, part) in parts.into_iter().enumerate() {
            let part_at = format!("{at}.content[{j}]");
            let members = Members::parse(part.get(), &part_at)?;
            match string(&members, &part_at, "type")?.as_deref() {
                Some("reasoning_text") => text.push_str(&required(&members, &part_at, "text")?),
                Some(other) => return Err(unsupported(format!("{at}.content: {other}"), self.provider)),
                None => {
                    return Err(Error::validation(format!("{part_at}.type"), format!("`{part_at}.type` is required")));
                }
            }
        }
        Ok((!text.is_empty()).then_some(text))
    }

    fn message(&mut self, at: &str, members: &Members<'a>) -> Result<(), Error> {
        only(members, at, &["type", "id", "status", "role", "content"], self.provider)?;
        let role = match required(members, at, "role")?.as_ref() {
            "user" => "user",
            "assistant" => "assistant",
            "system" | "developer" => "system",
            _ => return Err(unsupported(format!("{at}.role"), self.provider)),
        };
        let content = match members.get("content") {
            Some(raw) if raw.get().starts_with('[') => self.parts(&format!("{at}.content"), raw, role)?,
            Some(raw) => Content::Text(value_of(raw, &format!("{at}.content"), "a string or an array of parts")?),
            None => return Err(Error::validation(format!("{at}.content"), format!("`{at}.content` is required"))),
        };
        if role != "assistant" {
            self.push(role, content);
            return Ok(());
        }
        // The model's text opens its turn, or follows its reasoning.
        if self.turn.content.is_some() || !self.turn.calls.is_empty() {
            self.end_turn();
        }
        self.turn.content = Some(content);
        Ok(())
    }

    /// Content parts for a message of `role` (`tool` for a call's output): text everywhere,
    /// images from the user only, refusals from the assistant only.
    fn parts(&self, at: &str, raw: &'a RawValue, role: &str) -> Result<Content<'a>, Error> {
        let raws: Vec<&'a RawValue> = value_of(raw, at, "an array of parts")?;
        let mut parts = Vec::with_capacity(raws.len());
        for (j, part) in raws.into_iter().enumerate() {
            let part_at = format!("{at}[{j}]");
            let members = Members::parse(part.get(), &part_at)?;
            let kind = string(&members, &part_at, "type")?
                .ok_or_else(|| Error::validation(format!("{part_at}.type"), format!("`{part_at}.type` is required")))?;
            let refused = || unsupported(format!("{at}: {kind}"), self.provider);
            parts.push(match kind.as_ref() {
                "input_text" | "output_text" | "text" => {
                    only(&members, &part_at, &["type", "text", "annotations", "logprobs"], self.provider)?;
                    Part::Text { text: required(&members, &part_at, "text")? }
                }
                "refusal" if role == "assistant" => {
                    only(&members, &part_at, &["type", "refusal"], self.provider)?;
                    Part::Refusal { refusal: required(&members, &part_at, "refusal")? }
                }
                "input_image" if role == "user" => {
                    only(&members, &part_at, &["type", "image_url", "detail"], self.provider)?;
                    let url = string(&members, &part_at, "image_url")?.ok_or_else(refused)?;
                    Part::ImageUrl { image_url: ImageUrl { url, detail: string(&members, &part_at, "detail")? } }
                }
                _ => return Err(refused()),
            });
        }
        let content = Content::of(parts);
        if content.is_empty() {
            return Ok(Content::Text(Cow::Borrowed("")));
        }
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn messages(provider: Provider, input: &str) -> Result<(Value, Vec<String>), Error> {
        let raw: Box<RawValue> = serde_json::from_str(input).unwrap();
        let mut m = Messages::new(provider);
        m.input(&raw)?;
        Ok((serde_json::to_value(&m.out).unwrap(), m.dropped))
    }

    fn field(e: Error) -> String {
        match e {
            Error::UnsupportedField { field, .. } => field,
            other => panic!("not UNSUPPORTED_FIELD: {other:?}"),
        }
    }

    #[test]
    fn a_codex_tool_loop_becomes_chat_messages_with_one_assistant_turn_per_model_turn() {
        let input = r#"[
            {"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"Be careful."}]},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"What is in "},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
            {"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"I should list."}]},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Looking.","annotations":[]}]},
            {"type":"function_call","id":"fc_1","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"},
            {"type":"function_call","call_id":"call_2","namespace":"multi_agent_v1","name":"wait_agent","arguments":"{}"},
            {"type":"function_call_output","call_id":"call_1","output":"a.txt"},
            {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"done"}]},
            {"role":"user","content":"thanks"}
        ]"#;
        let (out, dropped) = messages(Provider::Deepseek, input).unwrap();
        assert_eq!(
            out,
            json!([
                {"role": "system", "content": "Be careful."},
                {"role": "user", "content": [{"type": "text", "text": "What is in "},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
                {"role": "assistant", "content": "Looking.", "reasoning_content": "I should list.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "multi_agent_v1__wait_agent", "arguments": "{}"}}]},
                {"role": "tool", "content": "a.txt", "tool_call_id": "call_1"},
                {"role": "tool", "content": "done", "tool_call_id": "call_2"},
                {"role": "user", "content": "thanks"}
            ])
        );
        assert!(dropped.is_empty(), "{dropped:?}");
    }

    #[test]
    fn reasoning_that_no_chat_provider_reads_is_left_out_and_named() {
        // OpenAI's encrypted reasoning, on DeepSeek; DeepSeek's text reasoning, on Anthropic.
        let encrypted = r#"[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Thought."}],"encrypted_content":"gAAAA"},
            {"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]"#;
        let (out, dropped) = messages(Provider::Deepseek, encrypted).unwrap();
        assert_eq!(
            out,
            json!([{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}])
        );
        assert_eq!(dropped, ["input: reasoning"]);
        let text = r#"[{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"Hm."}]},{"role":"assistant","content":"Hi."}]"#;
        let (out, dropped) = messages(Provider::Anthropic, text).unwrap();
        assert_eq!(out, json!([{"role": "assistant", "content": "Hi."}]));
        assert_eq!(dropped, ["input: reasoning"]);
        // Reasoning with no message of the model after it has nothing to ride on.
        let (out, dropped) =
            messages(Provider::Deepseek, &text.replace(r#",{"role":"assistant","content":"Hi."}"#, "")).unwrap();
        assert_eq!((out, dropped), (json!([]), vec!["input: reasoning".to_owned()]));
    }

    #[test]
    fn items_and_parts_that_chat_cannot_carry_are_refused_by_name() {
        for (input, expected) in [
            (
                r#"[{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"x"}]"#,
                "input: custom_tool_call",
            ),
            (r#"[{"type":"local_shell_call","call_id":"c","action":{}}]"#, "input: local_shell_call"),
            (
                r#"[{"role":"user","content":[{"type":"input_file","file_data":"x","filename":"a.pdf"}]}]"#,
                "input[0].content: input_file",
            ),
            (
                r#"[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]"#,
                "input[0].content: input_image",
            ),
            (
                r#"[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"data:x"}]}]"#,
                "input[0].output: input_image",
            ),
            (r#"[{"role":"tool","content":"x"}]"#, "input[0].role"),
            (r#"[{"role":"user","content":"x","phase":"final"}]"#, "input[0].phase"),
        ] {
            assert_eq!(field(messages(Provider::Deepseek, input).unwrap_err()), expected, "{input}");
        }
        let missing =
            messages(Provider::Deepseek, r#"[{"type":"function_call","name":"f","arguments":"{}"}]"#).unwrap_err();
        assert!(matches!(missing, Error::Validation { field: Some(f), .. } if f == "input[0].call_id"));
    }
}
