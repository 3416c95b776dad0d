//! The price table calls are costed with: the one shipped in the binary (`prices/prices.toml`),
//! with the operator's file (`CONVERRA_PRICES_FILE`: negotiated rates, models the table lacks)
//! adding or replacing rows by the rules of `prices/README.md`.

use converra_prices::PriceTable;

use super::ConfigError;

const NAME: &str = "CONVERRA_PRICES_FILE";

/// The shipped table with the operator's file over it, if the environment names one.
pub fn from_env() -> Result<PriceTable, ConfigError> {
    load(|name| std::env::var(name).ok())
}

/// The shipped table with the operator's file over it, if `lookup` names one. A file that
/// cannot be read or breaks a rule is an error naming the file and the row.
pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<PriceTable, ConfigError> {
    let Some(path) = lookup(NAME).filter(|p| !p.is_empty()) else { return Ok(PriceTable::shipped()) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::Invalid { name: NAME, why: format!("cannot read {path}: {e}") })?;
    PriceTable::shipped()
        .with_overrides(&text)
        .map_err(|e| ConfigError::Invalid { name: NAME, why: format!("{path}: {e}") })
}

#[cfg(test)]
mod tests {
    use converra::Provider;
    use time::macros::datetime;

    use super::*;

    fn with(file: Option<&std::path::Path>) -> Result<PriceTable, ConfigError> {
        let file = file.map(|f| f.display().to_string());
        load(move |name| (name == NAME).then(|| file.clone()).flatten())
    }

    #[test]
    fn the_operators_file_adds_a_model_and_a_broken_one_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let at = datetime!(2026-12-06 12:00 UTC);
        assert!(!with(None).unwrap().is_priced(Provider::Openai, "gpt-acme-tuned", at));

        let file = dir.path().join("prices.toml");
        std::fs::write(
            &file,
            "schema_version = 1\n[[model]]\nprovider = \"openai\"\nmodel = \"gpt-acme-tuned\"\ninput = 1.0\noutput = 4.0\n\
             source = \"https://example.com/our-contract\"\nas_of = 2026-12-01\n",
        )
        .unwrap();
        assert!(with(Some(&file)).unwrap().is_priced(Provider::Openai, "gpt-acme-tuned", at));

        std::fs::write(&file, "schema_version = 1\n[[model]]\nprovider = \"openai\"\n").unwrap();
        let e = with(Some(&file)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("CONVERRA_PRICES_FILE is not valid: {}: ", file.display())), "{e}");
        let missing = dir.path().join("missing.toml");
        let e = with(Some(&missing)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("CONVERRA_PRICES_FILE is not valid: cannot read {}: ", missing.display())),
            "{e}"
        );
    }
}
