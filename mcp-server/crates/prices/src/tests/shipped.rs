//! The shipped `prices/prices.toml`: it parses under the review rules, and its rows are what the
//! README's "This edition" says.

use super::{SUNDAY, shipped};
use crate::Provider;

#[test]
fn the_shipped_table_parses_and_every_row_has_a_source_and_a_date() {
    let table = shipped();
    assert_eq!(table.edition(), Some("2026-12-06"));
    assert_eq!(table.models.len(), 60, "model rows");
    assert_eq!(table.charges.len(), 8, "charge rows");
    for row in &table.models {
        assert!(row.source.starts_with("https://"), "{}", row.row);
        assert!(row.as_of <= time::macros::date!(2026 - 12 - 06), "{}", row.row);
        assert!(row.confidence.is_some(), "{}", row.row);
    }
    let count = |p: Provider| table.models.iter().filter(|r| r.provider == p).count();
    assert_eq!(
        [count(Provider::Openai), count(Provider::Anthropic), count(Provider::Gemini), count(Provider::Deepseek)],
        [25, 19, 14, 2]
    );
    let official = table.models.iter().filter(|r| r.confidence.as_deref() == Some("official")).count();
    assert_eq!(official, 28);
}

#[test]
fn models_lists_each_model_once_with_its_aliases() {
    let table = shipped();
    let models = table.models();
    assert_eq!(models.len(), 25 + 18 + 11 + 2);
    let flash = models.iter().find(|m| m.model == "deepseek-flash").unwrap();
    assert_eq!(flash.aliases, ["deepseek-v4-flash", "deepseek-v4-flash-vision-exp"]);
    assert!(table.is_priced(Provider::Anthropic, "claude-sonnet-5-5", SUNDAY));
    assert!(!table.is_priced(Provider::Anthropic, "claude-sonnet-5-5-20261007", SUNDAY));
}
