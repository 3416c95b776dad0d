//! Exact non-negative decimals, so that a cost is rounded once, at the end, exactly half up.
//!
//! Prices are written with a few decimals (`0.075`) and multiplied by tiers and uplifts (`1.1`);
//! binary floats would turn an exact `x.5` micro-dollar into `x.4999…` and round it the wrong way.

/// The value `m / 10^e`, kept with no trailing zeros in `m` (so that products stay small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dec {
    m: u128,
    e: u32,
}

/// The most decimals a number in the file may have: more would be a typo, not a price.
pub(crate) const MAX_DECIMALS: u32 = 9;

impl Dec {
    pub(crate) const ZERO: Dec = Dec { m: 0, e: 0 };

    pub(crate) fn int(n: u64) -> Dec {
        Dec { m: u128::from(n), e: 0 }
    }

    /// The decimal the file's author wrote: TOML hands us an f64, whose shortest round-trip
    /// rendering is the literal as written (for the ≤ 15 significant digits a price has).
    pub(crate) fn from_f64(x: f64) -> Result<Dec, String> {
        if !x.is_finite() {
            return Err("is not a finite number".into());
        }
        if x < 0.0 {
            return Err(format!("is negative ({x})"));
        }
        let text = format!("{x}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let e = u32::try_from(frac.len()).unwrap_or(u32::MAX);
        if e > MAX_DECIMALS {
            return Err(format!("has more than {MAX_DECIMALS} decimals ({x})"));
        }
        let m = format!("{int}{frac}").parse::<u128>().map_err(|_| format!("is too large ({x})"))?;
        Ok(Dec { m, e }.normalized())
    }

    fn normalized(mut self) -> Dec {
        if self.m == 0 {
            return Dec::ZERO;
        }
        while self.e > 0 && self.m.is_multiple_of(10) {
            self.m /= 10;
            self.e -= 1;
        }
        self
    }

    pub(crate) fn is_zero(self) -> bool {
        self.m == 0
    }

    pub(crate) fn mul(self, other: Dec) -> Option<Dec> {
        Some(Dec { m: self.m.checked_mul(other.m)?, e: self.e.checked_add(other.e)? }.normalized())
    }

    /// Both numbers brought to the same exponent.
    fn aligned(self, other: Dec) -> Option<(u128, u128, u32)> {
        let e = self.e.max(other.e);
        let a = self.m.checked_mul(10u128.checked_pow(e - self.e)?)?;
        let b = other.m.checked_mul(10u128.checked_pow(e - other.e)?)?;
        Some((a, b, e))
    }

    pub(crate) fn add(self, other: Dec) -> Option<Dec> {
        let (a, b, e) = self.aligned(other)?;
        Some(Dec { m: a.checked_add(b)?, e }.normalized())
    }

    pub(crate) fn max(self, other: Dec) -> Dec {
        match self.aligned(other) {
            Some((a, b, _)) if a >= b => self,
            Some(_) => other,
            // Alignment overflows only when one exponent is huge, i.e. the number is tiny.
            None if self.e <= other.e => self,
            None => other,
        }
    }

    /// The integer nearest, halves rounded up (away from zero: the numbers are never negative).
    pub(crate) fn round_half_up(self) -> Option<u64> {
        let p = 10u128.checked_pow(self.e)?;
        let (q, r) = (self.m / p, self.m % p);
        let q = if r * 2 >= p && r > 0 { q + 1 } else { q };
        u64::try_from(q).ok()
    }

    /// The smallest integer not below the value: a bound must never be under the cost.
    pub(crate) fn ceil(self) -> Option<u64> {
        let p = 10u128.checked_pow(self.e)?;
        let q = self.m / p + u128::from(!self.m.is_multiple_of(p));
        u64::try_from(q).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Dec;

    fn d(x: f64) -> Dec {
        Dec::from_f64(x).unwrap()
    }

    #[test]
    fn reads_the_literal_exactly() {
        assert_eq!(d(0.075), Dec { m: 75, e: 3 });
        assert_eq!(d(2.0), Dec { m: 2, e: 0 });
        assert_eq!(d(1.32), Dec { m: 132, e: 2 });
        assert_eq!(d(0.0), Dec::ZERO);
        assert_eq!(Dec::from_f64(-1.0).unwrap_err(), "is negative (-1)");
        assert_eq!(Dec::from_f64(0.0000000001).unwrap_err(), "has more than 9 decimals (0.0000000001)");
        assert_eq!(Dec::from_f64(f64::NAN).unwrap_err(), "is not a finite number");
    }

    #[test]
    fn rounds_half_up_exactly() {
        // 0.075 × 20 = 1.5 exactly; as f64 it is 1.5000000000000002 or 1.4999999999999998.
        assert_eq!(d(0.075).mul(Dec::int(20)).unwrap().round_half_up(), Some(2));
        assert_eq!(d(0.15).mul(Dec::int(3)).unwrap().round_half_up(), Some(0)); // 0.45
        assert_eq!(d(0.25).mul(Dec::int(10)).unwrap().round_half_up(), Some(3)); // 2.5
        assert_eq!(d(2.49).round_half_up(), Some(2));
        assert_eq!(d(2.01).ceil(), Some(3));
        assert_eq!(d(2.0).ceil(), Some(2));
        assert_eq!(d(0.1).add(d(0.2)).unwrap(), d(0.3));
        assert_eq!(d(0.2).max(d(0.15)), d(0.2));
    }
}
