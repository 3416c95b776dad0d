//! A Chat Completions request read the way a gateway must read it to forward it (forward, don't
//! rebuild: only what Converra must read is read): one validating pass over the top level, each
//! value kept as the client's own bytes (`RawValue`), a duplicate key refused by name so Converra
//! and the provider can never read different values; the few values Converra needs read from there;
//! and the body sent on as written, with only top-level values spliced.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use converra_base::Error;

/// The top-level members of a JSON object in the client's order, values unparsed.
pub(crate) struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

/// A member name, borrowed from the body unless it holds escapes (then decoded, so
/// `"mod\u0065l"` is `model`, as the provider reads it).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(name)) = map.next_key()? {
                    out.push((name, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

impl<'a> Members<'a> {
    /// Parses a JSON object; `what` names it in the error (`request body`, `messages[2]`).
    pub(crate) fn parse(text: &'a str, what: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| {
            let why = if e.is_syntax() || e.is_eof() { "is not valid JSON" } else { "must be a JSON object" };
            Error::Validation {
                field: (what != "request body").then(|| what.to_owned()),
                message: format!("{what} {why}: {e}"),
            }
        })
    }

    /// The first member named `name` whose value is not `null` (a `null` carries nothing).
    pub(crate) fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, v)| k == name && v.get() != "null").map(|(_, v)| *v)
    }

    /// The first name that appears twice: among the dozen members a request has, by comparing
    /// each with those before it; past [`FEW`], through a set (a body of a million members
    /// must not cost a million squared).
    fn duplicate(&self) -> Option<&str> {
        const FEW: usize = 32;
        let names = || self.0.iter().map(|(k, _)| k.as_ref());
        if self.0.len() <= FEW {
            return names().enumerate().find(|(i, k)| names().take(*i).any(|before| before == *k)).map(|(_, k)| k);
        }
        let mut seen = HashSet::with_capacity(self.0.len());
        names().find(|k| !seen.insert(*k))
    }
}

/// `stream_options` as read: only `include_usage` matters to Converra.
#[derive(Deserialize)]
struct StreamOptionsView {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A `/v1/chat/completions` body, checked at the top level, borrowing from the client's bytes.
pub struct ChatView<'a> {
    body: &'a str,
    pub(crate) members: Members<'a>,
    /// `model` as sent (with its `provider/` prefix, if any).
    pub model: Cow<'a, str>,
    pub stream: bool,
    /// Whether the client asked for the final usage chunk of a stream.
    pub include_usage: bool,
    /// `n`, the number of answers asked for (1 when absent).
    pub n: u32,
}

/// The one validating pass every forwarded `/v1` body gets (Chat Completions, Messages): one
/// JSON object in UTF-8, each top-level name once (a duplicate is refused by name, so Converra
/// and the provider can never read different values). The values stay the client's bytes.
pub(crate) fn top_level(body: &[u8]) -> Result<(&str, Members<'_>), Error> {
    let body = std::str::from_utf8(body)
        .map_err(|_| Error::Validation { field: None, message: "request body is not valid UTF-8 JSON".into() })?;
    let members = Members::parse(body, "request body")?;
    if let Some(name) = members.duplicate() {
        return Err(Error::validation(
            name,
            format!("`{name}` appears more than once in the request body: send each field once"),
        ));
    }
    Ok((body, members))
}

/// The top level both conversation wires (Chat Completions, Messages) share, read by their one
/// validating pass: `model` a string, `messages` an array, `stream` true or false (false when
/// absent).
pub(crate) struct Conversation<'a> {
    pub body: &'a str,
    pub members: Members<'a>,
    pub model: Cow<'a, str>,
    pub stream: bool,
}

impl<'a> Conversation<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (body, members) = top_level(body)?;
        let model = match members.get("model") {
            Some(raw) => value_of::<Cow<'a, str>>(raw, "model", "a string")?,
            None => return Err(Error::validation("model", "`model` is required")),
        };
        match members.get("messages") {
            Some(raw) if raw.get().starts_with('[') => {}
            Some(_) => return Err(Error::validation("messages", "`messages` must be an array")),
            None => return Err(Error::validation("messages", "`messages` is required")),
        }
        let stream = members.get("stream").map(|raw| value_of::<bool>(raw, "stream", "true or false")).transpose()?;
        Ok(Self { body, members, model, stream: stream.unwrap_or(false) })
    }
}

/// A value of type `T` from a member, or a validation error naming it.
pub(crate) fn value_of<'a, T: Deserialize<'a>>(raw: &'a RawValue, name: &str, expected: &str) -> Result<T, Error> {
    serde_json::from_str(raw.get()).map_err(|_| Error::validation(name, format!("`{name}` must be {expected}")))
}

impl<'a> ChatView<'a> {
    /// The one validating pass: the body is one JSON object with each top-level name once;
    /// `model` is a string, `messages` an array; `stream`, `stream_options` and `n` have their
    /// types. Nothing else is looked at here.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let Conversation { body, members, model, stream } = Conversation::parse(body)?;
        let options = members
            .get("stream_options")
            .map(|raw| value_of::<StreamOptionsView>(raw, "stream_options", "an object"))
            .transpose()?;
        let n = members.get("n").map(|raw| value_of::<u32>(raw, "n", "a whole number")).transpose()?;
        Ok(Self {
            body,
            model,
            stream,
            include_usage: options.and_then(|o| o.include_usage).unwrap_or(false),
            n: n.unwrap_or(1),
            members,
        })
    }

    /// A whole number a member holds, if present (`max_tokens`, `max_completion_tokens`).
    pub fn number(&self, name: &str) -> Result<Option<u32>, Error> {
        self.members.get(name).map(|raw| value_of::<u32>(raw, name, "a whole number")).transpose()
    }

    /// Whether a member is present with a value other than `null`.
    pub fn has(&self, name: &str) -> bool {
        self.members.get(name).is_some()
    }

    /// `stream_options` with `include_usage: true`: the client's own object with that one
    /// member set (its other members kept as written), or a new one.
    pub fn stream_options_with_usage(&self) -> String {
        object_with(self.members.get("stream_options"), "include_usage", "true")
    }

    /// What of `messages` the prompt's size is estimated from: its bytes, with each attached
    /// image, audio clip or file left out and counted instead (a fixed amount each, whatever
    /// its size: a screenshot is a few thousand tokens however many bytes encode it).
    pub fn prompt_size(&self) -> PromptSize {
        static KINDS: LazyLock<Attachments> =
            LazyLock::new(|| Attachments::new(&["image_url", "input_audio", "file", "input_image"]));
        let mut size = PromptSize { bytes: 0, attachments: 0 };
        size.add_messages(self.members.get("messages").map_or("", RawValue::get), &KINDS);
        size
    }

    /// The body to send upstream: the client's bytes, with each of `sets` (a top-level name
    /// and the JSON text of its new value) replacing that member's value where the client sent
    /// it, or added at the front of the object where it did not. Nothing else changes: not a
    /// space, not the order, not an escape.
    pub fn spliced(&self, sets: &[(&str, &str)]) -> Vec<u8> {
        splice(self.body, &self.members, sets)
    }
}

/// An object member's new value: the client's own object (`raw`, if any) with `name` set to
/// the JSON text `value`, its other members kept as written; or a new object of that one member.
pub(crate) fn object_with(raw: Option<&RawValue>, name: &str, value: &str) -> String {
    let mut out = String::from("{");
    if let Some(raw) = raw
        && let Ok(inner) = Members::parse(raw.get(), "object")
    {
        for (other, value) in inner.0.iter().filter(|(other, _)| other != name) {
            out.push_str(&serde_json::to_string(other.as_ref()).unwrap_or_default());
            out.push(':');
            out.push_str(value.get());
            out.push(',');
        }
    }
    out.push_str(&serde_json::to_string(name).unwrap_or_default());
    out.push(':');
    out.push_str(value);
    out.push('}');
    out
}

/// `body` (whose top level is `members`) with each of `sets` (a top-level name and the JSON
/// text of its new value) replacing that member's value where the client sent it, or added at
/// the front of the object where it did not. Nothing else changes: not a space, not the order,
/// not an escape.
pub(crate) fn splice(text: &str, members: &Members<'_>, sets: &[(&str, &str)]) -> Vec<u8> {
    let body = text.as_bytes();
    let mut edits: Vec<(Range<usize>, &str)> = Vec::with_capacity(sets.len());
    let mut added = String::new();
    for (name, value) in sets {
        let present: Vec<Range<usize>> =
            members.0.iter().filter(|(k, _)| k == name).map(|(_, v)| span(text, v)).collect();
        if present.is_empty() {
            added.push_str(&serde_json::to_string(name).unwrap_or_default());
            added.push(':');
            added.push_str(value);
            added.push(',');
        }
        edits.extend(present.into_iter().map(|span| (span, *value)));
    }
    edits.sort_by_key(|(span, _)| span.start);
    let mut out = Vec::with_capacity(body.len() + added.len() + sets.iter().map(|(_, v)| v.len()).sum::<usize>());
    // Additions go right after the opening brace (before the first member, so the comma
    // that follows each is always right; the body has at least `model` and `messages`).
    let open = body.iter().position(|b| *b == b'{').map_or(0, |at| at + 1);
    out.extend_from_slice(&body[..open]);
    out.extend_from_slice(added.as_bytes());
    let mut at = open;
    for (span, value) in edits {
        out.extend_from_slice(&body[at..span.start]);
        out.extend_from_slice(value.as_bytes());
        at = span.end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// Where a member's value lies in the body (it is a slice of it).
fn span(body: &str, value: &RawValue) -> Range<usize> {
    let start = value.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + value.get().len()
}

/// Content parts that are not text, counted as attachments rather than by their bytes: their
/// types, and how a body holding one is recognized without parsing it (it must hold the type as
/// a JSON string). Built once: the search runs over every prompt, so it is one vectorized pass
/// per two-byte start of the quoted types (`"i` and `"f` for four types), each hit compared
/// with the types that start so.
pub(crate) struct Attachments {
    kinds: &'static [&'static str],
    starts: Vec<Finder<'static>>,
}

impl Attachments {
    pub(crate) fn new(kinds: &'static [&'static str]) -> Self {
        let mut starts: Vec<[u8; 2]> = kinds.iter().filter_map(|k| k.bytes().next()).map(|b| [b'"', b]).collect();
        starts.sort_unstable();
        starts.dedup();
        Self { kinds, starts: starts.iter().map(|start| Finder::new(start).into_owned()).collect() }
    }

    /// Whether `text` holds one of the types as a JSON string (`"image_url"`).
    fn maybe_in(&self, text: &str) -> bool {
        let text = text.as_bytes();
        let quoted_at = |at: usize| {
            let after = &text[at + 1..];
            self.kinds.iter().any(|k| after.starts_with(k.as_bytes()) && after.get(k.len()) == Some(&b'"'))
        };
        self.starts.iter().any(|start| start.find_iter(text).any(quoted_at))
    }
}

/// How big a prompt is, for the allowance's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptSize {
    /// Bytes of the messages, attachments left out.
    pub bytes: u64,
    /// Images, audio clips and files attached.
    pub attachments: u64,
}

impl PromptSize {
    /// Adds a `messages` array (either wire's: each message's `content` a string or a list of
    /// parts/blocks with a `type`): its bytes, with each part whose type is one of `kinds` left
    /// out and counted as an attachment instead.
    pub(crate) fn add_messages(&mut self, raw: &str, kinds: &Attachments) {
        self.bytes += raw.len() as u64;
        // The common case (text only) is a search, not a parse.
        if !kinds.maybe_in(raw) {
            return;
        }
        let Ok(messages) = serde_json::from_str::<Vec<ContentOnly>>(raw) else { return };
        for content in messages.iter().filter_map(|m| m.content) {
            let Ok(parts) = serde_json::from_str::<Vec<&RawValue>>(content.get()) else { continue };
            for part in parts {
                if let Ok(PartKind { kind: Some(kind) }) = serde_json::from_str::<PartKind>(part.get())
                    && kinds.kinds.contains(&kind.as_ref())
                {
                    self.bytes = self.bytes.saturating_sub(part.get().len() as u64);
                    self.attachments += 1;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ContentOnly<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PartKind<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
}

/// The JSON text of a string value.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Serializes `value` to JSON text (for a spliced value).
pub fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
