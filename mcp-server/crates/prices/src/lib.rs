//! Converra's price table: what a completion costs in micro-dollars, and what a budget reserves before it.
//!
//! The table is `prices/prices.toml`, specified by `prices/README.md`; this crate compiles it in
//! ([`PriceTable::shipped`]), merges the operator's `CONVERRA_PRICES_FILE` over it
//! ([`PriceTable::with_overrides`], the caller reads the file) and prices calls ([`PriceTable::cost`],
//! [`PriceTable::max_cost`]). No I/O, no async: everything it needs is handed in.
//!
//! A call without a price is never 0: [`Cost::Unpriced`] says why, so that a budget can refuse a
//! call it cannot bound and a report can show `null` with `cost_known: false`.

mod cost;
mod decimal;
mod lookup;
mod overrides;
mod parse;
mod raw;
mod table;

#[cfg(test)]
mod tests;

use std::fmt;

pub use converra::Provider;
pub use lookup::{ModelEntry, PricedModel};
pub use table::PriceTable;
use time::OffsetDateTime;

/// A price table that cannot be used. Converra refuses to start on one rather than price with half
/// of it, so each message names the row (its kind, 1-based position in its file, provider and id)
/// and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The text is not TOML, or its top level has the wrong shape.
    #[error("not a valid price table: {0}")]
    Toml(String),
    /// `schema_version` is missing from the shipped table, or names a shape this build cannot read.
    #[error("schema_version {0} is not supported (this build reads 1)")]
    SchemaVersion(String),
    /// One field of one row is wrong.
    #[error("{row}: `{field}` {problem}")]
    Field { row: RowRef, field: String, problem: String },
    /// A row is wrong as a whole, or conflicts with another row.
    #[error("{row}: {problem}")]
    Row { row: RowRef, problem: String },
}

/// Which table a row was read from: `[[model]]` or `[[charge]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Model,
    Charge,
}

/// Names a row in error messages: `[[model]] #3 (openai gpt-5)`, the position counting that kind's
/// rows from 1 in file order, so that it can be found in the file without line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    pub kind: RowKind,
    pub index: usize,
    pub provider: String,
    /// The model id of a `[[model]]`, the name of a `[[charge]]`.
    pub key: String,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            RowKind::Model => "[[model]]",
            RowKind::Charge => "[[charge]]",
        };
        write!(f, "{kind} #{} ({} {})", self.index, self.provider, self.key)
    }
}

/// The token classes a call's usage is sorted into; they are disjoint, so each token is priced once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    Input,
    InputAudio,
    CacheRead,
    CacheWrite,
    CacheWriteExtended,
    Output,
}

impl TokenClass {
    /// The class's field name in the price file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::InputAudio => "input_audio",
            Self::CacheRead => "cache_read",
            Self::CacheWrite => "cache_write",
            Self::CacheWriteExtended => "cache_write_extended",
            Self::Output => "output",
        }
    }
}

impl fmt::Display for TokenClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call has no cost. The message is what a budget refusal or `converra prices check` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unpriced {
    /// No row lists this id (dated snapshots are priced only when listed: never guessed).
    #[error("no price for {provider} model `{model}`")]
    UnknownModel { provider: Provider, model: String },
    /// The id is listed, but no row of it is in force at the call's start.
    #[error("no price in force for {provider} model `{model}` at {}", rfc3339(*at))]
    NotInForce { provider: Provider, model: String, at: OffsetDateTime },
    /// The prompt is above the size up to which the row's prices were verified.
    #[error("a prompt of {prompt_tokens} tokens is above the {limit} tokens this model's price covers")]
    AboveVerifiedContext { prompt_tokens: u64, limit: u64 },
    /// The call has tokens of a class the row (or its long-context or tier prices) does not price.
    #[error("no {band}price for {class} tokens")]
    NoClassPrice { class: TokenClass, band: &'static str },
    /// The call ran on a service tier the row does not list.
    #[error("no price for the `{tier}` service tier")]
    UnknownTier { tier: String },
    /// A tier with explicit prices covers short prompts only.
    #[error("the `{tier}` service tier has no long-context price")]
    TierLongContext { tier: String },
    /// The call incurred a surcharge (data residency, ...) the row does not list.
    #[error("no price for the `{uplift}` surcharge")]
    UnknownUplift { uplift: String },
    /// A non-token charge with no row in force for this model.
    #[error("no price for the `{name}` charge on this model")]
    UnknownCharge { name: String },
    /// A charge billed per hour: units of a call cannot price it.
    #[error("the `{name}` charge is billed per hour, not per unit")]
    HourlyCharge { name: String },
    /// A charge whose number of units the call does not cap, so no bound exists before the call.
    #[error("the `{name}` charge has no cap on its units")]
    UnboundedCharge { name: String },
    /// Cached, cache-write and audio tokens add up to more than the prompt.
    #[error("usage is inconsistent: cache and audio tokens exceed the prompt's {input_tokens}")]
    InconsistentUsage { input_tokens: u64 },
    /// The cost does not fit the arithmetic (absurd token counts).
    #[error("the cost is too large to compute")]
    Overflow,
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// One completion's usage, as the gateway normalized it from the provider's answer. The token
/// counts are the provider-independent ones `prices/README.md` ("How a call is priced") defines.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub provider: Provider,
    /// The model id the provider reported in its answer.
    pub model: &'a str,
    /// The id the request asked for: tried when `model` has no price in force.
    pub requested_model: Option<&'a str>,
    /// When the request started: picks the row's validity window and the off-peak price.
    pub at: OffsetDateTime,
    /// The whole prompt, cached, cache-written and audio tokens included: also the size that
    /// decides long-context pricing.
    pub input_tokens: u64,
    /// Output tokens, reasoning/thinking included.
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    /// Cache writes at the default (shortest) retention.
    pub cache_write_tokens: u64,
    /// Cache writes at the extended retention (Anthropic 1 h, OpenAI 12 h).
    pub cache_write_extended_tokens: u64,
    /// Uncached audio prompt tokens (part of `input_tokens`).
    pub audio_input_tokens: u64,
    /// The service tier the call ran on; `None`, `default` and `standard` are the default tier.
    pub service_tier: Option<&'a str>,
    /// Surcharges the call incurred, by name (`data_residency`, `inference_geo_us`).
    pub uplifts: &'a [&'a str],
    /// Non-token charges, by name, with their billable units (searches, fetches, tokens).
    pub charges: &'a [(&'a str, u64)],
}

impl<'a> Call<'a> {
    /// A call with no usage yet: set the counts with struct update syntax.
    pub fn new(provider: Provider, model: &'a str, at: OffsetDateTime) -> Self {
        Call {
            provider,
            model,
            requested_model: None,
            at,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cache_write_extended_tokens: 0,
            audio_input_tokens: 0,
            service_tier: None,
            uplifts: &[],
            charges: &[],
        }
    }
}

/// What a budget needs to know before a call to reserve its largest possible cost.
#[derive(Debug, Clone)]
pub struct Bound<'a> {
    pub provider: Provider,
    pub model: &'a str,
    pub at: OffsetDateTime,
    /// The prompt's size, every token assumed uncached.
    pub prompt_tokens: u64,
    /// The request's output cap, or the model's maximum output when it gives none.
    pub max_output_tokens: u64,
    pub service_tier: Option<&'a str>,
    pub uplifts: &'a [&'a str],
    /// Charges the request may incur, with the cap on their units; `None` is uncapped (hosted
    /// search without `max_uses`), which makes the call unbounded.
    pub charges: &'a [(&'a str, Option<u64>)],
}

impl<'a> Bound<'a> {
    /// A bound for a plain call on the default tier with no surcharges or charges.
    pub fn new(
        provider: Provider,
        model: &'a str,
        at: OffsetDateTime,
        prompt_tokens: u64,
        max_output_tokens: u64,
    ) -> Self {
        Bound { provider, model, at, prompt_tokens, max_output_tokens, service_tier: None, uplifts: &[], charges: &[] }
    }
}

/// The cost of one call: micro-USD (integer, rounded once, half up), or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cost {
    Priced(u64),
    Unpriced(Unpriced),
}

impl Cost {
    /// The cost in micro-USD; `None` (stored as `null`, `cost_known: false`) when unpriced, never 0.
    pub fn micro_usd(&self) -> Option<u64> {
        match self {
            Cost::Priced(m) => Some(*m),
            Cost::Unpriced(_) => None,
        }
    }

    /// Why the call has no cost.
    pub fn unpriced(&self) -> Option<&Unpriced> {
        match self {
            Cost::Priced(_) => None,
            Cost::Unpriced(u) => Some(u),
        }
    }
}
