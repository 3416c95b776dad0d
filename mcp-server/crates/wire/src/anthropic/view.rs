//! A Messages request (`POST /v1/messages`, `/v1/messages/count_tokens`) read the way a gateway
//! must read it to forward it: the same one validating pass over the top level as a Chat
//! Completions body (`openai::Conversation`: the client's bytes kept, a duplicate name
//! refused), the few values Converra needs read from there, and the body sent on as written,
//! only top-level values spliced.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::openai::{Attachments, Conversation, Members, PromptSize, object_with, splice, value_of};
use converra_base::Error;

/// A Messages body, checked at the top level, borrowing from the client's bytes.
pub struct MessagesView<'a> {
    body: &'a str,
    pub(super) members: Members<'a>,
    /// `model` as sent (with its `provider/` prefix, if any).
    pub model: Cow<'a, str>,
    pub stream: bool,
}

impl<'a> MessagesView<'a> {
    /// The one validating pass: one JSON object with each top-level name once; `model` a
    /// string, `messages` an array, `stream` true or false. Nothing else is looked at here.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let Conversation { body, members, model, stream } = Conversation::parse(body)?;
        Ok(Self { body, members, model, stream })
    }

    /// A whole number a member holds, if present (`max_tokens`).
    pub fn number(&self, name: &str) -> Result<Option<u32>, Error> {
        self.members.get(name).map(|raw| value_of::<u32>(raw, name, "a whole number")).transpose()
    }

    /// Whether a member is present with a value other than `null`.
    pub fn has(&self, name: &str) -> bool {
        self.members.get(name).is_some()
    }

    /// `thinking.budget_tokens`, when extended thinking is on.
    pub fn thinking_budget(&self) -> Result<Option<u32>, Error> {
        #[derive(Deserialize)]
        struct Thinking {
            #[serde(default)]
            budget_tokens: Option<u32>,
        }
        Ok(self
            .members
            .get("thinking")
            .map(|raw| value_of::<Thinking>(raw, "thinking", "an object with a whole `budget_tokens`"))
            .transpose()?
            .and_then(|t| t.budget_tokens))
    }

    /// `thinking` with `budget_tokens` set to `budget`, its other members as the client wrote them.
    pub fn thinking_with_budget(&self, budget: u32) -> String {
        object_with(self.members.get("thinking"), "budget_tokens", &budget.to_string())
    }

    /// What the prompt's size is estimated from: the bytes of `system`, `messages` and
    /// `tools`, with each image or document block left out and counted instead (a fixed amount
    /// each, whatever its size).
    pub fn prompt_size(&self) -> PromptSize {
        let mut size = PromptSize { bytes: 0, attachments: 0 };
        for name in ["system", "tools"] {
            size.bytes += self.members.get(name).map_or(0, |raw| raw.get().len() as u64);
        }
        size.add_messages(self.members.get("messages").map_or("", RawValue::get), &ATTACHMENTS);
        size
    }

    /// The tools Anthropic runs and bills per use beyond tokens, by their price-table charge
    /// name, each with its cap on uses (`max_uses`; `None`: uncapped, so the call's cost has no
    /// bound). The tools the client runs itself (its own, `bash`, `text_editor`, `computer`,
    /// `memory`) are not among them.
    pub fn server_tools(&self) -> Vec<(String, Option<u64>)> {
        #[derive(Deserialize)]
        struct Tool {
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            max_uses: Option<u64>,
        }
        let Some(tools) = self.members.get("tools").and_then(|raw| serde_json::from_str::<Vec<Tool>>(raw.get()).ok())
        else {
            return Vec::new();
        };
        const CLIENT_RUN: [&str; 5] = ["custom", "bash_", "text_editor_", "computer_", "memory_"];
        tools
            .into_iter()
            .filter_map(|t| t.kind.map(|kind| (kind, t.max_uses)))
            .filter(|(kind, _)| !CLIENT_RUN.iter().any(|c| kind.starts_with(c)))
            .map(|(kind, cap)| {
                match ["web_search", "web_fetch"].into_iter().find(|n| kind.starts_with(&format!("{n}_"))) {
                    Some(name) => (name.to_owned(), cap),
                    // Code execution bills container time: no cap on uses bounds it.
                    None => (kind, None),
                }
            })
            .collect()
    }

    /// The body to send upstream: the client's bytes with `sets` spliced in (see
    /// `openai::splice`).
    pub fn spliced(&self, sets: &[(&str, &str)]) -> Vec<u8> {
        splice(self.body, &self.members, sets)
    }
}

/// Content blocks that are not text, counted as attachments rather than by their bytes.
static ATTACHMENTS: LazyLock<Attachments> = LazyLock::new(|| Attachments::new(&["image", "document"]));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messages_body_is_read_at_its_top_level_and_spliced_in_place() {
        let sent = br#"{"model":"claude-sonnet-4-5", "max_tokens": 64000,"thinking":{"type":"enabled","budget_tokens":60000},"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}],"stream":true}"#;
        let view = MessagesView::parse(sent).unwrap();
        assert_eq!((view.model.as_ref(), view.stream), ("claude-sonnet-4-5", true));
        assert_eq!(view.number("max_tokens").unwrap(), Some(64000));
        assert_eq!(view.thinking_budget().unwrap(), Some(60000));
        assert_eq!(view.prompt_size().attachments, 1);
        let thinking = view.thinking_with_budget(16383);
        assert_eq!(thinking, r#"{"type":"enabled","budget_tokens":16383}"#);
        let out = view.spliced(&[("max_tokens", "16384"), ("thinking", &thinking)]);
        let expected = String::from_utf8(sent.to_vec()).unwrap().replace("64000", "16384").replace("60000", "16383");
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn the_tools_anthropic_runs_are_named_by_their_charge_with_their_caps() {
        let sent = br#"{"model":"claude-x","messages":[],"tools":[{"name":"read","input_schema":{}},{"type":"bash_20250124","name":"bash"},{"type":"web_search_20250305","name":"web_search","max_uses":5},{"type":"web_fetch_20250910","name":"web_fetch"},{"type":"code_execution_20250825","name":"code_execution"}]}"#;
        let tools = MessagesView::parse(sent).unwrap().server_tools();
        let expected = [("web_search", Some(5)), ("web_fetch", None), ("code_execution_20250825", None)];
        assert_eq!(tools, expected.map(|(n, c)| (n.to_owned(), c)));
        assert!(MessagesView::parse(br#"{"model":"claude-x","messages":[]}"#).unwrap().server_tools().is_empty());
    }

    #[test]
    fn a_duplicate_or_a_missing_field_is_refused_by_name() {
        let twice = br#"{"model":"claude-x","messages":[],"max_tokens":1,"max_tokens":9}"#;
        assert!(
            matches!(MessagesView::parse(twice), Err(Error::Validation { field: Some(f), .. }) if f == "max_tokens")
        );
        let none = br#"{"messages":[]}"#;
        assert!(matches!(MessagesView::parse(none), Err(Error::Validation { field: Some(f), .. }) if f == "model"));
    }
}
