//! Merging the operator's file (`CONVERRA_PRICES_FILE`) over the shipped table, by the rules of
//! `prices/README.md`, "Operator override file".
//!
//! The merge is all or nothing: any error leaves the caller with the table it had, so Converra
//! never runs with half an override applied.

use std::collections::HashSet;

use converra::Provider;

use crate::parse::{Mode, parse_file};
use crate::table::PriceTable;
use crate::{PriceError, RowRef};

impl PriceTable {
    /// The table with the operator's rows merged in. `operator_text` is the file's content (the
    /// caller reads it and names it in the error it reports). Operator rows need `source` and
    /// `as_of`; `as_of_kind` and `confidence` may be left out.
    ///
    /// - a `[[model]]` with a shipped `provider` + `model` replaces every shipped row of that model
    ///   (its whole history and its aliases); a new one adds a model;
    /// - a `[[charge]]` with a shipped `provider` + `name` replaces it; a new one adds a charge;
    /// - `withdrawn = true` removes the shipped rows of that key: its calls become unpriced
    ///   (withdrawing a key the table does not have is not an error, so that an upgrade which drops
    ///   a model does not stop Converra from starting);
    /// - an id (model or alias) of an operator row that a shipped row of another model also lists
    ///   is taken over: lookups of that id find the operator's row.
    pub fn with_overrides(self, operator_text: &str) -> Result<PriceTable, PriceError> {
        let file = parse_file(operator_text, Mode::Operator)?;
        let replaced: HashSet<(Provider, &str)> = file.models.iter().map(|r| (r.provider, r.model.as_str())).collect();
        refuse_both(&file.withdrawn_models, &replaced)?;
        let charges: HashSet<(Provider, &str)> = file.charges.iter().map(|c| (c.provider, c.name.as_str())).collect();
        refuse_both(&file.withdrawn_charges, &charges)?;

        let gone = |set: &HashSet<(Provider, &str)>, withdrawn: &[(RowRef, Provider, String)], p: Provider, k: &str| {
            set.contains(&(p, k)) || withdrawn.iter().any(|(_, wp, wk)| *wp == p && wk == k)
        };
        let claimed: HashSet<(Provider, &str)> =
            file.models.iter().flat_map(|r| r.ids.iter().map(move |id| (r.provider, id.as_str()))).collect();

        let mut models = Vec::with_capacity(self.models.len() + file.models.len());
        for mut row in self.models {
            if gone(&replaced, &file.withdrawn_models, row.provider, &row.model) {
                continue;
            }
            row.ids.retain(|id| !claimed.contains(&(row.provider, id.as_str())));
            models.push(row);
        }
        models.extend(file.models.iter().cloned());
        let mut merged_charges: Vec<_> = self
            .charges
            .into_iter()
            .filter(|c| !gone(&charges, &file.withdrawn_charges, c.provider, &c.name))
            .collect();
        merged_charges.extend(file.charges.iter().cloned());
        PriceTable::build(self.edition, models, merged_charges)
    }
}

/// A key both withdrawn and priced in one file is a contradiction, not an order of operations.
fn refuse_both(withdrawn: &[(RowRef, Provider, String)], priced: &HashSet<(Provider, &str)>) -> Result<(), PriceError> {
    match withdrawn.iter().find(|(_, p, k)| priced.contains(&(*p, k.as_str()))) {
        Some((row, _, _)) => {
            Err(PriceError::Row { row: row.clone(), problem: "is withdrawn and priced in the same file".into() })
        }
        None => Ok(()),
    }
}
