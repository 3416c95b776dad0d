//! A small incremental parser for server-sent events (the `text/event-stream` format of the
//! WHATWG HTML spec), fed with whatever byte chunks the network delivers.
//!
//! Only what Converra sends matters here (`event:` and `data:` fields), but the framing rules
//! are followed fully: `\n`, `\r\n` and `\r` line ends, comments, multi-line data, a blank line
//! dispatching the event. Chunks may split lines and even UTF-8 characters anywhere: bytes are
//! buffered and decoded only once a whole line is in.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any (absent means the default type, `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Buffers bytes and yields complete events.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` of the next one belongs to it.
    after_cr: bool,
    /// The event being assembled.
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds the next chunk of the body; returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                events.push(event);
            }
            let is_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(rest);
        events
    }

    /// The body ended. Per the spec an event not followed by a blank line is discarded, so
    /// this only tells whether such an unfinished event was left behind.
    pub(crate) fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    fn process_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None; // comment, e.g. a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // `id`, `retry` and unknown fields: not used by Converra
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        // An event without data is not dispatched (spec), only its type is reset.
        let data = self.data.take()?;
        Some(SseEvent { event: event.filter(|e| !e.is_empty()), data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(d: &str) -> SseEvent {
        SseEvent { event: None, data: d.to_owned() }
    }

    fn parse_in_pieces(body: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        body.chunks(piece).flat_map(|chunk| parser.feed(chunk)).collect()
    }

    #[test]
    fn parses_data_events_and_the_done_marker() {
        let body = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(parse_in_pieces(body, body.len()), vec![data("{\"a\":1}"), data("[DONE]")]);
    }

    #[test]
    fn the_same_events_however_the_body_is_split() {
        let body =
            "event: error\r\ndata: {\"x\":\"é€\"}\r\n\r\n: keep-alive\n\ndata:no-space\rdata: second\r\r".as_bytes();
        let expected =
            vec![SseEvent { event: Some("error".into()), data: "{\"x\":\"é€\"}".into() }, data("no-space\nsecond")];
        for piece in 1..=body.len() {
            assert_eq!(parse_in_pieces(body, piece), expected, "piece size {piece}");
        }
    }

    #[test]
    fn only_one_leading_space_is_stripped_and_unknown_fields_are_ignored() {
        let body = b"id: 7\nretry: 10\nfoo\ndata:  two spaces\n\n";
        assert_eq!(parse_in_pieces(body, 3), vec![data(" two spaces")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let body = b"event: ping\n\ndata: x\n\n";
        assert_eq!(parse_in_pieces(body, 4), vec![data("x")]);
    }

    #[test]
    fn an_unterminated_event_is_reported_as_partial() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"data: {\"trunc").is_empty());
        assert!(parser.has_partial_event());
        let mut parser = SseParser::default();
        assert_eq!(parser.feed(b"data: x\n\n").len(), 1);
        assert!(!parser.has_partial_event());
    }
}
