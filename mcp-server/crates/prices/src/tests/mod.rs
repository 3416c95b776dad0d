//! Unit tests of the price table: the shipped file, costs checked by hand, overrides, validation.

mod cost;
mod overrides;
mod rules;
mod shipped;
mod validation;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::{Call, Cost, PriceTable, Provider};

/// Mid-morning on a Sunday: in force for every current shipped row, off-peak for DeepSeek.
pub(super) const SUNDAY: OffsetDateTime = datetime!(2026-12-06 10:30 UTC);

pub(super) fn shipped() -> PriceTable {
    PriceTable::shipped()
}

pub(super) fn micro(table: &PriceTable, call: &Call<'_>) -> u64 {
    match table.cost(call) {
        Cost::Priced(m) => m,
        Cost::Unpriced(why) => panic!("{} {} unpriced: {why}", call.provider, call.model),
    }
}

pub(super) fn call(provider: Provider, model: &str) -> Call<'_> {
    Call::new(provider, model, SUNDAY)
}

/// A minimal valid table around one `[[model]]` body, for tests of parsing and pricing rules.
pub(super) fn table_with(rows: &str) -> Result<PriceTable, crate::PriceError> {
    PriceTable::parse(&format!("schema_version = 1\nedition = \"2026-12-06\"\n{rows}"))
}

/// The provenance every shipped row needs.
pub(super) const PROV: &str =
    "source = \"https://example.com\"\nas_of = \"2026-12-06\"\nas_of_kind = \"read\"\nconfidence = \"official\"\n";
