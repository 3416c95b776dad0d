//! Reading a price file: its TOML shape and the validation `prices/README.md` requires.
//!
//! Each row is deserialized on its own so that every error names the row it came from; serde
//! refuses unknown fields, and the checks below refuse what serde cannot see (provenance, windows,
//! a TTL without its price, ...). Ids are trimmed and lower-cased here, once, as lookup expects.

use std::collections::BTreeMap;

use converra::Provider;
use time::{Date, OffsetDateTime, Time, format_description::well_known::Rfc3339, macros::format_description};

use crate::decimal::Dec;
use crate::raw::{RawCharge, RawFile, RawModel, RawPeakWindow, RawPrices, RawWhen, TypedFile};
use crate::table::{ChargePrice, ChargeRow, ClassPrices, LongContext, ModelRow, OffPeak, PeakWindow, Tier, Window};
use crate::{PriceError, RowKind, RowRef};

/// Which review rules apply: the shipped table's, or an operator file's (README, "Operator override
/// file": provenance may be shorter, rows may be `withdrawn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Shipped,
    Operator,
}

/// A parsed file before merging: its rows and, in an operator file, the keys it withdraws.
pub(crate) struct ParsedFile {
    pub(crate) edition: Option<String>,
    pub(crate) models: Vec<ModelRow>,
    pub(crate) charges: Vec<ChargeRow>,
    pub(crate) withdrawn_models: Vec<(RowRef, Provider, String)>,
    pub(crate) withdrawn_charges: Vec<(RowRef, Provider, String)>,
}

/// The keys a `withdrawn = true` row may carry: its key and why it was withdrawn.
const WITHDRAWN_KEYS: [&str; 10] =
    ["provider", "model", "name", "withdrawn", "source", "sources", "as_of", "as_of_kind", "confidence", "notes"];

pub(crate) fn parse_file(text: &str, mode: Mode) -> Result<ParsedFile, PriceError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| PriceError::Toml(e.to_string().trim_end().to_owned()))?;
    match (&raw.schema_version, mode) {
        (Some(toml::Value::Integer(1)), _) | (None, Mode::Operator) => {}
        (Some(v), _) => {
            let found = match v {
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::String(s) => format!("`{s}`"),
                other => format!("a {}", other.type_str()),
            };
            return Err(PriceError::SchemaVersion(found));
        }
        (None, Mode::Shipped) => return Err(PriceError::SchemaVersion("(missing)".into())),
    }
    let edition = match &raw.edition {
        None => None,
        Some(w) => {
            let text = w.text();
            parse_date(&text).map_err(|_| PriceError::Toml(format!("`edition` is not a date (found `{text}`)")))?;
            Some(text)
        }
    };
    let mut file = ParsedFile {
        edition,
        models: Vec::new(),
        charges: Vec::new(),
        withdrawn_models: Vec::new(),
        withdrawn_charges: Vec::new(),
    };
    for (i, value) in raw.model.into_iter().enumerate() {
        let row = row_ref(RowKind::Model, i + 1, &value, "model");
        if let Some(withdrawn) = withdrawn_key(&row, &value, mode)? {
            file.withdrawn_models.push(withdrawn);
            continue;
        }
        let raw: RawModel = value.try_into().map_err(|e| serde_error(&row, e, text))?;
        file.models.push(model_row(row, raw, mode)?);
    }
    for (i, value) in raw.charge.into_iter().enumerate() {
        let row = row_ref(RowKind::Charge, i + 1, &value, "name");
        if let Some(withdrawn) = withdrawn_key(&row, &value, mode)? {
            file.withdrawn_charges.push(withdrawn);
            continue;
        }
        let raw: RawCharge = value.try_into().map_err(|e| serde_error(&row, e, text))?;
        file.charges.push(charge_row(row, raw, mode)?);
    }
    Ok(file)
}

fn row_ref(kind: RowKind, index: usize, value: &toml::Value, key: &str) -> RowRef {
    let text = |k: &str| value.get(k).and_then(toml::Value::as_str).map(|s| s.trim().to_lowercase());
    RowRef { kind, index, provider: text("provider").unwrap_or("?".into()), key: text(key).unwrap_or("?".into()) }
}

/// A row's serde error (unknown field, wrong type), with the line it comes from.
fn serde_error(row: &RowRef, e: toml::de::Error, text: &str) -> PriceError {
    let message = e.message().trim_end();
    let located = toml::from_str::<TypedFile>(text).err().filter(|whole| whole.message().trim_end() == message);
    let problem = match located.and_then(|whole| whole.span()) {
        Some(span) => {
            let line = text[..span.start].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("{message} (line {line}: `{line_text}`)")
        }
        None => message.to_owned(),
    };
    PriceError::Row { row: row.clone(), problem }
}

fn field(row: &RowRef, field: &str, problem: impl Into<String>) -> PriceError {
    PriceError::Field { row: row.clone(), field: field.to_owned(), problem: problem.into() }
}

/// A `withdrawn = true` row's key, once it is known to carry nothing else.
fn withdrawn_key(
    row: &RowRef,
    value: &toml::Value,
    mode: Mode,
) -> Result<Option<(RowRef, Provider, String)>, PriceError> {
    let Some(flag) = value.get("withdrawn") else { return Ok(None) };
    if mode == Mode::Shipped {
        return Err(field(row, "withdrawn", "is for operator files only"));
    }
    if flag.as_bool() != Some(true) {
        return Err(field(row, "withdrawn", "can only be `true` (leave it out to price the row)"));
    }
    let other_kind_key = if row.kind == RowKind::Model { "name" } else { "model" };
    let mut keys = value.as_table().into_iter().flat_map(|t| t.keys());
    if let Some(extra) = keys.find(|k| !WITHDRAWN_KEYS.contains(&k.as_str()) || *k == other_kind_key) {
        return Err(PriceError::Row { row: row.clone(), problem: format!("a withdrawn row has no `{extra}`") });
    }
    let provider = provider(row, value.get("provider").and_then(toml::Value::as_str))?;
    let key_name = if row.kind == RowKind::Model { "model" } else { "name" };
    let key = id(row, key_name, value.get(key_name).and_then(toml::Value::as_str))?;
    Ok(Some((row.clone(), provider, key)))
}

fn provider(row: &RowRef, text: Option<&str>) -> Result<Provider, PriceError> {
    let text = text.ok_or_else(|| field(row, "provider", "is required"))?;
    text.trim().to_lowercase().parse().map_err(|_| {
        field(row, "provider", format!("is not one of openai, anthropic, gemini, deepseek (found `{text}`)"))
    })
}

/// A model id or charge name as lookup compares it: trimmed and lower-cased.
fn id(row: &RowRef, name: &str, text: Option<&str>) -> Result<String, PriceError> {
    let text = text.ok_or_else(|| field(row, name, "is required"))?.trim().to_lowercase();
    if text.is_empty() {
        return Err(field(row, name, "is empty"));
    }
    Ok(text)
}

fn price(row: &RowRef, name: &str, value: Option<f64>) -> Result<Option<Dec>, PriceError> {
    value.map(|v| Dec::from_f64(v).map_err(|p| field(row, name, p))).transpose()
}

fn parse_date(text: &str) -> Result<Date, time::error::Parse> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
}

/// `valid_from` / `valid_until`: a bare date is the whole UTC day, so `until` becomes the next
/// midnight (exclusive) and `from` that day's midnight; an RFC 3339 time is taken as it is.
fn when(row: &RowRef, name: &str, value: Option<&RawWhen>, end: bool) -> Result<Option<OffsetDateTime>, PriceError> {
    let Some(value) = value else { return Ok(None) };
    let text = value.text();
    if let Ok(date) = parse_date(&text) {
        let day = if end { date.next_day().unwrap_or(Date::MAX) } else { date };
        return Ok(Some(day.with_time(Time::MIDNIGHT).assume_utc()));
    }
    OffsetDateTime::parse(&text, &Rfc3339)
        .map(Some)
        .map_err(|_| field(row, name, format!("is neither a date (YYYY-MM-DD) nor an RFC 3339 time (found `{text}`)")))
}

fn window(row: &RowRef, from: Option<&RawWhen>, until: Option<&RawWhen>) -> Result<Window, PriceError> {
    let window = Window { from: when(row, "valid_from", from, false)?, until: when(row, "valid_until", until, true)? };
    if let (Some(f), Some(u), Some(ft), Some(ut)) = (window.from, window.until, from, until)
        && f >= u
    {
        return Err(PriceError::Row {
            row: row.clone(),
            problem: format!("`valid_from` {} is not before `valid_until` {}", ft.text(), ut.text()),
        });
    }
    Ok(window)
}

fn one_of(row: &RowRef, name: &str, value: Option<String>, allowed: &[&str]) -> Result<Option<String>, PriceError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => {
            Err(field(row, name, format!("is not one of {} (found `{v}`)", allowed.join(", "))))
        }
        v => Ok(v),
    }
}

/// The review rule: every shipped row says where its numbers come from and when; an operator row
/// needs a source and a date too, but not their kind and confidence (README, "Operator override file").
struct Provenance {
    source: Option<String>,
    sources: Vec<String>,
    as_of: Option<RawWhen>,
    as_of_kind: Option<String>,
    confidence: Option<String>,
}

fn provenance(row: &RowRef, p: Provenance, mode: Mode) -> Result<(String, Date, Option<String>), PriceError> {
    let source = p.source.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let source = source.ok_or_else(|| field(row, "source", "is required"))?;
    if p.sources.iter().any(|s| s.trim().is_empty()) {
        return Err(field(row, "sources", "has an empty entry"));
    }
    let as_of = p.as_of.ok_or_else(|| field(row, "as_of", "is required"))?.text();
    let as_of = parse_date(&as_of).map_err(|_| field(row, "as_of", format!("is not a date (found `{as_of}`)")))?;
    let as_of_kind = one_of(row, "as_of_kind", p.as_of_kind, &["source", "read"])?;
    let confidence = one_of(row, "confidence", p.confidence, &["official", "secondary"])?;
    if mode == Mode::Shipped {
        as_of_kind.ok_or_else(|| field(row, "as_of_kind", "is required"))?;
        confidence.as_ref().ok_or_else(|| field(row, "confidence", "is required"))?;
    }
    Ok((source, as_of, confidence))
}

/// A retention such as `5m`, `30m`, `1h`, `12h`: digits and a unit.
fn ttl(row: &RowRef, name: &str, value: Option<String>, price: &str, has_price: bool) -> Result<(), PriceError> {
    match (value, has_price) {
        (None, false) => Ok(()),
        (None, true) => Err(field(row, name, format!("is required with `{price}`"))),
        (Some(_), false) => Err(field(row, name, format!("is set without `{price}`"))),
        (Some(v), true) => {
            let (digits, unit) = v.split_at(v.len().saturating_sub(1));
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "m" | "h" | "d") {
                Ok(())
            } else {
                Err(field(row, name, format!("is not a retention like `5m` or `1h` (found `{v}`)")))
            }
        }
    }
}

/// The six class prices of a table whose fields are named `{prefix}{class}`.
fn class_prices(row: &RowRef, prefix: &str, raw: &RawPrices) -> Result<ClassPrices, PriceError> {
    let p = |name: &str, v| price(row, &format!("{prefix}{name}"), v);
    Ok(ClassPrices {
        input: p("input", raw.input)?,
        input_audio: p("input_audio", raw.input_audio)?,
        cache_read: p("cache_read", raw.cache_read)?,
        cache_write: p("cache_write", raw.cache_write)?,
        cache_write_extended: p("cache_write_extended", raw.cache_write_extended)?,
        output: p("output", raw.output)?,
    })
}

/// Refuses the keys of [`RawPrices`] that do not belong in the table named `name`.
fn check_extras(row: &RowRef, name: &str, raw: &RawPrices, allowed: &[&str]) -> Result<(), PriceError> {
    let present = [
        ("above_input_tokens", raw.above_input_tokens.is_some()),
        ("multiplier", raw.multiplier.is_some()),
        ("peak_windows_utc", raw.peak_windows_utc.is_some()),
    ];
    match present.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        Some((k, _)) => Err(field(row, &format!("{name}.{k}"), "is not a known field")),
        None => Ok(()),
    }
}

fn model_row(row: RowRef, raw: RawModel, mode: Mode) -> Result<ModelRow, PriceError> {
    let provider = provider(&row, raw.provider.as_deref())?;
    let model = id(&row, "model", raw.model.as_deref())?;
    let mut aliases: Vec<String> = Vec::new();
    for alias in &raw.aliases {
        let alias = id(&row, "aliases", Some(alias))?;
        if alias == model {
            return Err(field(&row, "aliases", format!("repeats the model id `{alias}`")));
        }
        if aliases.contains(&alias) {
            return Err(field(&row, "aliases", format!("lists `{alias}` twice")));
        }
        aliases.push(alias);
    }
    one_of(&row, "status", raw.status, &["current", "legacy", "deprecated"])?;
    let window = window(&row, raw.valid_from.as_ref(), raw.valid_until.as_ref())?;
    let base = RawPrices {
        above_input_tokens: None,
        multiplier: None,
        peak_windows_utc: None,
        input: raw.input,
        input_audio: raw.input_audio,
        cache_read: raw.cache_read,
        cache_write: raw.cache_write,
        cache_write_extended: raw.cache_write_extended,
        output: raw.output,
    };
    let prices = class_prices(&row, "", &base)?;
    prices.input.ok_or_else(|| field(&row, "input", "is required"))?;
    prices.output.ok_or_else(|| field(&row, "output", "is required"))?;
    ttl(&row, "cache_write_ttl", raw.cache_write_ttl, "cache_write", prices.cache_write.is_some())?;
    let has_extended = prices.cache_write_extended.is_some();
    ttl(&row, "cache_write_extended_ttl", raw.cache_write_extended_ttl, "cache_write_extended", has_extended)?;

    let long_context = match raw.long_context {
        None => None,
        Some(lc) => {
            check_extras(&row, "long_context", &lc, &["above_input_tokens"])?;
            let above = lc.above_input_tokens;
            let above = above.ok_or_else(|| field(&row, "long_context.above_input_tokens", "is required"))?;
            Some(LongContext { above_input_tokens: above, prices: class_prices(&row, "long_context.", &lc)? })
        }
    };
    let mut tiers = BTreeMap::new();
    for (name, tier) in raw.tiers {
        let key = format!("tiers.{name}");
        check_extras(&row, &key, &tier, &["multiplier"])?;
        let explicit = class_prices(&row, &format!("{key}."), &tier)?;
        let tier =
            match (price(&row, &format!("{key}.multiplier"), tier.multiplier)?, explicit == ClassPrices::default()) {
                (Some(m), true) if !m.is_zero() => Tier::Multiplier(m),
                (Some(_), true) => return Err(field(&row, &format!("{key}.multiplier"), "is zero")),
                (None, false) => Tier::Prices(Box::new(explicit)),
                (Some(_), false) => return Err(field(&row, &key, "has both a `multiplier` and prices")),
                (None, true) => return Err(field(&row, &key, "has neither a `multiplier` nor prices")),
            };
        tiers.insert(name.trim().to_lowercase(), tier);
    }
    let mut uplifts = BTreeMap::new();
    for (name, uplift) in raw.uplifts {
        let key = format!("uplifts.{name}.multiplier");
        let m = price(&row, &key, Some(uplift.multiplier))?.unwrap_or(Dec::ZERO);
        if m.is_zero() {
            return Err(field(&row, &key, "is zero"));
        }
        uplifts.insert(name.trim().to_lowercase(), m);
    }
    let off_peak = match raw.off_peak {
        None => None,
        Some(op) => {
            check_extras(&row, "off_peak", &op, &["peak_windows_utc"])?;
            let prices = class_prices(&row, "off_peak.", &op)?;
            let windows = op.peak_windows_utc.unwrap_or_default();
            if windows.is_empty() {
                return Err(field(&row, "off_peak.peak_windows_utc", "is required (at least one window)"));
            }
            let peak_windows = windows.iter().map(|w| peak_window(&row, w)).collect::<Result<_, _>>()?;
            Some(OffPeak { prices, peak_windows })
        }
    };
    let provenance_in = Provenance {
        source: raw.source,
        sources: raw.sources,
        as_of: raw.as_of,
        as_of_kind: raw.as_of_kind,
        confidence: raw.confidence,
    };
    let (source, as_of, confidence) = provenance(&row, provenance_in, mode)?;
    let mut ids = vec![model.clone()];
    ids.extend(aliases.iter().cloned());
    Ok(ModelRow {
        row,
        provider,
        model,
        aliases,
        ids,
        window,
        prices,
        long_context,
        unpriced_above_input_tokens: raw.unpriced_above_input_tokens,
        tiers,
        uplifts,
        off_peak,
        source,
        as_of,
        confidence,
    })
}

/// `{ days = "mon-fri" | "all", from = "HH:MM", to = "HH:MM" }`, `to` exclusive and after `from`.
fn peak_window(row: &RowRef, w: &RawPeakWindow) -> Result<PeakWindow, PriceError> {
    let name = "off_peak.peak_windows_utc";
    let weekdays_only = match w.days.as_str() {
        "mon-fri" => true,
        "all" => false,
        other => return Err(field(row, name, format!("`days` is not `mon-fri` or `all` (found `{other}`)"))),
    };
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    let (Some(from), Some(to)) = (minutes(&w.from), minutes(&w.to)) else {
        return Err(field(row, name, format!("`{}`-`{}` is not two HH:MM times", w.from, w.to)));
    };
    if from >= to {
        return Err(field(row, name, format!("`from` {} is not before `to` {}", w.from, w.to)));
    }
    Ok(PeakWindow { weekdays_only, from, to })
}

fn charge_row(row: RowRef, raw: RawCharge, mode: Mode) -> Result<ChargeRow, PriceError> {
    let provider = provider(&row, raw.provider.as_deref())?;
    let name = id(&row, "name", raw.name.as_deref())?;
    let applies_to = raw.applies_to.ok_or_else(|| field(&row, "applies_to", "is required"))?;
    if applies_to.is_empty() {
        return Err(field(&row, "applies_to", "is empty"));
    }
    let applies_to = applies_to
        .iter()
        .map(|p| {
            let p = p.trim().to_lowercase();
            if p.is_empty() || p.trim_end_matches('*').contains('*') {
                Err(field(&row, "applies_to", format!("`{p}` is not a model id, a prefix ending in `*` or `*`")))
            } else {
                Ok(p)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let unit = raw.unit.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    unit.ok_or_else(|| field(&row, "unit", "is required"))?;
    let prices = [
        ("usd_per_1k", price(&row, "usd_per_1k", raw.usd_per_1k)?),
        ("usd_per_1m_tokens", price(&row, "usd_per_1m_tokens", raw.usd_per_1m_tokens)?),
        ("usd_per_hour", price(&row, "usd_per_hour", raw.usd_per_hour)?),
    ];
    let set: Vec<_> = prices.iter().filter_map(|(k, p)| p.map(|p| (*k, p))).collect();
    let price = match set.as_slice() {
        [("usd_per_1k", p)] => ChargePrice::Per1k(*p),
        [("usd_per_1m_tokens", p)] => ChargePrice::Per1mTokens(*p),
        [_] => ChargePrice::PerHour,
        _ => {
            let found = set.iter().map(|(k, _)| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let found = if found.is_empty() { "none".to_owned() } else { found };
            return Err(PriceError::Row {
                row,
                problem: format!(
                    "needs exactly one of `usd_per_1k`, `usd_per_1m_tokens`, `usd_per_hour` (found {found})"
                ),
            });
        }
    };
    if let Some(allowance) = &raw.free_allowance {
        one_of(&row, "free_allowance.per", Some(allowance.per.clone()), &["day", "month"])?;
    }
    let window = window(&row, raw.valid_from.as_ref(), raw.valid_until.as_ref())?;
    let provenance_in = Provenance {
        source: raw.source,
        sources: raw.sources,
        as_of: raw.as_of,
        as_of_kind: raw.as_of_kind,
        confidence: raw.confidence,
    };
    provenance(&row, provenance_in, mode)?;
    Ok(ChargeRow { row, provider, name, applies_to, window, price })
}
