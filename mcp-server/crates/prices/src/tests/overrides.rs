//! The operator file's rules (README, "Operator override file"), each on the shipped table.

use time::macros::datetime;

use super::{SUNDAY, call, micro, shipped};
use crate::{Call, Cost, PriceTable, Provider, Unpriced};

fn merged(operator: &str) -> PriceTable {
    shipped().with_overrides(operator).expect("the operator file should merge")
}

fn refused(operator: &str) -> String {
    shipped().with_overrides(operator).expect_err("the operator file should be refused").to_string()
}

const OPUS_DISCOUNT: &str = r#"
[[model]]
provider = "anthropic"
model = "claude-opus-5-5"
input = 3.60
cache_read = 0.18
cache_write = 4.50
cache_write_ttl = "5m"
cache_write_extended = 7.20
cache_write_extended_ttl = "1h"
output = 18.00
source = "contract ACME-2026-114, schedule B"
as_of = "2026-11-01"
as_of_kind = "source"
[model.tiers.batch]
multiplier = 0.5
"#;

#[test]
fn the_readme_example_merges() {
    let readme = format!(
        "{OPUS_DISCOUNT}{}",
        r#"
[[model]]
provider = "openai"
model = "ft:gpt-6-luna:acme:support:abc123"
input = 0.20
output = 1.00
source = "https://platform.openai.com/settings/organization/billing (our fine-tune)"
as_of = "2026-12-01"
as_of_kind = "read"

[[model]]
provider = "openai"
model = "gpt-4o-mini"
withdrawn = true
"#
    );
    let table = merged(&readme);
    let c = |p, id| Call { input_tokens: 1_000, output_tokens: 1_000, ..call(p, id) };
    // Replaced: 1000 × 3.60 + 1000 × 18.00; its batch tier is the operator's.
    assert_eq!(micro(&table, &c(Provider::Anthropic, "claude-opus-5-5")), 21_600);
    assert_eq!(
        micro(&table, &Call { service_tier: Some("batch"), ..c(Provider::Anthropic, "claude-opus-5-5") }),
        10_800
    );
    // The shipped fast tier went with the shipped row.
    let fast = Call { service_tier: Some("fast"), ..c(Provider::Anthropic, "claude-opus-5-5") };
    assert_eq!(table.cost(&fast), Cost::Unpriced(Unpriced::UnknownTier { tier: "fast".into() }));
    // Added: 1000 × 0.20 + 1000 × 1.00.
    assert_eq!(micro(&table, &c(Provider::Openai, "ft:gpt-6-luna:acme:support:abc123")), 1_200);
    // Withdrawn: unpriced, and gone from the list.
    assert!(matches!(table.cost(&c(Provider::Openai, "gpt-4o-mini")), Cost::Unpriced(Unpriced::UnknownModel { .. })));
    assert!(!table.models().iter().any(|m| m.model == "gpt-4o-mini"));
    // The rest of the shipped table is untouched: gpt-6.1-terra 1000 × 1.00 + 1000 × 5.00.
    assert_eq!(micro(&table, &c(Provider::Openai, "gpt-6.1-terra")), 6_000);
    // Operator provenance is shorter: no as_of_kind or confidence needed.
    let ft = table.lookup(Provider::Openai, "ft:gpt-6-luna:acme:support:abc123", SUNDAY).unwrap();
    assert_eq!(ft.confidence(), None);
    assert_eq!(ft.source(), "https://platform.openai.com/settings/organization/billing (our fine-tune)");
}

#[test]
fn a_replaced_model_loses_its_whole_shipped_history_and_aliases() {
    // claude-sonnet-5-5 has two shipped windows; claude-sonnet-4-5 a dated alias.
    let table = merged(
        r#"
[[model]]
provider = "anthropic"
model = "claude-sonnet-5-5"
input = 1.00
output = 5.00
source = "contract"
as_of = "2026-11-01"

[[model]]
provider = "anthropic"
model = "claude-sonnet-4-5"
input = 2.00
output = 10.00
source = "contract"
as_of = "2026-11-01"
"#,
    );
    let at = |id, at| Call { at, input_tokens: 1_000, ..call(Provider::Anthropic, id) };
    assert_eq!(micro(&table, &at("claude-sonnet-5-5", datetime!(2026-01-01 00:00 UTC))), 1_000);
    assert_eq!(micro(&table, &at("claude-sonnet-5-5", SUNDAY)), 1_000);
    assert_eq!(micro(&table, &at("claude-sonnet-4-5", SUNDAY)), 2_000);
    assert!(table.cost(&at("claude-sonnet-4-5-20250929", SUNDAY)).micro_usd().is_none());
}

#[test]
fn an_operator_alias_takes_a_shipped_id_over() {
    let table = merged(
        r#"
[[model]]
provider = "anthropic"
model = "acme-sonnet"
aliases = ["claude-sonnet-4-5-20250929"]
input = 1.00
output = 1.00
source = "contract"
as_of = "2026-11-01"
"#,
    );
    let c = |id| Call { input_tokens: 1_000, ..call(Provider::Anthropic, id) };
    assert_eq!(micro(&table, &c("claude-sonnet-4-5-20250929")), 1_000);
    assert_eq!(table.lookup(Provider::Anthropic, "claude-sonnet-4-5-20250929", SUNDAY).unwrap().model(), "acme-sonnet");
    // The shipped model keeps its own id: 1000 × 3.00.
    assert_eq!(micro(&table, &c("claude-sonnet-4-5")), 3_000);
    let sonnet = table.models().into_iter().find(|m| m.model == "claude-sonnet-4-5").unwrap();
    assert!(sonnet.aliases.is_empty());
}

#[test]
fn charges_are_replaced_added_and_withdrawn_by_name() {
    let table = merged(
        r#"
[[charge]]
provider = "anthropic"
name = "web_search"
applies_to = ["*"]
unit = "search"
usd_per_1k = 5.00
source = "contract"
as_of = "2026-11-01"

[[charge]]
provider = "anthropic"
name = "code_execution"
applies_to = ["claude-opus-5*"]
unit = "call"
usd_per_1k = 1.00
source = "contract"
as_of = "2026-11-01"

[[charge]]
provider = "deepseek"
name = "search"
withdrawn = true
"#,
    );
    let units = [("web_search", 2), ("code_execution", 3)];
    // 2 × 5.00 × 1000 + 3 × 1.00 × 1000
    assert_eq!(micro(&table, &Call { charges: &units, ..call(Provider::Anthropic, "claude-opus-5-5") }), 13_000);
    let search = [("search", 1)];
    assert_eq!(
        table.cost(&Call { charges: &search, ..call(Provider::Deepseek, "deepseek-flash") }),
        Cost::Unpriced(Unpriced::UnknownCharge { name: "search".into() })
    );
}

#[test]
fn operator_rows_are_validated_and_nothing_is_half_applied() {
    let withdrawn_key_only = "[[model]]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\nwithdrawn = true\ninput = 1.0\n";
    assert_eq!(refused(withdrawn_key_only), "[[model]] #1 (openai gpt-4o): a withdrawn row has no `input`");
    let both = format!(
        "{OPUS_DISCOUNT}\n[[model]]\nprovider = \"anthropic\"\nmodel = \"claude-opus-5-5\"\nwithdrawn = true\n"
    );
    assert_eq!(refused(&both), "[[model]] #2 (anthropic claude-opus-5-5): is withdrawn and priced in the same file");
    assert_eq!(
        refused("[[model]]\nprovider = \"openai\"\nmodel = \"x\"\nwithdrawn = false\n"),
        "[[model]] #1 (openai x): `withdrawn` can only be `true` (leave it out to price the row)"
    );
    assert_eq!(
        refused(&OPUS_DISCOUNT.replace("source = \"contract ACME-2026-114, schedule B\"\n", "")),
        "[[model]] #1 (anthropic claude-opus-5-5): `source` is required"
    );
    assert_eq!(
        refused(&OPUS_DISCOUNT.replace("as_of = \"2026-11-01\"\n", "")),
        "[[model]] #1 (anthropic claude-opus-5-5): `as_of` is required"
    );
    assert_eq!(
        refused(&format!("{OPUS_DISCOUNT}{OPUS_DISCOUNT}")),
        "[[model]] #2 (anthropic claude-opus-5-5): validity window overlaps [[model]] #1 (anthropic claude-opus-5-5)"
    );
    assert_eq!(refused("schema_version = 2\n"), "schema_version 2 is not supported (this build reads 1)");
    // Withdrawing a model the table does not have is not an error (an upgrade may drop it).
    merged("[[model]]\nprovider = \"openai\"\nmodel = \"gpt-3.5-turbo\"\nwithdrawn = true\n");
    // An empty file changes nothing.
    assert_eq!(merged("").models(), shipped().models());
}
