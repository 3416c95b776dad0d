//! Object ids and timestamps.

use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

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

/// The first and last instants RFC 3339 can write in UTC (its year has four digits).
const FIRST: OffsetDateTime = datetime!(0000-01-01 0:00 UTC);
const LAST: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

/// `t` in the one form every stored time has: RFC 3339 in UTC, whole seconds
/// (`2026-12-08T01:28:38Z`), whatever offset it was given in. One fixed-width form, so that the
/// store's SQL, which compares these as text, compares instants: kept as written,
/// `2026-12-08T01:28:38-23:00` (a day later than `2026-12-08T12:00:00Z`) would sort before it.
/// An instant past the end of year 9999 in UTC (only a far offset reaches one) is written as
/// that end.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.clamp(FIRST, LAST).to_offset(UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// An RFC 3339 time in the stored form ([`format_time`]); `None` if `s` is not one.
pub fn utc_time(s: &str) -> Option<String> {
    parse_time(s).map(format_time)
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
    month_of(OffsetDateTime::now_utc())
}

/// `at`'s month, `YYYY-MM` (written out by hand: every budgeted call asks).
pub fn month_of(at: OffsetDateTime) -> String {
    let (year, month) = (at.year().clamp(0, 9999) as u32, u8::from(at.month()) as u32);
    let digits = [year / 1000, year / 100 % 10, year / 10 % 10, year % 10, 10, month / 10, month % 10];
    digits.iter().map(|d| if *d == 10 { '-' } else { char::from(b'0' + *d as u8) }).collect()
}

/// Whether `id` has the shape [`new_id`] gives it: `prefix_` and 32 lowercase hex digits.
pub fn well_formed(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `id` when it is well formed, else exactly what an unknown id of that kind gets (`kind` not
/// found). Checked before any lookup: a malformed id costs no database read and no cache entry.
pub fn shaped<'a>(prefix: &str, kind: &'static str, id: &'a str) -> crate::Result<&'a str> {
    if well_formed(prefix, id) { Ok(id) } else { Err(crate::Error::NotFound(kind)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_four_digits_a_dash_and_two() {
        let at = |y, m| OffsetDateTime::new_utc(time::Date::from_calendar_date(y, m, 6).unwrap(), time::Time::MIDNIGHT);
        assert_eq!(month_of(at(2026, time::Month::December)), "2026-12");
        assert_eq!(month_of(at(987, time::Month::March)), "0987-03");
    }

    #[test]
    fn every_formatted_time_is_utc_whole_seconds_so_text_order_is_time_order() {
        assert_eq!(utc_time("2026-12-08T01:28:38-23:00").as_deref(), Some("2026-12-09T00:28:38Z"));
        assert_eq!(utc_time("2026-12-08T15:00:00.75+14:00").as_deref(), Some("2026-12-08T01:00:00Z"));
        assert_eq!(utc_time("2026-12-08t01:28:38z").as_deref(), Some("2026-12-08T01:28:38Z"));
        assert_eq!(utc_time("9999-12-31T23:00:00-23:00").as_deref(), Some("9999-12-31T23:59:59Z"), "clamped");
        assert_eq!(utc_time("0000-01-01T01:00:00+14:00").as_deref(), Some("0000-01-01T00:00:00Z"), "clamped");
        assert_eq!(utc_time("tomorrow"), None);
        // The far-west time is a day after this one, and its stored text sorts after it too.
        assert!(utc_time("2026-12-08T01:28:38-23:00").unwrap() > utc_time("2026-12-08T12:00:00Z").unwrap());
        assert!(now().ends_with('Z') && now().len() == 20, "{}", now());
    }
}
