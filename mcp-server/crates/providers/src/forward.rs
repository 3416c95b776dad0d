//! Forwarding a provider's own API (OpenAI's Chat Completions to OpenAI and DeepSeek,
//! Anthropic's Messages to Anthropic and DeepSeek's Anthropic-compatible endpoint; and the body
//! a translated chat becomes, Messages or Gemini's `generateContent`): the client's
//! body goes to the endpoint as given, and the answer comes back as the provider sent it — a
//! whole body unchanged, or a stream cut into its server-sent events, each relayed with its
//! bytes untouched (but for an error event, whose text could echo the key: that is redacted).
//! Of the answer, only the usage (and, for an estimate, the size of what was generated) and the
//! headers a client may see are read.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use converra::KeyStatus;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use memchr::memmem::{Finder, FinderRev};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::chat::ProviderFailure;
use super::redact::redact;
use super::{errors, gemini, responses, secret_header, sse, tail};
use converra_wire::anthropic::{self as anthropic_wire, MessagesUsage};
use converra_wire::openai::FullUsage;

/// Which API a forwarded body speaks: where it goes, how the key is sent, how usage is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI's `POST /chat/completions` (Bearer key).
    ChatCompletions,
    /// Anthropic's `POST /v1/messages` (`x-api-key`).
    Messages,
    /// Anthropic's `POST /v1/messages/count_tokens` (`x-api-key`; no usage).
    CountTokens,
    /// OpenAI's `POST /responses` (Bearer key; see `responses.rs`).
    Responses,
    /// OpenAI's `POST /responses/compact` (Bearer key; a whole answer with its usage).
    ResponsesCompact,
    /// OpenAI's `POST /embeddings` (Bearer key; usage as Chat Completions reports it).
    Embeddings,
    /// Gemini's `POST /v1beta/models/{model}:generateContent`, streamed
    /// `:streamGenerateContent?alt=sse` (`x-goog-api-key`; usage from `usageMetadata`, see
    /// `gemini.rs`). The model is in the path: see [`Target`].
    GenerateContent,
}

/// Where a forwarded body goes: its API and, for an API whose URL names it (Gemini's), the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub api: Api,
    pub model: &'a str,
}

impl From<Api> for Target<'static> {
    fn from(api: Api) -> Self {
        Target { api, model: "" }
    }
}

/// A forwarded answer's usage in the provider's own figures, whatever its wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metered {
    /// Every prompt token, those read from or written to the cache included.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (a part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache (a part of `input_tokens`).
    pub cache_write_tokens: u64,
    /// Output tokens spent reasoning (a part of `output_tokens`).
    pub reasoning_tokens: u64,
}

impl From<FullUsage> for Metered {
    fn from(u: FullUsage) -> Self {
        Metered {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cache_read_tokens: u.cached_tokens(),
            cache_write_tokens: 0,
            reasoning_tokens: u.reasoning_tokens(),
        }
    }
}

impl From<MessagesUsage> for Metered {
    fn from(u: MessagesUsage) -> Self {
        let (read, write) = (u.cache_read_input_tokens.unwrap_or(0), u.cache_creation_input_tokens.unwrap_or(0));
        Metered {
            input_tokens: u.input_tokens.unwrap_or(0) + read + write,
            output_tokens: u.output_tokens.unwrap_or(0),
            cache_read_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: 0,
        }
    }
}

/// A whole answer: the provider's body, the usage read from it, and the headers a client may see.
pub struct Forwarded {
    pub body: Bytes,
    pub usage: Option<Metered>,
    pub headers: HeaderMap,
    /// The id of an object the answer created and the provider stores (a stored response),
    /// which only the member it was relayed for may name again.
    pub stored_id: Option<String>,
}

/// A stream's events, and the headers of its answer a client may see.
pub struct Streamed {
    pub frames: FrameStream,
    pub headers: HeaderMap,
}

/// One server-sent event of a forwarded stream, as the provider sent it.
#[derive(Debug, PartialEq)]
pub struct Frame {
    /// The event's bytes, its blank-line terminator included.
    pub bytes: Bytes,
    /// The usage it reports, once complete (OpenAI: the stream's last chunk, when usage was
    /// asked for; Anthropic: `message_delta`, with what `message_start` said).
    pub usage: Option<Metered>,
    /// A chunk with usage and no choices: the one OpenAI adds for `include_usage`.
    pub usage_only: bool,
    /// Bytes of generated text (content, reasoning, refusal; tool calls as their JSON), for an
    /// estimate should the usage never arrive.
    pub produced: u64,
    /// The id of an object the stream created and the provider stores (`response.created`'s
    /// response, unless `store` was false).
    pub stored_id: Option<String>,
}

pub type FrameStream = BoxStream<'static, Result<Frame, ProviderFailure>>;

/// The request: the client's body, the key where the API wants it, and the client headers
/// the API allows (`headers`, already checked by the core).
fn request(
    client: &reqwest::Client,
    api: Api,
    url: reqwest::Url,
    key: &SecretString,
    headers: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let mut request = client.post(url).header(CONTENT_TYPE, "application/json");
    request = match api {
        Api::ChatCompletions | Api::Responses | Api::ResponsesCompact | Api::Embeddings => {
            request.header(AUTHORIZATION, secret_header("Bearer ", key))
        }
        Api::Messages | Api::CountTokens => request.header("x-api-key", secret_header("", key)),
        Api::GenerateContent => request.header("x-goog-api-key", secret_header("", key)),
    };
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body)
}

/// The answer's headers a client may see: its request id, `retry-after` and the rate-limit
/// headers. Never a credential, a cookie or the provider's account, organization or project ids.
fn relayable(api: Api, from: &HeaderMap) -> HeaderMap {
    let allowed = |name: &str| match api {
        Api::Messages | Api::CountTokens => {
            name == "request-id" || name == "retry-after" || name.starts_with("anthropic-ratelimit-")
        }
        Api::ChatCompletions | Api::Responses | Api::ResponsesCompact | Api::Embeddings => {
            name == "x-request-id" || name == "retry-after" || name.starts_with("x-ratelimit-")
        }
        Api::GenerateContent => name == "retry-after",
    };
    from.iter().filter(|(name, _)| allowed(name.as_str())).map(|(n, v)| (n.clone(), v.clone())).collect()
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<FullUsage>,
}

/// The top-level `usage` of a Chat Completions, embeddings or Messages answer: read from the
/// end of the body, where those APIs write it (`tail.rs`), or else by a full parse. `U` is the
/// usage as the API writes it, `Whole` the answer with only that member.
fn usage_of<'a, U, Whole>(body: &'a [u8], usage: fn(Whole) -> Option<U>) -> Option<Metered>
where
    U: Deserialize<'a> + Into<Metered>,
    Whole: Deserialize<'a>,
{
    static USAGE: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b"\"usage\""));
    let read = match tail::last_member::<Option<U>>(body, &USAGE) {
        Some(found) => found,
        None => serde_json::from_slice::<Whole>(body).ok().and_then(usage),
    };
    read.map(Into::into)
}

/// The usage of a whole answer, read as its API reports it.
fn whole_usage(api: Api, body: &[u8]) -> Option<Metered> {
    match api {
        Api::ChatCompletions | Api::Embeddings => usage_of(body, |whole: UsageOnly| whole.usage),
        Api::Responses | Api::ResponsesCompact => responses::whole(body).0,
        Api::Messages => usage_of(body, |whole: anthropic_wire::UsageOnly| whole.usage),
        Api::CountTokens => None,
        Api::GenerateContent => gemini::whole_usage(body),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn whole(
    client: &reqwest::Client,
    provider: converra::Provider,
    api: Api,
    url: reqwest::Url,
    key: &SecretString,
    headers: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
) -> Result<Forwarded, ProviderFailure> {
    let response = errors::send(provider, request(client, api, url, key, headers, body)).await?;
    let headers = relayable(api, response.headers());
    let body = response.bytes().await.map_err(|_| ProviderFailure(KeyStatus::Unreachable))?;
    // The body goes back as it is, whether or not its usage can be read.
    let usage = whole_usage(api, &body);
    // Only a created response is kept by the provider under an id (a compaction is not).
    let stored_id = if api == Api::Responses { responses::whole(&body).1 } else { None };
    Ok(Forwarded { body, usage, headers, stored_id })
}

#[allow(clippy::too_many_arguments)]
pub async fn stream(
    client: &reqwest::Client,
    provider: converra::Provider,
    api: Api,
    url: reqwest::Url,
    key: &SecretString,
    headers: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
    idle: Duration,
) -> Result<Streamed, ProviderFailure> {
    let response = errors::send(provider, request(client, api, url, key, headers, body)).await?;
    let headers = relayable(api, response.headers());
    let chunks = sse::idle_bounded(response, idle).boxed();
    let start = (chunks, Vec::new(), Reader { api, partial: None, key: key.clone() });
    let frames = futures_util::stream::unfold(Some(start), |state| async move {
        let (mut chunks, mut buffer, mut reader) = state?;
        loop {
            if let Some(end) = frame_end(&buffer) {
                let bytes = Bytes::copy_from_slice(&buffer[..end]);
                buffer.drain(..end);
                let frame = reader.read(bytes);
                return Some((Ok(frame), Some((chunks, buffer, reader))));
            }
            match chunks.next().await {
                Some(Ok(chunk)) => buffer.extend_from_slice(chunk.as_ref()),
                Some(Err(_)) => return Some((Err(ProviderFailure(KeyStatus::Unreachable)), None)),
                // The provider closed: what is left (an event without its blank line) goes as is.
                None if buffer.is_empty() => return None,
                None => return Some((Ok(reader.read(Bytes::from(std::mem::take(&mut buffer)))), None)),
            }
        }
    });
    Ok(Streamed { frames: frames.boxed(), headers })
}

/// Reads a stream's events in order: an Anthropic stream's usage comes in two halves; an
/// error event has the key redacted before it goes any further.
struct Reader {
    api: Api,
    /// What `message_start` reported, until `message_delta` completes it.
    partial: Option<MessagesUsage>,
    /// The key the stream was asked with: a provider's error text can echo it.
    key: SecretString,
}

impl Reader {
    fn read(&mut self, bytes: Bytes) -> Frame {
        let mut frame = self.read_as_sent(bytes);
        if is_error_event(&frame.bytes)
            && let Some(redacted) = redact_event(&frame.bytes, self.key.expose_secret())
        {
            frame.bytes = redacted.into();
        }
        frame
    }

    fn read_as_sent(&mut self, bytes: Bytes) -> Frame {
        match self.api {
            Api::ChatCompletions | Api::CountTokens | Api::Embeddings => read_frame(bytes),
            Api::Responses | Api::ResponsesCompact => responses::read(bytes, event_data),
            Api::GenerateContent => gemini::read_frame(bytes, event_data),
            Api::Messages => {
                let mut frame = Frame { bytes, usage: None, usage_only: false, produced: 0, stored_id: None };
                let Some(data) = event_data(&frame.bytes) else { return frame };
                let read = anthropic_wire::read_event(&data);
                frame.produced = read.produced;
                if let Some(usage) = read.usage {
                    let merged = self.partial.unwrap_or_default().merged(usage);
                    self.partial = Some(merged);
                    if read.final_usage {
                        frame.usage = Some(merged.into());
                    }
                }
                frame
            }
        }
    }
}

/// The `data:` lines of one event, joined; `None` for an event without data.
fn event_data(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (!data.is_empty()).then_some(data)
}

/// Whether an event reports an error: one named `error` (Anthropic's and the Responses API's
/// streams) or `response.failed`, or one whose data holds a top-level `error` (OpenAI's and
/// Gemini's mid-stream errors). Every such event holds `"error"` as written, so the rest,
/// nearly every event, costs one vectorized search.
fn is_error_event(bytes: &[u8]) -> bool {
    static ERROR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));
    #[derive(Deserialize)]
    struct TopLevel<'a> {
        #[serde(default, borrow)]
        error: Option<&'a RawValue>,
    }
    if ERROR.find(bytes).is_none() {
        return false;
    }
    let named = bytes.split(|b| *b == b'\n').filter_map(|line| line.strip_prefix(b"event:")).any(|name| {
        let name = name.strip_prefix(b" ").unwrap_or(name);
        matches!(name.strip_suffix(b"\r").unwrap_or(name), b"error" | b"response.failed")
    });
    named
        || event_data(bytes).is_some_and(|data| {
            serde_json::from_str::<TopLevel>(&data).is_ok_and(|t| t.error.is_some_and(|e| e.get() != "null"))
        })
}

/// An event with `secret` redacted from the value of each `data:` line (`redact.rs`: the key
/// whole, any 8+ character piece of it, the provider's masked echo; JSON stays JSON), every
/// other byte as sent; `None` when there was nothing to redact.
fn redact_event(bytes: &[u8], secret: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let Some(rest) = line.strip_prefix(b"data:") else {
            out.extend_from_slice(line);
            continue;
        };
        let space = usize::from(rest.starts_with(b" "));
        let end = rest.len() - rest.iter().rev().take_while(|b| matches!(b, b'\n' | b'\r')).count();
        let value = redact(&rest[space..end], secret);
        changed |= matches!(value, Cow::Owned(_));
        out.extend_from_slice(&line[..5 + space]);
        out.extend_from_slice(&value);
        out.extend_from_slice(&rest[end..]);
    }
    changed.then_some(out)
}

/// Where the first event in `buffer` ends: after its blank line (`\n\n` or `\r\n\r\n`).
fn frame_end(buffer: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buffer.len() {
        if buffer[i] == b'\n' {
            if buffer[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buffer[i + 1] == b'\r' && buffer.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[derive(Deserialize)]
struct ChunkView<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceView<'a>>,
    #[serde(default)]
    usage: Option<FullUsage>,
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    refusal: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a RawValue>,
}

/// Reads what Converra needs from one event; an event it cannot read is relayed all the same.
fn read_frame(bytes: Bytes) -> Frame {
    let mut frame = Frame { bytes, usage: None, usage_only: false, produced: 0, stored_id: None };
    let Some(data) = event_data(&frame.bytes) else { return frame };
    if data == "[DONE]" {
        return frame;
    }
    if let Ok(chunk) = serde_json::from_str::<ChunkView>(&data) {
        frame.produced = chunk
            .choices
            .iter()
            .filter_map(|c| c.delta.as_ref())
            .flat_map(|d| [d.content, d.reasoning_content, d.refusal, d.tool_calls])
            .flatten()
            // A string's text without its quotes; tool calls as their JSON.
            .map(|raw| raw.get().len().saturating_sub(if raw.get().starts_with('"') { 2 } else { 0 }) as u64)
            .sum();
        frame.usage_only = chunk.usage.is_some() && chunk.choices.is_empty();
        frame.usage = chunk.usage.map(Metered::from);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_their_blank_line_whatever_the_line_ends() {
        assert_eq!(frame_end(b"data: {}\n\ndata: x"), Some(10));
        assert_eq!(frame_end(b"data: {}\r\n\r\nrest"), Some(12));
        assert_eq!(frame_end(b"data: {}\n"), None);
        assert_eq!(frame_end(b""), None);
    }

    #[test]
    fn the_usage_chunk_is_read_and_recognized() {
        let usage = Bytes::from_static(b"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n");
        let frame = read_frame(usage.clone());
        assert_eq!(frame.bytes, usage);
        assert!(frame.usage_only);
        let u = frame.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens, u.cache_read_tokens, u.reasoning_tokens), (12, 5, 4, 2));
        let text = read_frame(Bytes::from_static(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n",
        ));
        assert_eq!((text.usage, text.usage_only, text.produced), (None, false, 5));
        assert_eq!(read_frame(Bytes::from_static(b"data: [DONE]\n\n")).produced, 0);
    }

    #[test]
    fn a_whole_answers_usage_is_read_from_its_end_or_else_from_the_whole() {
        let openai = br#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"The \"usage\": {\"prompt_tokens\": 1}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}},"service_tier":"default","system_fingerprint":"fp_1"}"#;
        let read = whole_usage(Api::ChatCompletions, openai).unwrap();
        assert_eq!(
            (read.input_tokens, read.output_tokens, read.cache_read_tokens, read.reasoning_tokens),
            (12, 5, 4, 2)
        );
        // Written first, found by the whole parse.
        let first = br#"{"usage":{"prompt_tokens":3,"completion_tokens":1},"choices":[{"message":{"usage":9}}]}"#;
        assert_eq!(whole_usage(Api::ChatCompletions, first).map(|u| u.input_tokens), Some(3));
        let anthropic = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":2,"output_tokens":3}}"#;
        assert_eq!(whole_usage(Api::Messages, anthropic).map(|u| (u.input_tokens, u.cache_read_tokens)), Some((12, 2)));
        for none in [&br#"{"choices":[],"usage":null}"#[..], br#"{"choices":[]}"#, b"not json"] {
            assert_eq!(whole_usage(Api::ChatCompletions, none), None);
        }
    }

    const KEY: &str = "sk-proj-abcDEF0123456789ghiJKL";

    fn reader(api: Api) -> Reader {
        Reader { api, partial: None, key: SecretString::from(KEY) }
    }

    #[test]
    fn an_error_event_has_the_key_redacted_and_nothing_else_changes() {
        // OpenAI's mid-stream error: a data event holding a top-level `error`.
        let openai = format!(
            "data: {{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}}}\n\n"
        );
        let frame = reader(Api::ChatCompletions).read(Bytes::from(openai.clone()));
        assert_eq!(frame.bytes, openai.replace(KEY, "[redacted]"));
        // Anthropic's `event: error`, with CRLF line ends, and the masked echo OpenAI writes.
        let anthropic = format!(
            "event: error\r\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"key {KEY} and sk-proj-****iJKL\"}}}}\r\n\r\n"
        );
        let frame = reader(Api::Messages).read(Bytes::from(anthropic.clone()));
        let expected = anthropic.replace(KEY, "[redacted]").replace("sk-proj-****iJKL", "[redacted]");
        assert_eq!(String::from_utf8_lossy(&frame.bytes), expected);
        // The Responses API's `error` event, its name written without a space.
        let responses =
            format!("event:error\ndata: {{\"type\":\"error\",\"code\":\"server_error\",\"message\":\"{KEY}\"}}\n\n");
        let frame = reader(Api::Responses).read(Bytes::from(responses.clone()));
        assert_eq!(frame.bytes, responses.replace(KEY, "[redacted]"));
    }

    #[test]
    fn only_error_events_are_touched() {
        // The word as text, an `error` that is null, or nested: not an error event, relayed as
        // sent even should it hold the key.
        for event in [
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"error\"}}}}],\"note\":\"{KEY}\"}}\n\n"
            ),
            format!("data: {{\"choices\":[],\"error\":null,\"note\":\"{KEY}\"}}\n\n"),
            format!("data: {{\"choices\":[{{\"error\":{{\"message\":\"{KEY}\"}}}}]}}\n\n"),
            format!("event: message_delta\ndata: {{\"type\":\"message_delta\",\"note\":\"{KEY}\"}}\n\n"),
        ] {
            assert!(!is_error_event(event.as_bytes()), "{event}");
            assert_eq!(reader(Api::ChatCompletions).read(Bytes::from(event.clone())).bytes, event);
        }
        // An error event without the key stays as sent.
        let plain = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        assert!(is_error_event(plain));
        assert_eq!(redact_event(plain, KEY), None);
    }
}
