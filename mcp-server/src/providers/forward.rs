//! Forwarding on the OpenAI wire (OpenAI, DeepSeek): the client's body goes to the chat endpoint
//! as given, and the answer comes back as the provider sent it — a whole body unchanged, or a
//! stream cut into its server-sent events, each relayed with its bytes untouched. Of the answer,
//! only the usage (and, for an estimate, the size of what was generated) is read.

use std::time::Duration;

use axum::body::Bytes;
use converra::KeyStatus;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::chat::ProviderFailure;
use super::{errors, secret_header, sse};
use crate::openai_wire::FullUsage;

/// A whole answer: the provider's body, and the usage read from it.
pub struct Forwarded {
    pub body: Bytes,
    pub usage: Option<FullUsage>,
}

/// One server-sent event of a forwarded stream, as the provider sent it.
#[derive(Debug, PartialEq)]
pub struct Frame {
    /// The event's bytes, its blank-line terminator included.
    pub bytes: Bytes,
    /// The usage it reports (the stream's last chunk, when usage was asked for).
    pub usage: Option<FullUsage>,
    /// A chunk with usage and no choices: the one OpenAI adds for `include_usage`.
    pub usage_only: bool,
    /// Bytes of generated text (content, reasoning, refusal; tool calls as their JSON), for an
    /// estimate should the usage never arrive.
    pub produced: u64,
}

pub type FrameStream = BoxStream<'static, Result<Frame, ProviderFailure>>;

fn request(client: &reqwest::Client, url: reqwest::Url, key: &SecretString, body: Vec<u8>) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(AUTHORIZATION, secret_header("Bearer ", key))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<FullUsage>,
}

pub async fn whole(
    client: &reqwest::Client,
    provider: converra::Provider,
    url: reqwest::Url,
    key: &SecretString,
    body: Vec<u8>,
) -> Result<Forwarded, ProviderFailure> {
    let response = errors::send(provider, request(client, url, key, body)).await?;
    let body = response.bytes().await.map_err(|_| ProviderFailure(KeyStatus::Unreachable))?;
    // The body goes back as it is, whether or not its usage can be read.
    let usage = serde_json::from_slice::<UsageOnly>(&body).ok().and_then(|u| u.usage);
    Ok(Forwarded { body, usage })
}

pub async fn stream(
    client: &reqwest::Client,
    provider: converra::Provider,
    url: reqwest::Url,
    key: &SecretString,
    body: Vec<u8>,
    idle: Duration,
) -> Result<FrameStream, ProviderFailure> {
    let response = errors::send(provider, request(client, url, key, body)).await?;
    let chunks = sse::idle_bounded(response, idle).boxed();
    let frames = futures_util::stream::unfold(Some((chunks, Vec::new())), |state| async move {
        let (mut chunks, mut buffer) = state?;
        loop {
            if let Some(end) = frame_end(&buffer) {
                let bytes = Bytes::copy_from_slice(&buffer[..end]);
                buffer.drain(..end);
                return Some((Ok(read_frame(bytes)), Some((chunks, buffer))));
            }
            match chunks.next().await {
                Some(Ok(chunk)) => buffer.extend_from_slice(chunk.as_ref()),
                Some(Err(_)) => return Some((Err(ProviderFailure(KeyStatus::Unreachable)), None)),
                // The provider closed: what is left (an event without its blank line) goes as is.
                None if buffer.is_empty() => return None,
                None => return Some((Ok(read_frame(Bytes::from(std::mem::take(&mut buffer)))), None)),
            }
        }
    });
    Ok(frames.boxed())
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
    let mut frame = Frame { bytes, usage: None, usage_only: false, produced: 0 };
    let Ok(text) = std::str::from_utf8(&frame.bytes) else { return frame };
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() || data == "[DONE]" {
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
        frame.usage = chunk.usage;
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
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.cached_tokens(), u.reasoning_tokens()), (12, 5, 4, 2));
        let text = read_frame(Bytes::from_static(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n",
        ));
        assert_eq!((text.usage, text.usage_only, text.produced), (None, false, 5));
        assert_eq!(read_frame(Bytes::from_static(b"data: [DONE]\n\n")).produced, 0);
    }
}
