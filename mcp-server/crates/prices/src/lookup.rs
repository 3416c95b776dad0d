//! Finding a model's row: by exact id (model or alias, lower-cased) and the validity window.
//!
//! No fuzzy matching: a dated snapshot is priced only when a row lists it, because a neighbouring
//! id is often priced differently. The index is checked when built, so that no id names two rows
//! in force at the same time.

use std::collections::HashMap;

use converra::Provider;
use time::{Date, OffsetDateTime};

use crate::table::{ModelRow, PriceTable};
use crate::{PriceError, Unpriced};

/// Row positions by provider and id; one map per provider so that a lookup borrows the id as given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    by_provider: [HashMap<String, Vec<usize>>; 4],
}

fn slot(provider: Provider) -> usize {
    match provider {
        Provider::Openai => 0,
        Provider::Anthropic => 1,
        Provider::Gemini => 2,
        Provider::Deepseek => 3,
    }
}

impl Index {
    /// Indexes every row's ids and refuses an id that would name two rows in force at once: two
    /// windows of one model that overlap, or an alias shared by two models at the same time.
    pub(crate) fn build(models: &[ModelRow]) -> Result<Index, PriceError> {
        let mut index = Index::default();
        for (i, row) in models.iter().enumerate() {
            for id in &row.ids {
                let rows = index.by_provider[slot(row.provider)].entry(id.clone()).or_default();
                if let Some(&other) = rows.iter().find(|&&o| models[o].window.overlaps(&row.window)) {
                    let other = &models[other];
                    let problem = if other.model == row.model {
                        format!("validity window overlaps {}", other.row)
                    } else {
                        format!("id `{id}` also names {} in an overlapping validity window", other.row)
                    };
                    return Err(PriceError::Row { row: row.row.clone(), problem });
                }
                rows.push(i);
            }
        }
        Ok(index)
    }

    fn rows(&self, provider: Provider, id: &str) -> Option<&[usize]> {
        let map = &self.by_provider[slot(provider)];
        let trimmed = id.trim();
        if trimmed.chars().any(char::is_uppercase) { map.get(&trimmed.to_lowercase()) } else { map.get(trimmed) }
            .map(Vec::as_slice)
    }
}

/// The row that prices a model at an instant, as `lookup` returns it.
#[derive(Debug, Clone, Copy)]
pub struct PricedModel<'t> {
    pub(crate) row: &'t ModelRow,
}

impl<'t> PricedModel<'t> {
    pub fn provider(&self) -> Provider {
        self.row.provider
    }

    /// The row's model id: the one name to label spend with, whichever alias the call used.
    pub fn model(&self) -> &'t str {
        &self.row.model
    }

    /// Where the row's numbers were read (a URL, or an operator's contract reference).
    pub fn source(&self) -> &'t str {
        &self.row.source
    }

    /// The date the source shows, or the date it was read.
    pub fn as_of(&self) -> Date {
        self.row.as_of
    }

    /// `official` or `secondary`; `None` for an operator row that does not say.
    pub fn confidence(&self) -> Option<&'t str> {
        self.row.confidence.as_deref()
    }
}

/// One model of the table, for listing (`converra prices check`): its id and every alias any of
/// its rows lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry<'t> {
    pub provider: Provider,
    pub model: &'t str,
    pub aliases: Vec<&'t str>,
}

impl PriceTable {
    /// The row pricing `model` (as the provider reports it; trimmed and lower-cased here) at `at`.
    pub fn lookup(&self, provider: Provider, model: &str, at: OffsetDateTime) -> Result<PricedModel<'_>, Unpriced> {
        let rows = self
            .index
            .rows(provider, model)
            .ok_or_else(|| Unpriced::UnknownModel { provider, model: model.to_owned() })?;
        rows.iter()
            .map(|&i| &self.models[i])
            .find(|row| row.window.contains(at))
            .map(|row| PricedModel { row })
            .ok_or_else(|| Unpriced::NotInForce { provider, model: model.to_owned(), at })
    }

    /// Whether a call to `model` at `at` would have a row (its usage may still be unpriced, e.g. a
    /// long prompt above the verified context or an unlisted tier).
    pub fn is_priced(&self, provider: Provider, model: &str, at: OffsetDateTime) -> bool {
        self.lookup(provider, model, at).is_ok()
    }

    /// Every model once, in file order (shipped rows first, then the operator's).
    pub fn models(&self) -> Vec<ModelEntry<'_>> {
        let mut entries: Vec<ModelEntry<'_>> = Vec::new();
        for row in &self.models {
            let entry = match entries.iter_mut().find(|e| e.provider == row.provider && e.model == row.model) {
                Some(entry) => entry,
                None => {
                    entries.push(ModelEntry { provider: row.provider, model: &row.model, aliases: Vec::new() });
                    entries.last_mut().expect("just pushed")
                }
            };
            for alias in row.ids.iter().filter(|id| **id != row.model) {
                if !entry.aliases.contains(&alias.as_str()) {
                    entry.aliases.push(alias);
                }
            }
        }
        entries
    }
}
