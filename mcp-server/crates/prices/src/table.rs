//! The price table and its rows as pricing uses them: validated, ids lower-cased, dates as instants.

use std::collections::BTreeMap;

use converra::Provider;
use time::{Date, OffsetDateTime};

use crate::decimal::Dec;
use crate::lookup::Index;
use crate::parse::{Mode, parse_file};
use crate::{PriceError, RowRef};

/// The table compiled into the binary: the reviewed `prices/prices.toml`.
const SHIPPED: &str = include_str!("../../../../prices/prices.toml");

/// A parsed, validated price table: the shipped rows, possibly with an operator's rows merged in.
#[derive(Debug, Clone)]
pub struct PriceTable {
    pub(crate) edition: Option<String>,
    pub(crate) models: Vec<ModelRow>,
    pub(crate) charges: Vec<ChargeRow>,
    pub(crate) index: Index,
}

impl PriceTable {
    /// The shipped table. It cannot fail at run time: a unit test parses the same text.
    pub fn shipped() -> PriceTable {
        PriceTable::parse(SHIPPED).expect("prices/prices.toml is valid (a unit test checks it)")
    }

    /// Parses a complete table in the shipped file's shape, with the shipped review rules:
    /// `schema_version` and every row's `source`, `as_of`, `as_of_kind` and `confidence` required,
    /// no `withdrawn` rows.
    pub fn parse(text: &str) -> Result<PriceTable, PriceError> {
        let file = parse_file(text, Mode::Shipped)?;
        PriceTable::build(file.edition, file.models, file.charges)
    }

    /// The date of the table's last full review (`edition`).
    pub fn edition(&self) -> Option<&str> {
        self.edition.as_deref()
    }

    pub(crate) fn build(
        edition: Option<String>,
        models: Vec<ModelRow>,
        charges: Vec<ChargeRow>,
    ) -> Result<PriceTable, PriceError> {
        let index = Index::build(&models)?;
        check_charge_windows(&charges)?;
        Ok(PriceTable { edition, models, charges, index })
    }
}

/// `[from, until)`; a bare `valid_until` date has already been turned into the next midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) from: Option<OffsetDateTime>,
    pub(crate) until: Option<OffsetDateTime>,
}

impl Window {
    pub(crate) fn contains(&self, at: OffsetDateTime) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }

    pub(crate) fn overlaps(&self, other: &Window) -> bool {
        let starts_before_other_ends = match (self.from, other.until) {
            (Some(f), Some(u)) => f < u,
            _ => true,
        };
        let other_starts_before_end = match (other.from, self.until) {
            (Some(f), Some(u)) => f < u,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_end
    }
}

/// Prices per token class, USD per 1M tokens (= micro-USD per token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClassPrices {
    pub(crate) input: Option<Dec>,
    pub(crate) input_audio: Option<Dec>,
    pub(crate) cache_read: Option<Dec>,
    pub(crate) cache_write: Option<Dec>,
    pub(crate) cache_write_extended: Option<Dec>,
    pub(crate) output: Option<Dec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tier {
    Multiplier(Dec),
    /// Boxed: six optional prices are nine times the size of a multiplier.
    Prices(Box<ClassPrices>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LongContext {
    pub(crate) above_input_tokens: u64,
    pub(crate) prices: ClassPrices,
}

/// A peak window in minutes of the UTC day, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeakWindow {
    pub(crate) weekdays_only: bool,
    pub(crate) from: u16,
    pub(crate) to: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffPeak {
    pub(crate) prices: ClassPrices,
    pub(crate) peak_windows: Vec<PeakWindow>,
}

/// One `[[model]]` row: one model's prices over one validity window.
#[derive(Debug, Clone)]
pub(crate) struct ModelRow {
    pub(crate) row: RowRef,
    pub(crate) provider: Provider,
    pub(crate) model: String,
    pub(crate) aliases: Vec<String>,
    /// The ids lookup finds this row by: `model` and `aliases`, less any an operator row took over.
    pub(crate) ids: Vec<String>,
    pub(crate) window: Window,
    pub(crate) prices: ClassPrices,
    pub(crate) long_context: Option<LongContext>,
    pub(crate) unpriced_above_input_tokens: Option<u64>,
    pub(crate) tiers: BTreeMap<String, Tier>,
    pub(crate) uplifts: BTreeMap<String, Dec>,
    pub(crate) off_peak: Option<OffPeak>,
    pub(crate) source: String,
    pub(crate) as_of: Date,
    pub(crate) confidence: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChargePrice {
    Per1k(Dec),
    Per1mTokens(Dec),
    PerHour,
}

/// One `[[charge]]` row.
#[derive(Debug, Clone)]
pub(crate) struct ChargeRow {
    pub(crate) row: RowRef,
    pub(crate) provider: Provider,
    pub(crate) name: String,
    pub(crate) applies_to: Vec<String>,
    pub(crate) window: Window,
    pub(crate) price: ChargePrice,
}

/// Two rows of one charge in force at the same time would make its price depend on row order.
fn check_charge_windows(charges: &[ChargeRow]) -> Result<(), PriceError> {
    for (i, later) in charges.iter().enumerate() {
        let clash = charges[..i]
            .iter()
            .find(|c| c.provider == later.provider && c.name == later.name && c.window.overlaps(&later.window));
        if let Some(earlier) = clash {
            return Err(PriceError::Row {
                row: later.row.clone(),
                problem: format!("validity window overlaps {}", earlier.row),
            });
        }
    }
    Ok(())
}
