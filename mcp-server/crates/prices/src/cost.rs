//! The cost of a call and the bound a budget reserves before it (`prices/README.md`, "How a call is
//! priced").
//!
//! Both choose prices the same way ([`chosen_prices`]: long context by the prompt size, off-peak by
//! the start time, then the tier and the uplifts), so that the reservation and the settled cost of
//! one call can only differ by its usage.

use converra::Provider;
use time::{OffsetDateTime, Weekday};

use crate::decimal::Dec;
use crate::table::{ChargePrice, ClassPrices, ModelRow, OffPeak, PriceTable, Tier};
use crate::{Bound, Call, Cost, TokenClass, Unpriced};

/// The prices that apply to one call, every multiplier applied; `band` names them in messages.
struct Chosen {
    prices: ClassPrices,
    band: &'static str,
}

impl Chosen {
    fn get(&self, class: TokenClass) -> Result<Dec, Unpriced> {
        let p = &self.prices;
        let price = match class {
            TokenClass::Input => p.input,
            TokenClass::InputAudio => p.input_audio,
            TokenClass::CacheRead => p.cache_read,
            TokenClass::CacheWrite => p.cache_write,
            TokenClass::CacheWriteExtended => p.cache_write_extended,
            TokenClass::Output => p.output,
        };
        price.ok_or(Unpriced::NoClassPrice { class, band: self.band })
    }
}

/// Audio prompt tokens are priced at `input` unless the row prices them apart (README,
/// `input_audio`); the same holds for a long-context or tier price set.
fn with_audio(mut prices: ClassPrices, row: &ModelRow) -> ClassPrices {
    if row.prices.input_audio.is_none() && prices.input_audio.is_none() {
        prices.input_audio = prices.input;
    }
    prices
}

fn multiply(prices: &mut ClassPrices, m: Dec) -> Result<(), Unpriced> {
    for v in [
        &mut prices.input,
        &mut prices.input_audio,
        &mut prices.cache_read,
        &mut prices.cache_write,
        &mut prices.cache_write_extended,
        &mut prices.output,
    ]
    .into_iter()
    .flatten()
    {
        *v = v.mul(m).ok_or(Unpriced::Overflow)?;
    }
    Ok(())
}

/// Outside every peak window (UTC), the off-peak prices replace the row's own, which are the peak
/// ones; a class the off-peak table leaves out stays at its peak price.
fn is_off_peak(off_peak: &OffPeak, at: OffsetDateTime) -> bool {
    let at = at.to_offset(time::UtcOffset::UTC);
    let weekend = matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday);
    let minute = u16::from(at.hour()) * 60 + u16::from(at.minute());
    !off_peak.peak_windows.iter().any(|w| !(w.weekdays_only && weekend) && w.from <= minute && minute < w.to)
}

fn overlay(base: &ClassPrices, over: &ClassPrices) -> ClassPrices {
    ClassPrices {
        input: over.input.or(base.input),
        input_audio: over.input_audio.or(base.input_audio),
        cache_read: over.cache_read.or(base.cache_read),
        cache_write: over.cache_write.or(base.cache_write),
        cache_write_extended: over.cache_write_extended.or(base.cache_write_extended),
        output: over.output.or(base.output),
    }
}

/// Whether the reported tier is the default one (no tier price applies).
fn is_default_tier(tier: &str) -> bool {
    matches!(tier, "" | "default" | "standard")
}

fn chosen_prices(
    row: &ModelRow,
    at: OffsetDateTime,
    prompt_tokens: u64,
    tier: Option<&str>,
    uplifts: &[&str],
) -> Result<Chosen, Unpriced> {
    if let Some(limit) = row.unpriced_above_input_tokens
        && prompt_tokens > limit
    {
        return Err(Unpriced::AboveVerifiedContext { prompt_tokens, limit });
    }
    let long = row.long_context.as_ref().filter(|lc| prompt_tokens > lc.above_input_tokens);
    let mut chosen = match (long, &row.off_peak) {
        (Some(lc), _) => Chosen { prices: with_audio(lc.prices.clone(), row), band: "long-context " },
        (None, Some(op)) if is_off_peak(op, at) => {
            Chosen { prices: with_audio(overlay(&row.prices, &op.prices), row), band: "off-peak " }
        }
        (None, _) => Chosen { prices: with_audio(row.prices.clone(), row), band: "" },
    };
    if let Some(tier) = tier.map(|t| t.trim().to_lowercase()).filter(|t| !is_default_tier(t)) {
        match row.tiers.get(&tier) {
            None => return Err(Unpriced::UnknownTier { tier }),
            Some(Tier::Multiplier(m)) => multiply(&mut chosen.prices, *m)?,
            Some(Tier::Prices(_)) if long.is_some() => return Err(Unpriced::TierLongContext { tier }),
            Some(Tier::Prices(p)) => chosen = Chosen { prices: with_audio((**p).clone(), row), band: "tier " },
        }
    }
    for uplift in uplifts {
        let name = uplift.trim().to_lowercase();
        let m = row.uplifts.get(&name).ok_or(Unpriced::UnknownUplift { uplift: name.clone() })?;
        multiply(&mut chosen.prices, *m)?;
    }
    Ok(chosen)
}

impl PriceTable {
    /// The cost of a finished call in micro-USD, or why it has none. The usage is sorted into
    /// disjoint classes (uncached text input = input − cache reads − cache writes − audio), each
    /// priced once, plus the charges; the exact sum is rounded once, half up.
    pub fn cost(&self, call: &Call<'_>) -> Cost {
        match self.try_cost(call) {
            Ok(micro_usd) => Cost::Priced(micro_usd),
            Err(reason) => Cost::Unpriced(reason),
        }
    }

    fn try_cost(&self, call: &Call<'_>) -> Result<u64, Unpriced> {
        let row = match self.lookup(call.provider, call.model, call.at) {
            Ok(found) => found.row,
            Err(reported) => match call.requested_model.map(|m| self.lookup(call.provider, m, call.at)) {
                Some(Ok(found)) => found.row,
                _ => return Err(reported),
            },
        };
        let input = call.input_tokens;
        let set_apart = [call.cache_read_tokens, call.cache_write_tokens, call.cache_write_extended_tokens]
            .into_iter()
            .chain([call.audio_input_tokens])
            .try_fold(0u64, u64::checked_add);
        let uncached_text =
            set_apart.and_then(|n| input.checked_sub(n)).ok_or(Unpriced::InconsistentUsage { input_tokens: input })?;
        let chosen = chosen_prices(row, call.at, input, call.service_tier, call.uplifts)?;
        let classes = [
            (TokenClass::Input, uncached_text),
            (TokenClass::InputAudio, call.audio_input_tokens),
            (TokenClass::CacheRead, call.cache_read_tokens),
            (TokenClass::CacheWrite, call.cache_write_tokens),
            (TokenClass::CacheWriteExtended, call.cache_write_extended_tokens),
            (TokenClass::Output, call.output_tokens),
        ];
        let mut total = Dec::ZERO;
        for (class, tokens) in classes.into_iter().filter(|(_, t)| *t > 0) {
            let price = chosen.get(class)?;
            total = price.mul(Dec::int(tokens)).and_then(|c| total.add(c)).ok_or(Unpriced::Overflow)?;
        }
        for &(name, units) in call.charges.iter().filter(|(_, u)| *u > 0) {
            let charge = self.charge(call.provider, row, name, units, call.at)?;
            total = total.add(charge).ok_or(Unpriced::Overflow)?;
        }
        total.round_half_up().ok_or(Unpriced::Overflow)
    }

    /// The most a call can cost, which a budget reserves before dispatch: every prompt token at the
    /// dearest input-side price the row has (no cache discount assumed, and a cache write can cost
    /// more than plain input), the whole output cap at the output price, every capped charge at its
    /// cap; long-context prices when the prompt is above the threshold. Rounded up, so that it is
    /// never below the cost the call settles at. An error when unpriced or unbounded.
    pub fn max_cost(&self, bound: &Bound<'_>) -> Result<u64, Unpriced> {
        let row = self.lookup(bound.provider, bound.model, bound.at)?.row;
        let chosen = chosen_prices(row, bound.at, bound.prompt_tokens, bound.service_tier, bound.uplifts)?;
        let mut total = Dec::ZERO;
        if bound.prompt_tokens > 0 {
            let p = &chosen.prices;
            let input = chosen.get(TokenClass::Input)?;
            let dearest = [p.input_audio, p.cache_read, p.cache_write, p.cache_write_extended]
                .into_iter()
                .flatten()
                .fold(input, Dec::max);
            total = dearest.mul(Dec::int(bound.prompt_tokens)).ok_or(Unpriced::Overflow)?;
        }
        if bound.max_output_tokens > 0 {
            let output = chosen.get(TokenClass::Output)?.mul(Dec::int(bound.max_output_tokens));
            total = output.and_then(|o| total.add(o)).ok_or(Unpriced::Overflow)?;
        }
        for &(name, cap) in bound.charges {
            let cap = cap.ok_or_else(|| Unpriced::UnboundedCharge { name: name.to_owned() })?;
            if cap > 0 {
                let charge = self.charge(bound.provider, row, name, cap, bound.at)?;
                total = total.add(charge).ok_or(Unpriced::Overflow)?;
            }
        }
        total.ceil().ok_or(Unpriced::Overflow)
    }

    /// `units` of the charge `name` in micro-USD: the row of that name in force at `at` whose
    /// `applies_to` matches the model's id or one of its aliases.
    fn charge(
        &self,
        provider: Provider,
        row: &ModelRow,
        name: &str,
        units: u64,
        at: OffsetDateTime,
    ) -> Result<Dec, Unpriced> {
        let name = name.trim().to_lowercase();
        let ids = || std::iter::once(&row.model).chain(&row.aliases);
        let applies = |pattern: &str| match pattern.strip_suffix('*') {
            Some(prefix) => ids().any(|id| id.starts_with(prefix)),
            None => ids().any(|id| id == pattern),
        };
        let charge = self
            .charges
            .iter()
            .find(|c| {
                c.provider == provider
                    && c.name == name
                    && c.window.contains(at)
                    && c.applies_to.iter().any(|p| applies(p))
            })
            .ok_or_else(|| Unpriced::UnknownCharge { name: name.clone() })?;
        let units = Dec::int(units);
        let cost = match charge.price {
            // USD per 1,000 units = 1,000 micro-USD per unit per USD.
            ChargePrice::Per1k(p) => p.mul(Dec::int(1000)).and_then(|p| p.mul(units)),
            // USD per 1M tokens = micro-USD per token.
            ChargePrice::Per1mTokens(p) => p.mul(units),
            ChargePrice::PerHour => return Err(Unpriced::HourlyCharge { name }),
        };
        cost.ok_or(Unpriced::Overflow)
    }
}
