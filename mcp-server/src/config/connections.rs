//! The edge's timeouts and connection cap: `CONVERRA_HEADER_READ_TIMEOUT_SECS`,
//! `CONVERRA_IDLE_TIMEOUT_SECS`, `CONVERRA_MAX_CONNECTIONS` (see `http/serve.rs`).

use std::time::Duration;

use super::{ConfigError, positive};
use converra_faces::http::serve::Limits;

/// Whole seconds of at least 1 and a connection count of at least 1; unset is the default.
pub(super) fn limits(get: &impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    let secs = |name, default: Duration| positive(get, name, default.as_secs()).map(Duration::from_secs);
    let max_connections = match get("CONVERRA_MAX_CONNECTIONS") {
        Some(_) => Some(usize::try_from(positive(get, "CONVERRA_MAX_CONNECTIONS", 1)?).unwrap_or(usize::MAX)),
        None => defaults.max_connections,
    };
    Ok(Limits {
        header_read: secs("CONVERRA_HEADER_READ_TIMEOUT_SECS", defaults.header_read)?,
        idle: secs("CONVERRA_IDLE_TIMEOUT_SECS", defaults.idle)?,
        max_connections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_the_default_and_each_value_is_a_whole_number_of_at_least_one() {
        assert_eq!(limits(&|_| None).unwrap(), Limits::default());
        let set = |name: &str| match name {
            "CONVERRA_HEADER_READ_TIMEOUT_SECS" => Some("2".to_owned()),
            "CONVERRA_IDLE_TIMEOUT_SECS" => Some("3".to_owned()),
            "CONVERRA_MAX_CONNECTIONS" => Some("5000".to_owned()),
            _ => None,
        };
        let set = limits(&set).unwrap();
        assert_eq!(
            (set.header_read, set.idle, set.max_connections),
            (Duration::from_secs(2), Duration::from_secs(3), Some(5000))
        );
        for name in ["CONVERRA_HEADER_READ_TIMEOUT_SECS", "CONVERRA_IDLE_TIMEOUT_SECS", "CONVERRA_MAX_CONNECTIONS"] {
            for bad in ["0", "-1", "ten"] {
                let get = |n: &str| (n == name).then(|| bad.to_owned());
                let Err(e) = limits(&get) else { panic!("{name}={bad} was accepted") };
                assert!(e.to_string().starts_with(&format!("{name} is not valid")), "{e}");
            }
        }
    }
}
