//! One server-sent event of a relayed provider stream, read: its `event:` name and its `data:`
//! lines joined (either line ending; comments and other fields skipped). The one reader of the
//! wire modules' incoming streams (OpenAI's, Anthropic's and Gemini's frames alike).

/// An event's name (if it has one) and data (if any).
pub(crate) fn read(bytes: &[u8]) -> (Option<&str>, Option<String>) {
    let Ok(text) = std::str::from_utf8(bytes) else { return (None, None) };
    let (mut name, mut data) = (None, None::<String>);
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    (name, data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_data_are_read_whatever_the_line_ends() {
        assert_eq!(
            super::read(b"event: ping\ndata: {\"type\":\"ping\"}\n\n"),
            (Some("ping"), Some("{\"type\":\"ping\"}".into()))
        );
        assert_eq!(super::read(b"data: {\"a\":\r\ndata: 1}\r\n\r\n"), (None, Some("{\"a\":\n1}".into())));
        assert_eq!(super::read(b": keep-alive\n\n"), (None, None));
    }
}
