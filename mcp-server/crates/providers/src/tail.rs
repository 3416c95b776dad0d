//! A top-level member of a whole answer, read from the end of the body: OpenAI's and
//! Anthropic's answers end with their `usage`, after everything generated, so the few hundred
//! bytes that follow it are all that must be parsed to reach it, however long the answer.
//!
//! A name found in the body is that top-level member only if what follows proves it: the name
//! is a string of its own (its quote is not escaped, so it is not text inside another string),
//! a colon and one whole JSON value follow it, then only further members of the same object and
//! the brace that closes it, with nothing after that. A name inside a nested object is followed
//! by that object's brace and then more, one inside a string is escaped: neither passes. When
//! no candidate passes (the member is absent, or the body is not what was expected), the
//! caller parses the whole body instead.

use memchr::memmem::FinderRev;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The value of the top-level member whose quoted name `name` finds (`"usage"`, quotes
/// included), read as a `T`, when the end of `body` shows it to be that member; `None` sends
/// the caller to a full parse.
pub(super) fn last_member<'a, T: Deserialize<'a>>(body: &'a [u8], name: &FinderRev<'_>) -> Option<T> {
    let after_name = name.needle().len();
    let mut end = body.len();
    // Candidates from the end, each tried in turn.
    while let Some(at) = name.rfind(&body[..end]) {
        end = at;
        if escaped(body, at) {
            continue;
        }
        let colon = skip_space(body, at + after_name);
        if body.get(colon) != Some(&b':') {
            continue;
        }
        let Some((value, after)) = value_at::<T>(body, colon + 1) else { continue };
        if closes_the_object(body, after) {
            return Some(value);
        }
    }
    None
}

/// Whether the quote at `at` is escaped: an odd run of backslashes before it.
fn escaped(body: &[u8], at: usize) -> bool {
    body[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
}

/// The index of the first byte from `at` that is not JSON whitespace.
fn skip_space(body: &[u8], at: usize) -> usize {
    at + body.get(at..).unwrap_or_default().iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count()
}

/// The one JSON value that starts at `at` (after any whitespace), read as a `T`, and where it
/// ends.
fn value_at<'a, T: Deserialize<'a>>(body: &'a [u8], at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_slice(body.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at + values.byte_offset()))
}

/// Whether from `at` there are only further members (`, "name": value`) of the object, its
/// closing brace, and whitespace to the end of the body.
fn closes_the_object(body: &[u8], mut at: usize) -> bool {
    loop {
        at = skip_space(body, at);
        match body.get(at) {
            Some(b'}') => return skip_space(body, at + 1) == body.len(),
            Some(b',') => {
                let name = skip_space(body, at + 1);
                if body.get(name) != Some(&b'"') {
                    return false;
                }
                let Some((IgnoredAny, after_name)) = value_at(body, name) else { return false };
                let colon = skip_space(body, after_name);
                if body.get(colon) != Some(&b':') {
                    return false;
                }
                let Some((IgnoredAny, after_value)) = value_at(body, colon + 1) else { return false };
                at = after_value;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
#[path = "tail_tests.rs"]
mod tests;
