//! Redacting a provider key from what its provider answered, before any of it reaches a client (the
//! agent endpoints pass a provider's request errors through as sent): the key whole, any piece of
//! it of [`PIECE`] characters or more, and the provider's masked echo of it (OpenAI's
//! `sk-proj-****…abcd`, DeepSeek's `****abcd`) each become [`REDACTED`]. A JSON body is read with
//! its strings' escapes decoded, so an escaped key is found too, and a replacement only ever covers
//! whole characters inside one string: a body that was valid JSON stays valid JSON.

use std::borrow::Cow;
use std::collections::HashSet;

/// What stands in for a redacted piece of text (no quote, no backslash: safe inside a JSON string).
pub const REDACTED: &str = "[redacted]";

/// The shortest piece of a key that is redacted wherever it appears.
pub const PIECE: usize = 8;

/// `text` with `secret` redacted (borrowed when there was nothing to redact).
pub fn redact<'a>(text: &'a [u8], secret: &str) -> Cow<'a, [u8]> {
    let key: Vec<char> = secret.chars().collect();
    if key.is_empty() {
        return Cow::Borrowed(text);
    }
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok();
    let mut units = read(text, json);
    let mut marked = vec![false; units.len()];
    if !mark_pieces(&units, &key, &mut marked) {
        // A piece outside any string (a number): the key comes first, the JSON second.
        units = read(text, false);
        marked = vec![false; units.len()];
        mark_pieces(&units, &key, &mut marked);
    }
    mark_masked(&units, &key, &mut marked);
    if !marked.contains(&true) {
        return Cow::Borrowed(text);
    }
    let (mut out, mut copied, mut i) = (Vec::with_capacity(text.len()), 0, 0);
    while i < units.len() {
        if !marked[i] {
            i += 1;
            continue;
        }
        let start = units[i].start;
        while i < units.len() && marked[i] {
            i += 1;
        }
        out.extend_from_slice(&text[copied..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        copied = units[i - 1].end;
    }
    out.extend_from_slice(&text[copied..]);
    Cow::Owned(out)
}

/// [`redact`] for text already read as a string (a message taken out of a body).
pub fn redact_str(text: &str, secret: &str) -> String {
    String::from_utf8_lossy(&redact(text.as_bytes(), secret)).into_owned()
}

/// One character of the text as read: the bytes it came from (an escape counts as one
/// character), and whether it may be replaced. In a JSON body only the characters inside
/// strings may be; their quotes (`quote`) and everything between strings may not.
struct Unit {
    ch: char,
    start: usize,
    end: usize,
    open: bool,
    quote: bool,
}

/// The characters of `text`: a JSON body's strings with their escapes decoded; any other text
/// whole, its escapes decoded too (it may hold a JSON fragment), every character open. Bytes
/// that are not UTF-8 are read one by one.
fn read(text: &[u8], json: bool) -> Vec<Unit> {
    let chars: Vec<(usize, char)> = match std::str::from_utf8(text) {
        Ok(s) => s.char_indices().collect(),
        Err(_) => {
            text.iter().enumerate().map(|(i, b)| (i, if b.is_ascii() { *b as char } else { '\u{FFFD}' })).collect()
        }
    };
    let at = |k: usize| chars.get(k).map_or(text.len(), |c| c.0);
    let mut units = Vec::with_capacity(chars.len());
    let mut in_string = !json;
    let mut k = 0;
    while k < chars.len() {
        let (start, c) = chars[k];
        if json && c == '"' {
            in_string = !in_string;
            units.push(Unit { ch: c, start, end: at(k + 1), open: false, quote: true });
            k += 1;
            continue;
        }
        let (ch, used) = match c {
            '\\' if in_string => escape(&chars[k + 1..]).map_or((c, 1), |(ch, n)| (ch, n + 1)),
            _ => (c, 1),
        };
        units.push(Unit { ch, start, end: at(k + used), open: in_string, quote: false });
        k += used;
    }
    units
}

/// The character a backslash escape stands for, and how many characters after the backslash
/// it takes (`\uD83D\uDE00`, a surrogate pair, is one character).
fn escape(after: &[(usize, char)]) -> Option<(char, usize)> {
    let hex = |from: usize| -> Option<u32> {
        let digits: String = after.get(from..from + 4)?.iter().map(|c| c.1).collect();
        digits.chars().all(|c| c.is_ascii_hexdigit()).then(|| u32::from_str_radix(&digits, 16).ok())?
    };
    let simple = match after.first()?.1 {
        '"' => '"',
        '\\' => '\\',
        '/' => '/',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => {
            let high = hex(1)?;
            if (0xD800..0xDC00).contains(&high)
                && after.get(5).map(|c| c.1) == Some('\\')
                && after.get(6).map(|c| c.1) == Some('u')
                && let Some(low) = hex(7).filter(|low| (0xDC00..0xE000).contains(low))
            {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return Some((char::from_u32(code).unwrap_or('\u{FFFD}'), 11));
            }
            return Some((char::from_u32(high).unwrap_or('\u{FFFD}'), 5));
        }
        _ => return None,
    };
    Some((simple, 1))
}

/// Marks every run of characters that is a piece of the key at least [`PIECE`] long (the whole
/// key, when it is shorter): overlapping pieces join, so a longer piece is covered whole. Of a
/// piece that a JSON string's quote cuts (a key with a `"` in it), what lies inside strings is
/// marked. Returns false when a piece lies partly outside any string (a number), where it
/// cannot be marked without breaking the JSON.
fn mark_pieces(units: &[Unit], key: &[char], marked: &mut [bool]) -> bool {
    let width = PIECE.min(key.len());
    let pieces: HashSet<&[char]> = key.windows(width).collect();
    let chars: Vec<char> = units.iter().map(|u| u.ch).collect();
    let mut all = true;
    for (i, window) in chars.windows(width).enumerate() {
        if pieces.contains(window) {
            for (unit, mark) in units[i..i + width].iter().zip(&mut marked[i..i + width]) {
                *mark |= unit.open;
                all &= unit.open || unit.quote;
            }
        }
    }
    all
}

/// Marks a provider's masked echo of the key: a run of mask characters (`***`, `•••`, `...`, or
/// `…`) with the key's beginning before it or its end after it, three characters or more of
/// them together (`sk-proj-****abcd`, `****abcd`).
fn mark_masked(units: &[Unit], key: &[char], marked: &mut [bool]) {
    let is_mask = |u: &Unit| u.open && matches!(u.ch, '*' | '•' | '.' | '…');
    let mut i = 0;
    while i < units.len() {
        if !is_mask(&units[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < units.len() && is_mask(&units[i]) {
            i += 1;
        }
        let run = &units[start..i];
        if run.len() < 3 && !run.iter().any(|u| u.ch == '…') {
            continue;
        }
        // A string's quote may match (a key with a `"` in it) but is never marked.
        let matches = |from: usize, part: &[char]| {
            units[from..from + part.len()].iter().zip(part).all(|(u, c)| (u.open || u.quote) && u.ch == *c)
        };
        let before = (1..=key.len().min(start)).rev().find(|&n| matches(start - n, &key[..n])).unwrap_or(0);
        let after =
            (1..=key.len().min(units.len() - i)).rev().find(|&n| matches(i, &key[key.len() - n..])).unwrap_or(0);
        if before + after >= 3 {
            for (unit, mark) in units[start - before..i + after].iter().zip(&mut marked[start - before..i + after]) {
                *mark |= unit.open;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn redacted(text: &str, key: &str) -> String {
        String::from_utf8(redact(text.as_bytes(), key).into_owned()).unwrap()
    }

    #[test]
    fn the_providers_real_echoes_are_redacted() {
        let key = "sk-proj-VALIDopenaiKEY0123456789wxyz";
        let openai = r#"{"error":{"message":"Incorrect API key provided: sk-proj-**************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            redacted(openai, key),
            r#"{"error":{"message":"Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#
        );
        let deepseek = r#"{"error":{"message":"Authentication Fails, Your api key: ****wxyz is invalid","type":"authentication_error","param":null,"code":"invalid_request_error"}}"#;
        assert!(redacted(deepseek, key).contains(r#"Your api key: [redacted] is invalid"#));
        let whole = format!("Authentication Fails, Your api key: {key} is invalid");
        assert_eq!(redacted(&whole, key), "Authentication Fails, Your api key: [redacted] is invalid");
        // Escaped as some encoders do (`\/`, `\u00XX`): found all the same, still valid JSON.
        let escaped = r#"{"message":"key \u0073k-proj-VALIDopenai\/KEY"}"#;
        let out = redacted(escaped, "sk-proj-VALIDopenai/KEY");
        assert_eq!(out, r#"{"message":"key [redacted]"}"#);
        // Nothing of the key: the very same bytes, borrowed.
        let clean = br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}"#;
        assert!(matches!(redact(clean, key), Cow::Borrowed(_)));
        // Three dots in prose are no echo; the key's last four alone are not the key.
        assert_eq!(redacted("Thinking... done (key ending wxyz)", key), "Thinking... done (key ending wxyz)");
    }

    #[test]
    fn a_piece_across_a_json_string_boundary_is_left_whole_so_the_json_stays_valid() {
        let key = "abcdefghijklmnop";
        let body = r#"{"abcdefgh":"ijklmnop","x":"abcdefghij"}"#;
        let out = redacted(body, key);
        assert_eq!(out, r#"{"[redacted]":"[redacted]","x":"[redacted]"}"#);
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    /// How a fragment of the key is written in a body.
    #[derive(Debug, Clone)]
    enum Fragment {
        Text(String),
        Whole,
        /// A piece: where it starts in the key and how long it is (at least `PIECE`).
        Piece(usize, usize),
        /// The key's first `n` characters, stars, its last four.
        Masked(usize, usize),
    }

    fn fragment() -> impl Strategy<Value = Fragment> {
        prop_oneof![
            "[a-z ,:]{0,12}".prop_map(Fragment::Text),
            Just(Fragment::Whole),
            (0..200usize, 0..200usize).prop_map(|(a, b)| Fragment::Piece(a, b)),
            (0..9usize, 3..40usize).prop_map(|(a, b)| Fragment::Masked(a, b)),
        ]
    }

    fn written(fragment: &Fragment, key: &[char]) -> (String, Option<String>) {
        let text = |c: &[char]| c.iter().collect::<String>();
        match fragment {
            Fragment::Text(t) => (t.clone(), None),
            Fragment::Whole => (text(key), Some(text(key))),
            Fragment::Piece(start, len) => {
                let len = PIECE + len % (key.len() - PIECE + 1);
                let start = start % (key.len() - len + 1);
                let piece = text(&key[start..start + len]);
                (piece.clone(), Some(piece))
            }
            Fragment::Masked(shown, stars) => {
                let echo = format!("{}{}{}", text(&key[..*shown]), "*".repeat(*stars), text(&key[key.len() - 4..]));
                (echo.clone(), Some(echo))
            }
        }
    }

    /// A JSON string as an encoder may write it: plainly, every character as `\uXXXX`, or with
    /// `/` as `\/`.
    fn json_string(s: &str, style: u8) -> String {
        match style % 3 {
            0 => serde_json::to_string(s).unwrap(),
            1 => {
                let mut out = String::from('"');
                for unit in s.encode_utf16() {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
                out + "\""
            }
            _ => serde_json::to_string(s).unwrap().replace('/', "\\/"),
        }
    }

    fn no_piece_in(text: &str, key: &[char]) -> Result<(), TestCaseError> {
        let chars: Vec<char> = text.chars().collect();
        for piece in key.windows(PIECE) {
            prop_assert!(!chars.windows(PIECE).any(|w| w == piece), "{:?} in {text:?}", String::from_iter(piece));
        }
        Ok(())
    }

    fn strings_of(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings_of(v, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
                out.push(k.clone());
                strings_of(v, out);
            }),
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn no_piece_of_the_key_survives_and_json_stays_json(
            key in "[A-Za-z0-9_/+=<>&\"é-]{8,80}",
            fragments in proptest::collection::vec(fragment(), 1..8),
            style in 0u8..3,
        ) {
            let key: Vec<char> = key.chars().collect();
            let (parts, secrets): (Vec<String>, Vec<Option<String>>) = fragments.iter().map(|f| written(f, &key)).unzip();
            let message = parts.concat();
            let secret: String = key.iter().collect();

            // A provider's JSON error body, its message holding the fragments.
            let body = format!(
                r#"{{"error":{{"message":{},"type":"invalid_request_error","param":null,"code":null}}}}"#,
                json_string(&message, style)
            );
            let out = redact(body.as_bytes(), &secret);
            let out = std::str::from_utf8(&out).expect("UTF-8");
            let value: serde_json::Value = serde_json::from_str(out).expect("still JSON");
            let mut strings = Vec::new();
            strings_of(&value, &mut strings);
            for s in &strings {
                no_piece_in(s, &key)?;
                for shown in secrets.iter().flatten() {
                    prop_assert!(!s.contains(shown.as_str()), "{shown:?} in {s:?}");
                }
            }
            prop_assert!(!out.contains(&secret));
            prop_assert_eq!(&value["error"]["type"], "invalid_request_error");

            // The same fragments as plain text.
            let out = redact(message.as_bytes(), &secret);
            let out = std::str::from_utf8(&out).expect("UTF-8");
            no_piece_in(out, &key)?;
            for shown in secrets.iter().flatten() {
                prop_assert!(!out.contains(shown.as_str()), "{shown:?} in {out:?}");
            }
        }
    }
}
