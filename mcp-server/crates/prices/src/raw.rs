//! The TOML shape of a price file, as serde reads it: every field the README lists, no other.
//!
//! All optional here, so that a missing field is reported by the checks in `parse.rs` with the
//! row's name rather than by serde without it.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) schema_version: Option<toml::Value>,
    pub(crate) edition: Option<RawWhen>,
    #[serde(default)]
    pub(crate) model: Vec<toml::Value>,
    #[serde(default)]
    pub(crate) charge: Vec<toml::Value>,
}

/// A date or time written as a string (`"2026-12-01"`, as the shipped file does) or as a TOML date.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawWhen {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawWhen {
    pub(crate) fn text(&self) -> String {
        match self {
            RawWhen::Text(s) => s.trim().to_owned(),
            RawWhen::Toml(d) => d.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub(crate) provider: Option<String>,
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    pub(crate) status: Option<String>,
    pub(crate) valid_from: Option<RawWhen>,
    pub(crate) valid_until: Option<RawWhen>,
    pub(crate) input: Option<f64>,
    pub(crate) output: Option<f64>,
    pub(crate) cache_read: Option<f64>,
    pub(crate) cache_write: Option<f64>,
    pub(crate) cache_write_ttl: Option<String>,
    pub(crate) cache_write_extended: Option<f64>,
    pub(crate) cache_write_extended_ttl: Option<String>,
    pub(crate) input_audio: Option<f64>,
    pub(crate) long_context: Option<RawPrices>,
    pub(crate) unpriced_above_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) tiers: BTreeMap<String, RawPrices>,
    #[serde(default)]
    pub(crate) uplifts: BTreeMap<String, RawUplift>,
    pub(crate) off_peak: Option<RawPrices>,
    pub(crate) source: Option<String>,
    #[serde(default)]
    pub(crate) sources: Vec<String>,
    pub(crate) as_of: Option<RawWhen>,
    pub(crate) as_of_kind: Option<String>,
    pub(crate) confidence: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "read for the reviewer, not for pricing")]
    pub(crate) notes: Option<String>,
}

/// The prices of a `long_context`, `tiers.*` or `off_peak` table. One struct for the three keeps
/// the class list in one place; the keys that belong to only one of them are refused by
// `parse::check_extras` where they do not belong.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrices {
    pub(crate) above_input_tokens: Option<u64>,
    pub(crate) multiplier: Option<f64>,
    pub(crate) peak_windows_utc: Option<Vec<RawPeakWindow>>,
    pub(crate) input: Option<f64>,
    pub(crate) input_audio: Option<f64>,
    pub(crate) cache_read: Option<f64>,
    pub(crate) cache_write: Option<f64>,
    pub(crate) cache_write_extended: Option<f64>,
    pub(crate) output: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUplift {
    pub(crate) multiplier: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeakWindow {
    pub(crate) days: String,
    pub(crate) from: String,
    pub(crate) to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCharge {
    pub(crate) provider: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) applies_to: Option<Vec<String>>,
    pub(crate) unit: Option<String>,
    pub(crate) usd_per_1k: Option<f64>,
    pub(crate) usd_per_1m_tokens: Option<f64>,
    pub(crate) usd_per_hour: Option<f64>,
    pub(crate) free_allowance: Option<RawAllowance>,
    pub(crate) valid_from: Option<RawWhen>,
    pub(crate) valid_until: Option<RawWhen>,
    pub(crate) source: Option<String>,
    #[serde(default)]
    pub(crate) sources: Vec<String>,
    pub(crate) as_of: Option<RawWhen>,
    pub(crate) as_of_kind: Option<String>,
    pub(crate) confidence: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "read for the reviewer, not for pricing")]
    pub(crate) notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAllowance {
    #[expect(dead_code, reason = "reported by a later change; Converra charges every unit")]
    pub(crate) count: u64,
    pub(crate) per: String,
    #[expect(dead_code, reason = "reported by a later change; Converra charges every unit")]
    pub(crate) scope: Option<String>,
}

/// The same document with typed rows, read only to locate a row's serde error: deserializing a
/// row on its own names the row but not the key, the whole document gives the key's line.
#[derive(Deserialize)]
pub(crate) struct TypedFile {
    #[serde(rename = "model", default)]
    pub(crate) _model: Vec<RawModel>,
    #[serde(rename = "charge", default)]
    pub(crate) _charge: Vec<RawCharge>,
    #[serde(flatten)]
    pub(crate) _rest: toml::Table,
}
