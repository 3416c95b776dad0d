//! Every validation error, by its exact message: the operator reads it at start-up and must find
//! the row and the field without a line number.

use super::{PROV, table_with};

/// A valid row of `m` with the given extra lines (before its sub-tables).
fn row(extra: &str) -> String {
    format!("[[model]]\nprovider = \"openai\"\nmodel = \"m\"\ninput = 1.0\noutput = 2.0\n{PROV}{extra}\n")
}

fn error(rows: &str) -> String {
    table_with(rows).expect_err("the table should be refused").to_string()
}

#[test]
fn a_minimal_row_parses() {
    let table = table_with(&row("")).unwrap();
    assert_eq!(table.models().len(), 1);
}

#[test]
fn unknown_fields_are_refused() {
    assert_eq!(
        error(&row("colour = \"red\"")),
        "[[model]] #1 (openai m): unknown field `colour`, expected one of `provider`, `model`, `aliases`, `status`, \
         `valid_from`, `valid_until`, `input`, `output`, `cache_read`, `cache_write`, `cache_write_ttl`, \
         `cache_write_extended`, `cache_write_extended_ttl`, `input_audio`, `long_context`, \
         `unpriced_above_input_tokens`, `tiers`, `uplifts`, `off_peak`, `source`, `sources`, `as_of`, `as_of_kind`, \
         `confidence`, `notes` (line 12: `colour = \"red\"`)"
    );
    let nested = error(&row("[model.tiers.batch]\nmultiplier = 0.5\ndiscount = 1"));
    assert!(nested.starts_with("[[model]] #1 (openai m): unknown field `discount`, expected one of"), "{nested}");
    assert_eq!(
        error(&row("long_context = { above_input_tokens = 10, input = 2.0, multiplier = 2 }")),
        "[[model]] #1 (openai m): `long_context.multiplier` is not a known field"
    );
    assert_eq!(
        error(&row("[model.tiers.batch]\nmultiplier = 0.5\nabove_input_tokens = 3")),
        "[[model]] #1 (openai m): `tiers.batch.above_input_tokens` is not a known field"
    );
    let top = error(&format!("colour = 1\n{}", row("")));
    assert!(top.starts_with("not a valid price table: "), "{top}");
    assert!(top.contains("unknown field `colour`"), "{top}");
}

#[test]
fn shipped_rows_need_their_provenance() {
    let bare = "[[model]]\nprovider = \"openai\"\nmodel = \"m\"\ninput = 1.0\noutput = 2.0\n";
    assert_eq!(error(bare), "[[model]] #1 (openai m): `source` is required");
    assert_eq!(error(&format!("{bare}source = \"s\"\n")), "[[model]] #1 (openai m): `as_of` is required");
    assert_eq!(
        error(&format!("{bare}source = \"s\"\nas_of = \"2026-12-06\"\n")),
        "[[model]] #1 (openai m): `as_of_kind` is required"
    );
    assert_eq!(
        error(&format!("{bare}source = \"s\"\nas_of = \"2026-12-06\"\nas_of_kind = \"read\"\n")),
        "[[model]] #1 (openai m): `confidence` is required"
    );
    assert_eq!(
        error(&format!("{bare}source = \"s\"\nas_of = \"6 Dec\"\nas_of_kind = \"read\"\nconfidence = \"official\"\n")),
        "[[model]] #1 (openai m): `as_of` is not a date (found `6 Dec`)"
    );
    assert_eq!(
        error(&format!("{bare}source = \"s\"\nas_of = \"2026-12-06\"\nas_of_kind = \"read\"\nconfidence = \"sure\"\n")),
        "[[model]] #1 (openai m): `confidence` is not one of official, secondary (found `sure`)"
    );
}

#[test]
fn required_fields_and_their_values() {
    let no_output = format!("[[model]]\nprovider = \"openai\"\nmodel = \"m\"\ninput = 1.0\n{PROV}");
    assert_eq!(error(&no_output), "[[model]] #1 (openai m): `output` is required");
    let no_model = format!("[[model]]\nprovider = \"openai\"\ninput = 1.0\noutput = 1.0\n{PROV}");
    assert_eq!(error(&no_model), "[[model]] #1 (openai ?): `model` is required");
    let azure = row("").replace("\"openai\"", "\"azure\"");
    assert_eq!(
        error(&azure),
        "[[model]] #1 (azure m): `provider` is not one of openai, anthropic, gemini, deepseek (found `azure`)"
    );
    assert_eq!(
        error(&row("").replace("input = 1.0", "input = -1.0")),
        "[[model]] #1 (openai m): `input` is negative (-1)"
    );
    assert_eq!(
        error(&row("long_context = { above_input_tokens = 10, output = -0.5 }")),
        "[[model]] #1 (openai m): `long_context.output` is negative (-0.5)"
    );
    assert_eq!(
        error(&row("long_context = { input = 2.0 }")),
        "[[model]] #1 (openai m): `long_context.above_input_tokens` is required"
    );
    assert_eq!(
        error(&row("").replace("input = 1.0", "input = 0.0000000001")),
        "[[model]] #1 (openai m): `input` has more than 9 decimals (0.0000000001)"
    );
    assert_eq!(
        error(&row("status = \"beta\"")),
        "[[model]] #1 (openai m): `status` is not one of current, legacy, deprecated (found `beta`)"
    );
    assert_eq!(
        error(&row("[model.tiers.batch]\nmultiplier = 0.5\ninput = 1.0")),
        "[[model]] #1 (openai m): `tiers.batch` has both a `multiplier` and prices"
    );
    assert_eq!(
        error(&row("[model.tiers.batch]")),
        "[[model]] #1 (openai m): `tiers.batch` has neither a `multiplier` nor prices"
    );
    assert_eq!(
        error(&row(
            "[model.off_peak]\ninput = 0.5\npeak_windows_utc = [{ days = \"sat\", from = \"01:00\", to = \"04:00\" }]"
        )),
        "[[model]] #1 (openai m): `off_peak.peak_windows_utc` `days` is not `mon-fri` or `all` (found `sat`)"
    );
    assert_eq!(
        error(&row(
            "[model.off_peak]\ninput = 0.5\npeak_windows_utc = [{ days = \"all\", from = \"04:00\", to = \"01:00\" }]"
        )),
        "[[model]] #1 (openai m): `off_peak.peak_windows_utc` `from` 04:00 is not before `to` 01:00"
    );
    assert_eq!(
        error(&row("[model.off_peak]\ninput = 0.5")),
        "[[model]] #1 (openai m): `off_peak.peak_windows_utc` is required (at least one window)"
    );
}

#[test]
fn schema_and_syntax() {
    assert_eq!(
        super::PriceTable::parse(&row("")).unwrap_err().to_string(),
        "schema_version (missing) is not supported (this build reads 1)"
    );
    assert_eq!(
        super::PriceTable::parse(&format!("schema_version = 2\n{}", row(""))).unwrap_err().to_string(),
        "schema_version 2 is not supported (this build reads 1)"
    );
    let syntax = error("[[model]\n");
    assert!(syntax.starts_with("not a valid price table: TOML parse error at line 3"), "{syntax}");
    assert_eq!(error(&row("withdrawn = true")), "[[model]] #1 (openai m): `withdrawn` is for operator files only");
}

#[test]
fn validity_windows() {
    assert_eq!(
        error(&row("valid_from = \"2026-12-02\"\nvalid_until = \"2026-12-01\"")),
        "[[model]] #1 (openai m): `valid_from` 2026-12-02 is not before `valid_until` 2026-12-01"
    );
    // One day is a window: a bare valid_until is inclusive.
    table_with(&row("valid_from = \"2026-12-01\"\nvalid_until = \"2026-12-01\"")).unwrap();
    assert_eq!(
        error(&row("valid_from = \"2026-12-01T10:00:00Z\"\nvalid_until = \"2026-12-01T10:00:00Z\"")),
        "[[model]] #1 (openai m): `valid_from` 2026-12-01T10:00:00Z is not before `valid_until` 2026-12-01T10:00:00Z"
    );
    assert_eq!(
        error(&row("valid_from = \"December\"")),
        "[[model]] #1 (openai m): `valid_from` is neither a date (YYYY-MM-DD) nor an RFC 3339 time (found `December`)"
    );
    // Back to back is fine; sharing the last day is an overlap.
    let two = |first_until, second_from| {
        format!(
            "{}{}",
            row(&format!("valid_until = \"{first_until}\"")),
            row(&format!("valid_from = \"{second_from}\""))
        )
    };
    table_with(&two("2026-11-30", "2026-12-01")).unwrap();
    table_with(&two("2026-12-01T00:00:00Z", "2026-12-01")).unwrap();
    assert_eq!(
        error(&two("2026-12-01", "2026-12-01")),
        "[[model]] #2 (openai m): validity window overlaps [[model]] #1 (openai m)"
    );
    assert_eq!(
        error(&format!("{}{}", row(""), row(""))),
        "[[model]] #2 (openai m): validity window overlaps [[model]] #1 (openai m)"
    );
}

#[test]
fn an_id_names_one_row_at_a_time() {
    let other = |extra: &str| row(extra).replace("model = \"m\"", "model = \"n\"");
    assert_eq!(
        error(&format!("{}{}", row(""), other("aliases = [\"m\"]"))),
        "[[model]] #2 (openai n): id `m` also names [[model]] #1 (openai m) in an overlapping validity window"
    );
    assert_eq!(
        error(&format!("{}{}", row("aliases = [\"m-1\"]"), other("aliases = [\"M-1\"]"))),
        "[[model]] #2 (openai n): id `m-1` also names [[model]] #1 (openai m) in an overlapping validity window"
    );
    // A renamed model: the old id becomes the new model's alias once the old row ends.
    table_with(&format!(
        "{}{}",
        row("valid_until = \"2026-09-09\""),
        other("aliases = [\"m\"]\nvalid_from = \"2026-09-10\"")
    ))
    .unwrap();
    // The same id under two providers is two ids.
    table_with(&format!("{}{}", row(""), row("").replace("\"openai\"", "\"deepseek\""))).unwrap();
    assert_eq!(error(&row("aliases = [\"m\"]")), "[[model]] #1 (openai m): `aliases` repeats the model id `m`");
    assert_eq!(error(&row("aliases = [\"a\", \"A\"]")), "[[model]] #1 (openai m): `aliases` lists `a` twice");
}

#[test]
fn cache_write_and_its_retention_go_together() {
    assert_eq!(
        error(&row("cache_write_ttl = \"5m\"")),
        "[[model]] #1 (openai m): `cache_write_ttl` is set without `cache_write`"
    );
    assert_eq!(
        error(&row("cache_write = 1.25")),
        "[[model]] #1 (openai m): `cache_write_ttl` is required with `cache_write`"
    );
    assert_eq!(
        error(&row("cache_write_extended_ttl = \"1h\"")),
        "[[model]] #1 (openai m): `cache_write_extended_ttl` is set without `cache_write_extended`"
    );
    assert_eq!(
        error(&row("cache_write = 1.25\ncache_write_ttl = \"five minutes\"")),
        "[[model]] #1 (openai m): `cache_write_ttl` is not a retention like `5m` or `1h` (found `five minutes`)"
    );
}

#[test]
fn a_charge_has_exactly_one_price() {
    let charge = |price: &str| {
        format!(
            "[[charge]]\nprovider = \"anthropic\"\nname = \"web_search\"\napplies_to = [\"*\"]\nunit = \"search\"\n{price}\n{PROV}"
        )
    };
    table_with(&charge("usd_per_1k = 10.0")).unwrap();
    assert_eq!(
        error(&charge("")),
        "[[charge]] #1 (anthropic web_search): needs exactly one of `usd_per_1k`, `usd_per_1m_tokens`, `usd_per_hour` \
         (found none)"
    );
    assert_eq!(
        error(&charge("usd_per_1k = 10.0\nusd_per_1m_tokens = 0.15")),
        "[[charge]] #1 (anthropic web_search): needs exactly one of `usd_per_1k`, `usd_per_1m_tokens`, `usd_per_hour` \
         (found `usd_per_1k`, `usd_per_1m_tokens`)"
    );
    assert_eq!(
        error(&charge("usd_per_1k = -10.0")),
        "[[charge]] #1 (anthropic web_search): `usd_per_1k` is negative (-10)"
    );
    assert_eq!(
        error(&charge("usd_per_1k = 10.0").replace("[\"*\"]", "[\"gem*ini\"]")),
        "[[charge]] #1 (anthropic web_search): `applies_to` `gem*ini` is not a model id, a prefix ending in `*` or `*`"
    );
    assert_eq!(
        error(&format!("{}{}", charge("usd_per_1k = 10.0"), charge("usd_per_1k = 5.0"))),
        "[[charge]] #2 (anthropic web_search): validity window overlaps [[charge]] #1 (anthropic web_search)"
    );
    assert_eq!(
        error(&charge("usd_per_1k = 10.0\nfree_allowance = { count = 5, per = \"week\" }")),
        "[[charge]] #1 (anthropic web_search): `free_allowance.per` is not one of day, month (found `week`)"
    );
}

#[test]
fn a_wrong_type_names_the_line_of_its_key() {
    assert_eq!(
        error(&row("").replace("input = 1.0", "input = \"1.0\"")),
        "[[model]] #1 (openai m): invalid type: string \"1.0\", expected f64 (line 6: `input = \"1.0\"`)"
    );
    assert_eq!(
        error(&row("[model.tiers.batch]\nmultiplier = \"half\"")),
        "[[model]] #1 (openai m): invalid type: string \"half\", expected f64 (line 13: `multiplier = \"half\"`)"
    );
}
