//! Object ids and timestamps.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A new id like `pk_0193c1e0b2a87d3e9f...`: a readable kind prefix and a time-ordered UUIDv7.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Lower-case hex of `bytes` (stored token hashes, webhook signatures).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Now, as RFC 3339 UTC with second precision (what every `*_at` field holds).
pub fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Now, as seconds since the Unix epoch (rate-limit resets, OpenAI's `created`).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Today, `YYYY-MM-DD` in UTC (a usage roll-up's day).
pub fn current_day() -> String {
    let today = OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day())
}

/// The current allowance period, `YYYY-MM` in UTC.
pub fn current_month() -> String {
    let now = OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

/// Whether `id` has the shape [`new_id`] gives it: `prefix_` and 32 lowercase hex digits.
pub fn well_formed(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `id` when it is well formed, else exactly what an unknown id of that kind gets (`kind` not
/// found). Checked before any lookup: a malformed id costs no database read and no cache entry.
pub fn shaped<'a>(prefix: &str, kind: &'static str, id: &'a str) -> crate::core::Result<&'a str> {
    if well_formed(prefix, id) { Ok(id) } else { Err(crate::core::Error::NotFound(kind)) }
}
