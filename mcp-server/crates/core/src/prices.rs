//! What a month's traffic used that the price table does not price: the operator's list of
//! models to add a row for (`converra prices check`), since a call to an unpriced model has no
//! cost (`null`, never 0) and cannot be held to a budget.

use converra::Provider;
use converra_base::ids;
use converra_prices::PriceTable;
use time::{Date, Month, OffsetDateTime, Time};

use crate::usage::OTHER_MODEL;
use crate::{Error, Result, Spend};

/// A model of the month's successful calls that `prices` does not price, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpricedModel {
    pub provider: Provider,
    pub model: String,
    pub requests: u64,
    pub organizations: u64,
    /// The price table's reason (no row, no row in force then, …).
    pub reason: String,
}

/// A month's models against the price table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceCheck {
    pub month: String,
    /// Every provider + model the month's successful calls used.
    pub models_seen: usize,
    pub unpriced: Vec<UnpricedModel>,
    /// Calls recorded under `(other)`: an organization's model names beyond its first 100 of
    /// the month, which no check can name.
    pub other_requests: u64,
}

impl Spend {
    /// Checks `month`'s (`YYYY-MM`, this month by default) models against `prices` at the
    /// instant their calls were priced: now for the current month, its last second for another.
    pub async fn check_prices(&self, prices: &PriceTable, month: Option<&str>) -> Result<PriceCheck> {
        let month = month.map_or_else(ids::current_month, str::to_owned);
        let month = month.as_str();
        let at = instant_of(month)?;
        let seen = self.store.models_seen(month).await?;
        let mut check = PriceCheck { month: month.to_owned(), models_seen: 0, unpriced: Vec::new(), other_requests: 0 };
        for m in seen {
            if m.model == OTHER_MODEL {
                check.other_requests += m.requests;
                continue;
            }
            check.models_seen += 1;
            // A provider this build no longer knows cannot be priced either.
            let Ok(provider) = m.provider.parse::<Provider>() else { continue };
            if let Err(why) = prices.lookup(provider, &m.model, at) {
                let reason = why.to_string();
                check.unpriced.push(UnpricedModel {
                    provider,
                    model: m.model,
                    requests: m.requests,
                    organizations: m.organizations,
                    reason,
                });
            }
        }
        Ok(check)
    }
}

/// Now within the current month; the last second of an earlier (or later) one.
fn instant_of(month: &str) -> Result<OffsetDateTime> {
    let invalid = || Error::validation("month", format!("must be YYYY-MM, like {}", ids::current_month()));
    let (year, number) = month.split_once('-').filter(|_| month.len() == 7).ok_or_else(invalid)?;
    let year: i32 = year.parse().map_err(|_| invalid())?;
    let number = number.parse::<u8>().ok().and_then(|n| Month::try_from(n).ok()).ok_or_else(invalid)?;
    if month == ids::current_month() {
        return Ok(OffsetDateTime::now_utc());
    }
    let last_day =
        (28..=31).rev().find_map(|day| Date::from_calendar_date(year, number, day).ok()).ok_or_else(invalid)?;
    Ok(last_day.with_time(Time::from_hms(23, 59, 59).expect("a valid time")).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::instant_of;

    #[test]
    fn a_past_month_is_checked_at_its_last_second_and_a_bad_month_is_refused() {
        assert_eq!(instant_of("2026-02").unwrap().to_string(), "2026-02-28 23:59:59.0 +00:00:00");
        assert_eq!(instant_of("2024-02").unwrap().to_string(), "2024-02-29 23:59:59.0 +00:00:00");
        assert_eq!(instant_of("2026-11").unwrap().to_string(), "2026-11-30 23:59:59.0 +00:00:00");
        for bad in ["2026-13", "2026-1", "26-11", "november", "2026-11-01"] {
            assert!(instant_of(bad).is_err(), "{bad}");
        }
    }
}
