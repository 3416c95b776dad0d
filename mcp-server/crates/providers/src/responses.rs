//! What forwarding reads of OpenAI's Responses answers (`forward.rs`, `Api::Responses` and
//! `Api::ResponsesCompact`): the usage in the provider's own figures — a whole answer's, or that
//! of the event ending a stream (`response.completed`, `response.incomplete`,
//! `response.failed`: each is metered) — the id of a response the provider stores, and the
//! size of the generated text for an estimate. The events themselves are relayed untouched.

use bytes::Bytes;

use super::forward::{Frame, Metered};
use converra_wire::openai::responses::{self, ResponsesUsage};

impl From<ResponsesUsage> for Metered {
    fn from(u: ResponsesUsage) -> Self {
        Metered {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cached_tokens(),
            cache_write_tokens: 0,
            reasoning_tokens: u.reasoning_tokens(),
        }
    }
}

/// A whole answer's usage, and its id when the provider stores it.
pub(super) fn whole(body: &[u8]) -> (Option<Metered>, Option<String>) {
    let read = responses::read_whole(body);
    (read.usage.map(Metered::from), read.stored_id)
}

/// One stream event, as relayed, with what Converra reads of it (`data` joins its data lines).
pub(super) fn read(bytes: Bytes, data: fn(&[u8]) -> Option<String>) -> Frame {
    let read = data(&bytes).map(|d| responses::read_event(&d)).unwrap_or_default();
    Frame {
        bytes,
        usage: read.usage.map(Metered::from),
        usage_only: false,
        produced: read.produced,
        stored_id: read.stored_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responses_usage_is_metered_with_its_cached_and_reasoning_tokens() {
        let body = br#"{"id":"resp_9","object":"response","store":true,"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":12},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":39}}"#;
        let (usage, id) = whole(body);
        let expected = Metered {
            input_tokens: 30,
            output_tokens: 9,
            cache_read_tokens: 12,
            cache_write_tokens: 0,
            reasoning_tokens: 4,
        };
        assert_eq!((usage, id.as_deref()), (Some(expected), Some("resp_9")));
    }
}
