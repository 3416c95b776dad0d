//! Pricing rules of the README that no shipped row exercises, on small tables of their own.

use time::macros::datetime;

use super::{PROV, SUNDAY, micro, table_with};
use crate::{Bound, Call, Cost, Provider, TokenClass, Unpriced};

fn model(id: &str, extra: &str, tables: &str) -> String {
    format!(
        "[[model]]\nprovider = \"deepseek\"\nmodel = \"{id}\"\ninput = 1.0\noutput = 2.0\n{PROV}{extra}\n{tables}\n"
    )
}

fn call(id: &str) -> Call<'_> {
    Call::new(Provider::Deepseek, id, SUNDAY)
}

#[test]
fn a_tier_with_explicit_prices_does_not_cover_a_long_prompt() {
    let table = table_with(&model(
        "m",
        "long_context = { above_input_tokens = 100, input = 2.0, output = 4.0 }",
        "[model.tiers.priority]\ninput = 3.0\noutput = 6.0",
    ))
    .unwrap();
    let c = |input| Call { input_tokens: input, output_tokens: 10, service_tier: Some("priority"), ..call("m") };
    // 100 × 3.0 + 10 × 6.0
    assert_eq!(micro(&table, &c(100)), 360);
    assert_eq!(table.cost(&c(101)), Cost::Unpriced(Unpriced::TierLongContext { tier: "priority".into() }));
}

#[test]
fn off_peak_replaces_only_the_prices_it_lists() {
    let table = table_with(&model(
        "m",
        "cache_read = 0.5",
        "[model.off_peak]\ninput = 0.25\npeak_windows_utc = [{ days = \"all\", from = \"08:00\", to = \"20:00\" }]",
    ))
    .unwrap();
    let c = |at| Call { at, input_tokens: 1_000, cache_read_tokens: 200, output_tokens: 100, ..call("m") };
    // Peak (a Sunday counts with days = "all"): 800 × 1.0 + 200 × 0.5 + 100 × 2.0.
    assert_eq!(micro(&table, &c(SUNDAY)), 1_100);
    // Off-peak: 800 × 0.25 + 200 × 0.5 + 100 × 2.0; cache reads and output stay at the row's price.
    assert_eq!(micro(&table, &c(datetime!(2026-12-06 20:00 UTC))), 500);
}

#[test]
fn charges_apply_by_id_alias_or_prefix_and_hourly_ones_are_not_per_unit() {
    let charge = |name: &str, applies: &str, price: &str| {
        format!(
            "[[charge]]\nprovider = \"deepseek\"\nname = \"{name}\"\napplies_to = [{applies}]\nunit = \"call\"\n{price}\n{PROV}"
        )
    };
    let rows = [
        model("m", "aliases = [\"m-2026\"]", ""),
        model("other", "", ""),
        charge("by_alias", "\"m-2026\"", "usd_per_1k = 1.0"),
        charge("by_prefix", "\"m*\"", "usd_per_1k = 2.0"),
        charge("container", "\"*\"", "usd_per_hour = 0.05"),
    ];
    let table = table_with(&rows.concat()).unwrap();
    let by_alias = [("by_alias", 1)];
    assert_eq!(micro(&table, &Call { charges: &by_alias, ..call("m") }), 1_000);
    assert!(table.cost(&Call { charges: &by_alias, ..call("other") }).micro_usd().is_none());
    let by_prefix = [("By_Prefix", 3)];
    assert_eq!(micro(&table, &Call { charges: &by_prefix, ..call("m-2026") }), 6_000);
    let hourly = [("container", 1)];
    assert_eq!(
        table.cost(&Call { charges: &hourly, ..call("m") }),
        Cost::Unpriced(Unpriced::HourlyCharge { name: "container".into() })
    );
    let bound = Bound { charges: &[("container", Some(1))], ..Bound::new(Provider::Deepseek, "m", SUNDAY, 0, 0) };
    assert_eq!(table.max_cost(&bound), Err(Unpriced::HourlyCharge { name: "container".into() }));
}

#[test]
fn long_context_audio_needs_its_own_price_when_the_row_has_one() {
    let table = table_with(&model(
        "m",
        "input_audio = 3.0\nlong_context = { above_input_tokens = 100, input = 2.0, output = 4.0 }",
        "",
    ))
    .unwrap();
    let c = |input| Call { input_tokens: input, audio_input_tokens: 10, ..call("m") };
    // 90 × 1.0 + 10 × 3.0
    assert_eq!(micro(&table, &c(100)), 120);
    assert_eq!(
        table.cost(&c(101)),
        Cost::Unpriced(Unpriced::NoClassPrice { class: TokenClass::InputAudio, band: "long-context " })
    );
}

#[test]
fn unpriced_reasons_read_well() {
    let table = table_with(&model("m", "valid_until = \"2026-11-30\"", "")).unwrap();
    let why = table.cost(&call("m")).unpriced().unwrap().to_string();
    assert_eq!(why, "no price in force for deepseek model `m` at 2026-12-06T10:30:00Z");
    assert_eq!(table.cost(&call("n")).unpriced().unwrap().to_string(), "no price for deepseek model `n`");
}
