//! Costs of real shipped rows, checked by hand against the row's numbers (USD per 1M tokens =
//! micro-USD per token, so each line of arithmetic is tokens × price in micro-USD).

use time::macros::datetime;

use super::{SUNDAY, call, micro, shipped};
use crate::{Bound, Call, Cost, Provider, TokenClass, Unpriced};

#[test]
fn openai_gpt_6_1_terra_cache_reads_and_writes_are_taken_out_of_input() {
    // input 1.00, cache_read 0.05, cache_write 1.25 (30m), output 5.00.
    let c = Call {
        input_tokens: 10_000,
        cache_read_tokens: 4_000,
        cache_write_tokens: 2_000,
        output_tokens: 1_500, // reasoning included
        ..call(Provider::Openai, "gpt-6.1-terra")
    };
    // (10000 - 4000 - 2000) × 1.00 + 4000 × 0.05 + 2000 × 1.25 + 1500 × 5.00
    // = 4000 + 200 + 2500 + 7500 = 14200
    assert_eq!(micro(&shipped(), &c), 14_200);
}

#[test]
fn anthropic_claude_opus_5_5_prices_both_cache_write_retentions() {
    // input 4.00, cache_read 0.20, cache_write 5.00 (5m), cache_write_extended 8.00 (1h), output 20.00.
    // Anthropic reports input_tokens 1000 without the cache: the prompt is 1000 + 50000 + 3000 + 2000.
    let c = Call {
        input_tokens: 56_000,
        cache_read_tokens: 50_000,
        cache_write_tokens: 3_000,
        cache_write_extended_tokens: 2_000,
        output_tokens: 800,
        ..call(Provider::Anthropic, "claude-opus-5-5")
    };
    // 1000 × 4 + 50000 × 0.20 + 3000 × 5 + 2000 × 8 + 800 × 20 = 4000 + 10000 + 15000 + 16000 + 16000
    assert_eq!(micro(&shipped(), &c), 61_000);
}

#[test]
fn gemini_2_5_flash_prices_audio_apart_and_thoughts_as_output() {
    // input 0.30, input_audio 1.00, cache_read 0.03, output 2.50.
    // promptTokenCount 20000 of which cached 8000 and uncached audio 2000; candidates 1000 + thoughts 3000.
    let c = Call {
        input_tokens: 20_000,
        cache_read_tokens: 8_000,
        audio_input_tokens: 2_000,
        output_tokens: 4_000,
        ..call(Provider::Gemini, "gemini-2.5-flash")
    };
    // 10000 × 0.30 + 2000 × 1.00 + 8000 × 0.03 + 4000 × 2.50 = 3000 + 2000 + 240 + 10000
    assert_eq!(micro(&shipped(), &c), 15_240);
    // A row without input_audio prices audio at input: gemini-2.5-flash-lite, input 0.10, output 0.40.
    let lite =
        Call { input_tokens: 1_000, audio_input_tokens: 1_000, ..call(Provider::Gemini, "gemini-2.5-flash-lite") };
    assert_eq!(micro(&shipped(), &lite), 100);
}

#[test]
fn deepseek_v4_pro_peak_and_off_peak() {
    // Peak 1.32 / cache hit 0.044 / output 3.96; off-peak 0.66 / 0.022 / 1.98.
    // Peak windows mon-fri 01:00-04:00 and 06:00-10:00 UTC, `to` exclusive.
    let at = |at| Call {
        at,
        input_tokens: 100_000,
        cache_read_tokens: 60_000,
        output_tokens: 5_000,
        ..call(Provider::Deepseek, "deepseek-v4-pro")
    };
    // 40000 × 1.32 + 60000 × 0.044 + 5000 × 3.96 = 52800 + 2640 + 19800
    let peak = 75_240;
    // 40000 × 0.66 + 60000 × 0.022 + 5000 × 1.98 = 26400 + 1320 + 9900
    let off = 37_620;
    let table = shipped();
    let cost = |t| micro(&table, &at(t));
    assert_eq!(cost(datetime!(2026-12-07 02:00 UTC)), peak, "Monday 02:00");
    assert_eq!(cost(datetime!(2026-12-07 09:59:59 UTC)), peak, "Monday 09:59:59");
    assert_eq!(cost(datetime!(2026-12-07 10:00 UTC)), off, "Monday 10:00: `to` is exclusive");
    assert_eq!(cost(datetime!(2026-12-07 04:00 UTC)), off, "Monday 04:00");
    assert_eq!(cost(datetime!(2026-12-07 06:00 UTC)), peak, "Monday 06:00");
    assert_eq!(cost(datetime!(2026-12-07 00:59 UTC)), off, "Monday 00:59");
    assert_eq!(cost(SUNDAY), off, "Sunday 10:30");
    // 02:00 UTC Monday written in Beijing time is still a peak hour.
    assert_eq!(cost(datetime!(2026-12-07 10:00 +8)), peak, "Monday 02:00 UTC as +08:00");
}

#[test]
fn inconsistent_usage_is_unpriced_not_clamped() {
    let c = Call {
        input_tokens: 100,
        cache_read_tokens: 80,
        cache_write_tokens: 30,
        ..call(Provider::Openai, "gpt-6.1-terra")
    };
    assert_eq!(shipped().cost(&c), Cost::Unpriced(Unpriced::InconsistentUsage { input_tokens: 100 }));
}

#[test]
fn a_class_the_row_does_not_price_makes_the_call_unpriced() {
    // gpt-4.1-mini has no cached-input price; claude-mythos-5-2 no cache-write price.
    let cached = Call { input_tokens: 1_000, cache_read_tokens: 1, ..call(Provider::Openai, "gpt-4.1-mini") };
    let c = shipped().cost(&cached);
    assert_eq!(c, Cost::Unpriced(Unpriced::NoClassPrice { class: TokenClass::CacheRead, band: "" }));
    assert_eq!(c.micro_usd(), None);
    assert_eq!(c.unpriced().unwrap().to_string(), "no price for cache_read tokens");
    let written =
        Call { input_tokens: 1_000, cache_write_tokens: 10, ..call(Provider::Anthropic, "claude-mythos-5-2") };
    assert!(shipped().cost(&written).micro_usd().is_none());
    // With no such tokens the same rows are priced: 1000 × 0.40 = 400.
    assert_eq!(micro(&shipped(), &Call { input_tokens: 1_000, ..call(Provider::Openai, "gpt-4.1-mini") }), 400);
}

#[test]
fn long_context_prices_the_whole_call_strictly_above_the_threshold() {
    let table = shipped();
    // gpt-6.1-terra: above 272000 prompt tokens, input 2.00, cache_read 0.10, output 7.50.
    let c = |input| Call { input_tokens: input, output_tokens: 1_000, ..call(Provider::Openai, "gpt-6.1-terra") };
    // 272000 × 1.00 + 1000 × 5.00
    assert_eq!(micro(&table, &c(272_000)), 277_000);
    // 272001 × 2.00 + 1000 × 7.50
    assert_eq!(micro(&table, &c(272_001)), 551_502);
    // 72001 × 2.00 + 200000 × 0.10 + 1000 × 7.50 = 144002 + 20000 + 7500
    assert_eq!(micro(&table, &Call { cache_read_tokens: 200_000, ..c(272_001) }), 171_502);

    // claude-haiku-5-5: the prompt counts cache reads (10000 + 95000 > 100000), so every class is
    // at the higher band: 10000 × 0.50 + 95000 × 0.05 + 1000 × 2.50 = 5000 + 4750 + 2500.
    let haiku = Call {
        input_tokens: 105_000,
        cache_read_tokens: 95_000,
        output_tokens: 1_000,
        ..call(Provider::Anthropic, "claude-haiku-5-5")
    };
    assert_eq!(micro(&table, &haiku), 12_250);

    // gpt-5.6-luna has no long-context cache-read price: a long prompt with cache reads is unpriced.
    let luna = Call { input_tokens: 300_000, cache_read_tokens: 1_000, ..call(Provider::Openai, "gpt-5.6-luna") };
    let why = table.cost(&luna).unpriced().cloned().unwrap();
    assert_eq!(why, Unpriced::NoClassPrice { class: TokenClass::CacheRead, band: "long-context " });
    assert_eq!(why.to_string(), "no long-context price for cache_read tokens");

    // gpt-6-sol: the price is verified up to 272000 prompt tokens only.
    let sol = Call { input_tokens: 272_001, ..call(Provider::Openai, "gpt-6-sol") };
    assert_eq!(
        table.cost(&sol),
        Cost::Unpriced(Unpriced::AboveVerifiedContext { prompt_tokens: 272_001, limit: 272_000 })
    );
    assert_eq!(micro(&table, &Call { input_tokens: 272_000, ..sol }), 544_000);
}

#[test]
fn dated_ids_are_priced_only_when_listed() {
    let table = shipped();
    let sonnet = |id| Call { input_tokens: 1_000, output_tokens: 1_000, ..call(Provider::Anthropic, id) };
    // claude-sonnet-4-5: 1000 × 3.00 + 1000 × 15.00.
    assert_eq!(micro(&table, &sonnet("claude-sonnet-4-5")), 18_000);
    assert_eq!(micro(&table, &sonnet("claude-sonnet-4-5-20250929")), 18_000);
    assert_eq!(micro(&table, &sonnet(" Claude-Sonnet-4-5-20250929 ")), 18_000);
    assert_eq!(
        table.cost(&sonnet("claude-sonnet-4-5-20260101")),
        Cost::Unpriced(Unpriced::UnknownModel {
            provider: Provider::Anthropic,
            model: "claude-sonnet-4-5-20260101".into()
        })
    );
    // Never matched by prefix either.
    assert!(table.cost(&sonnet("claude-sonnet-4")).micro_usd().is_none());
    // The requested id is tried when the reported one has no price.
    let fallback = Call { requested_model: Some("claude-sonnet-4-5"), ..sonnet("claude-sonnet-4-5-20260101") };
    assert_eq!(micro(&table, &fallback), 18_000);
}

#[test]
fn a_window_holds_through_its_last_day_and_not_the_day_after() {
    let table = shipped();
    let at = |id, at| Call { at, input_tokens: 100_000, ..call(Provider::Openai, id) };
    // gpt-5.6-sol (alias gpt-5.6): 100000 × 4.00 input, valid_until 2026-11-21 inclusive.
    assert_eq!(micro(&table, &at("gpt-5.6", datetime!(2026-11-21 23:59:59 UTC))), 400_000);
    let after = table.cost(&at("gpt-5.6-sol", datetime!(2026-11-22 00:00 UTC)));
    assert!(matches!(after, Cost::Unpriced(Unpriced::NotInForce { .. })), "{after:?}");
    assert!(table.cost(&at("gpt-5.6-sol", datetime!(2026-08-20 23:59 UTC))).micro_usd().is_none());
    assert_eq!(micro(&table, &at("gpt-5.6-sol", datetime!(2026-08-21 00:00 UTC))), 400_000);

    // gemini-4-carbon: 2.00 through 2026-11-30, 4.00 from 2026-12-01.
    let carbon = |t| Call { at: t, input_tokens: 1_000_000, ..call(Provider::Gemini, "gemini-4-carbon") };
    assert_eq!(micro(&table, &carbon(datetime!(2026-11-30 23:59:59.999 UTC))), 2_000_000);
    assert_eq!(micro(&table, &carbon(datetime!(2026-12-01 00:00 UTC))), 4_000_000);
    // A start given as an RFC 3339 instant: deepseek-v4-pro from 2026-08-16T16:00:00Z.
    let pro = |t| Call { at: t, input_tokens: 1, ..call(Provider::Deepseek, "deepseek-v4-pro") };
    assert!(table.cost(&pro(datetime!(2026-08-16 15:59:59 UTC))).micro_usd().is_none());
    assert_eq!(micro(&table, &pro(datetime!(2026-08-16 16:00 UTC))), 1);
}

#[test]
fn tiers_multiply_or_replace_the_prices() {
    let table = shipped();
    let c =
        |id, tier| Call { input_tokens: 1_000, output_tokens: 1_000, service_tier: tier, ..call(Provider::Openai, id) };
    // gpt-6.1-terra flex 0.5: (1000 × 1.00 + 1000 × 5.00) × 0.5.
    assert_eq!(micro(&table, &c("gpt-6.1-terra", Some("flex"))), 3_000);
    assert_eq!(micro(&table, &c("gpt-6.1-terra", Some("Default"))), 6_000);
    assert_eq!(micro(&table, &c("gpt-6.1-terra", None)), 6_000);
    // The multiplier applies to long-context prices too: 300000 × 2.00 × 0.5.
    let long = Call { input_tokens: 300_000, output_tokens: 0, ..c("gpt-6.1-terra", Some("batch")) };
    assert_eq!(micro(&table, &long), 300_000);
    // gpt-5.4 priority has explicit prices: 1000 × 5.00 + 1000 × 30.00.
    assert_eq!(micro(&table, &c("gpt-5.4", Some("priority"))), 35_000);
    // gpt-6-sol lists no tier.
    assert_eq!(
        table.cost(&c("gpt-6-sol", Some("flex"))),
        Cost::Unpriced(Unpriced::UnknownTier { tier: "flex".into() })
    );
    // claude-opus-5-5 fast lists input and output only: cache reads on it are unpriced.
    let fast = Call {
        input_tokens: 2_000,
        cache_read_tokens: 1_000,
        service_tier: Some("fast"),
        ..call(Provider::Anthropic, "claude-opus-5-5")
    };
    assert_eq!(
        table.cost(&fast),
        Cost::Unpriced(Unpriced::NoClassPrice { class: TokenClass::CacheRead, band: "tier " })
    );
    // 1000 × 8.00 + 1000 × 40.00
    let plain_fast = Call { input_tokens: 1_000, output_tokens: 1_000, ..call(Provider::Anthropic, "claude-opus-5-5") };
    assert_eq!(micro(&table, &Call { service_tier: Some("fast"), ..plain_fast }), 48_000);
}

#[test]
fn uplifts_stack_on_tiers() {
    let table = shipped();
    let residency = ["data_residency"];
    let c = Call {
        input_tokens: 1_000,
        output_tokens: 1_000,
        service_tier: Some("batch"),
        uplifts: &residency,
        ..call(Provider::Openai, "gpt-6.1-terra")
    };
    // (1000 × 1.00 + 1000 × 5.00) × 0.5 × 1.1 = 6000 × 0.55
    assert_eq!(micro(&table, &c), 3_300);
    let sol = Call { service_tier: None, ..call(Provider::Openai, "gpt-6-sol") };
    let sol = Call { uplifts: &residency, input_tokens: 1, ..sol };
    assert_eq!(table.cost(&sol), Cost::Unpriced(Unpriced::UnknownUplift { uplift: "data_residency".into() }));
}

#[test]
fn charges_are_added_per_unit_and_must_apply_to_the_model() {
    let table = shipped();
    // Anthropic web_search, $10 / 1,000 searches: 3 × 10 × 1000 = 30000, plus 1000 × 4.00 input.
    let searches = [("web_search", 3)];
    let c = Call { input_tokens: 1_000, charges: &searches, ..call(Provider::Anthropic, "claude-opus-5-5") };
    assert_eq!(micro(&table, &c), 34_000);
    // Gemini grounding applies to gemini-3* and gemini-4*: 2 × 14 × 1000, plus 1000 × 3.00.
    let grounding = [("grounding_google_search", 2)];
    let neon = Call { input_tokens: 1_000, charges: &grounding, ..call(Provider::Gemini, "gemini-4-neon") };
    assert_eq!(micro(&table, &neon), 31_000);
    let old = Call { charges: &grounding, ..call(Provider::Gemini, "gemini-2.5-flash") };
    assert_eq!(table.cost(&old), Cost::Unpriced(Unpriced::UnknownCharge { name: "grounding_google_search".into() }));
    // Billed by tokens: file_search_embeddings 0.15 / 1M tokens × 10001 = 1500.15, rounded once
    // with the token cost: 1500.15 + 1 × 0.30 = 1500.45 -> 1500.
    let embeddings = [("file_search_embeddings", 10_001)];
    let flash = Call { input_tokens: 1, charges: &embeddings, ..call(Provider::Gemini, "gemini-2.5-flash") };
    assert_eq!(micro(&table, &flash), 1_500);
    // No units, no charge, even of an unknown name.
    let none = [("code_execution", 0)];
    assert_eq!(
        micro(&table, &Call { charges: &none, input_tokens: 1_000, ..call(Provider::Gemini, "gemini-2.5-flash") }),
        300
    );
}

#[test]
fn the_sum_is_rounded_once_half_up() {
    let table = shipped();
    // gpt-6-luna: cache_write 0.125, cache_read 0.01.
    let luna = |cache_write, cache_read| Call {
        input_tokens: cache_write + cache_read,
        cache_write_tokens: cache_write,
        cache_read_tokens: cache_read,
        ..call(Provider::Openai, "gpt-6-luna")
    };
    assert_eq!(micro(&table, &luna(4, 0)), 1, "4 × 0.125 = 0.5 rounds up");
    assert_eq!(micro(&table, &luna(2, 0)), 0, "2 × 0.125 = 0.25 rounds down");
    // 2 × 0.125 + 25 × 0.01 = 0.25 + 0.25 = 0.5: rounding each class would give 0.
    assert_eq!(micro(&table, &luna(2, 25)), 1);
    // gemini-3.8-flash cache_read 0.075 × 20 = 1.5 exactly (as f64 products it is not).
    let flash = Call { input_tokens: 20, cache_read_tokens: 20, ..call(Provider::Gemini, "gemini-3.8-flash") };
    assert_eq!(micro(&table, &flash), 2);
}

#[test]
fn max_cost_bounds_every_split_of_the_prompt() {
    let table = shipped();
    let bound = |id, prompt, out| Bound::new(Provider::Openai, id, SUNDAY, prompt, out);
    // gpt-6.1-terra: the dearest prompt token is a 12-hour cache write at 2.50.
    // 10000 × 2.50 + 2000 × 5.00
    assert_eq!(table.max_cost(&bound("gpt-6.1-terra", 10_000, 2_000)), Ok(35_000));
    // Above 272000 the long-context prices: 300000 × 5.00 + 2000 × 7.50.
    assert_eq!(table.max_cost(&bound("gpt-6.1-terra", 300_000, 2_000)), Ok(1_515_000));
    // Rounded up: gpt-6-luna, one prompt token at the 0.125 cache-write price.
    assert_eq!(table.max_cost(&bound("gpt-6-luna", 1, 0)), Ok(1));
    for (read, write, extended) in [(0, 0, 0), (10_000, 0, 0), (0, 10_000, 0), (0, 0, 10_000), (2_000, 3_000, 5_000)] {
        let c = Call {
            input_tokens: 10_000,
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_extended_tokens: extended,
            output_tokens: 2_000,
            ..call(Provider::Openai, "gpt-6.1-terra")
        };
        assert!(micro(&table, &c) <= 35_000);
    }
    assert_eq!(
        table.max_cost(&bound("gpt-9", 1, 1)),
        Err(Unpriced::UnknownModel { provider: Provider::Openai, model: "gpt-9".into() })
    );
    assert!(matches!(table.max_cost(&bound("gpt-6-sol", 300_000, 1)), Err(Unpriced::AboveVerifiedContext { .. })));

    // Charges: a capped one adds its cap, an uncapped one has no bound.
    let capped = [("web_search", Some(5))];
    let opus = Bound { charges: &capped, ..Bound::new(Provider::Anthropic, "claude-opus-5-5", SUNDAY, 1_000, 1_000) };
    // 1000 × 8.00 (1h write) + 1000 × 20.00 + 5 × 10 × 1000
    assert_eq!(table.max_cost(&opus), Ok(78_000));
    let uncapped = [("web_search", None)];
    assert_eq!(
        table.max_cost(&Bound { charges: &uncapped, ..opus }),
        Err(Unpriced::UnboundedCharge { name: "web_search".into() })
    );
    // Tiers and uplifts as in cost: (1000 × 2.50 + 1000 × 5.00) × 2.0 × 1.1 on gpt-6.1-terra fast.
    let residency = ["data_residency"];
    let fast = Bound { service_tier: Some("fast"), uplifts: &residency, ..bound("gpt-6.1-terra", 1_000, 1_000) };
    assert_eq!(table.max_cost(&fast), Ok(16_500));
}
