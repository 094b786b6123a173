//! Exact fixed-point USDC amounts.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of USDC held exactly as an integer count of micro-USDC (6 decimals, the token's
/// own precision). Never negative, at most `i64::MAX` micro-USDC (≈ 9.2 trillion USDC), so it
/// fits a PostgreSQL `NUMERIC(20,6)` and an SQLite `INTEGER` without loss.
///
/// Text form (`Display`, JSON): a decimal string with exactly six decimals, e.g.
/// `"100.000000"`. Parsing accepts 0 to 6 decimals (`"100"`, `"0.5"`) and nothing else: no
/// sign, no exponent, no JSON numbers — a float never touches money.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usdc(i64);

impl Usdc {
    /// Micro-USDC per USDC.
    pub const MICROS_PER_USDC: i64 = 1_000_000;
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// The largest representable amount.
    pub const MAX: Self = Self(i64::MAX);

    /// A whole number of USDC.
    pub const fn from_usdc(whole: u32) -> Self {
        Self(whole as i64 * Self::MICROS_PER_USDC)
    }

    /// An amount from micro-USDC.
    ///
    /// # Errors
    /// [`AmountError::Negative`] for negative input.
    pub const fn from_micros(micros: i64) -> Result<Self, AmountError> {
        if micros < 0 {
            Err(AmountError::Negative)
        } else {
            Ok(Self(micros))
        }
    }

    /// The amount in micro-USDC.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` if it would go below zero.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        if other.0 > self.0 {
            None
        } else {
            Some(Self(self.0 - other.0))
        }
    }

    /// `self - other`, floored at zero.
    pub const fn saturating_sub(self, other: Self) -> Self {
        if other.0 > self.0 {
            Self::ZERO
        } else {
            Self(self.0 - other.0)
        }
    }

    /// `self * numerator / denominator`, rounded down to the micro-USDC, saturating at
    /// [`Usdc::MAX`]. Rounding down means a rule never takes or pays more than it says.
    pub fn mul_div_floor(self, numerator: u64, denominator: u64) -> Self {
        if denominator == 0 {
            return Self::MAX;
        }
        let product = i128::from(self.0) * i128::from(numerator) / i128::from(denominator);
        Self(i64::try_from(product).unwrap_or(i64::MAX))
    }
}

impl From<kagami_crypto::Amount> for Usdc {
    /// Exact: an [`kagami_crypto::Amount`] is at most `i64::MAX` micro-units.
    fn from(amount: kagami_crypto::Amount) -> Self {
        Self(i64::try_from(amount.micros()).unwrap_or(i64::MAX))
    }
}

impl From<Usdc> for kagami_crypto::Amount {
    /// Exact: a [`Usdc`] is never negative and at most `i64::MAX` micro-units.
    fn from(usdc: Usdc) -> Self {
        u64::try_from(usdc.micros())
            .ok()
            .and_then(|micros| Self::from_micros(micros).ok())
            .unwrap_or(Self::ZERO)
    }
}

impl FromStr for Usdc {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, AmountError> {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (s.contains('.') && !digits(fraction)) {
            return Err(AmountError::Syntax { value: truncate(s) });
        }
        if fraction.len() > 6 {
            return Err(AmountError::TooManyDecimals { value: truncate(s) });
        }
        let whole: i64 = whole.parse().map_err(|_| AmountError::TooLarge)?;
        let scale = 10i64.pow(6 - fraction.len() as u32);
        let fraction: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| AmountError::TooLarge)?
        };
        whole
            .checked_mul(Self::MICROS_PER_USDC)
            .and_then(|w| w.checked_add(fraction * scale))
            .map(Self)
            .ok_or(AmountError::TooLarge)
    }
}

impl fmt::Display for Usdc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.0 / Self::MICROS_PER_USDC,
            self.0 % Self::MICROS_PER_USDC
        )
    }
}

impl fmt::Debug for Usdc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} USDC")
    }
}

impl Serialize for Usdc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Usdc {
    /// Only JSON strings are accepted; a JSON number is an error, so no float ever becomes an
    /// amount.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An exact sum of [`Usdc`] amounts, in micro-USDC, wide enough never to overflow: an `i128`
/// holds more than `2^63` amounts of [`Usdc::MAX`] each, more rows than any table can hold.
/// Aggregates (totals over incidents, the ledger) are these, never a [`Usdc`], whose `i64`
/// a large enough total would overflow.
///
/// Text form (`Display`, JSON): like [`Usdc`], a decimal string with exactly six decimals.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsdcSum(i128);

impl UsdcSum {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// A sum of micro-USDC, as a database aggregated it (`None` below zero: no sum of amounts
    /// is negative).
    pub const fn from_micros(micros: i128) -> Option<Self> {
        if micros < 0 { None } else { Some(Self(micros)) }
    }

    /// The sum in micro-USDC.
    pub const fn micros(self) -> i128 {
        self.0
    }

    /// `self + amount`. Saturates at `i128::MAX`, which no sum of stored amounts reaches.
    #[must_use]
    pub const fn add(self, amount: Usdc) -> Self {
        Self(self.0.saturating_add(amount.0 as i128))
    }

    /// `self + other`, saturating like [`UsdcSum::add`].
    #[must_use]
    pub const fn plus(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl From<Usdc> for UsdcSum {
    fn from(amount: Usdc) -> Self {
        Self(i128::from(amount.0))
    }
}

impl std::iter::Sum<Usdc> for UsdcSum {
    fn sum<I: Iterator<Item = Usdc>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Self::add)
    }
}

impl std::iter::Sum for UsdcSum {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Self::plus)
    }
}

impl fmt::Display for UsdcSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = i128::from(Usdc::MICROS_PER_USDC);
        write!(f, "{}.{:06}", self.0 / micros, self.0 % micros)
    }
}

impl fmt::Debug for UsdcSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} USDC")
    }
}

impl Serialize for UsdcSum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why an amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain decimal number.
    #[error("invalid amount {value:?}: expected a decimal string such as \"100\" or \"12.5\"")]
    Syntax {
        /// The rejected input.
        value: String,
    },
    /// More than 6 decimals.
    #[error("amount {value:?} has more than 6 decimals (USDC precision)")]
    TooManyDecimals {
        /// The rejected input.
        value: String,
    },
    /// Above [`Usdc::MAX`].
    #[error("amount too large")]
    TooLarge,
    /// Below zero.
    #[error("amount must not be negative")]
    Negative,
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_exactly() {
        let cases = [
            ("0", 0),
            ("100", 100_000_000),
            ("0.000001", 1),
            ("12.5", 12_500_000),
            ("9223372036854.775807", i64::MAX),
        ];
        for (text, micros) in cases {
            let amount: Usdc = text.parse().unwrap();
            assert_eq!(amount.micros(), micros, "{text}");
            let rendered = amount.to_string();
            assert_eq!(rendered.parse::<Usdc>().unwrap(), amount);
        }
        assert_eq!(Usdc::from_usdc(100).to_string(), "100.000000");
    }

    #[test]
    fn rejects_everything_that_is_not_a_plain_decimal() {
        for bad in [
            "", ".5", "5.", "-1", "+1", "1e6", "1,5", " 1", "0x10", "1.2.3",
        ] {
            assert!(
                matches!(bad.parse::<Usdc>(), Err(AmountError::Syntax { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            "1.0000001".parse::<Usdc>(),
            Err(AmountError::TooManyDecimals { .. })
        ));
        assert_eq!(
            "9223372036854.775808".parse::<Usdc>(),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            "99999999999999999999".parse::<Usdc>(),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn json_numbers_are_not_amounts() {
        assert!(serde_json::from_str::<Usdc>("100.5").is_err());
        assert_eq!(
            serde_json::from_str::<Usdc>("\"100.5\"").unwrap(),
            Usdc(100_500_000)
        );
    }

    #[test]
    fn arithmetic_never_goes_negative_or_wraps() {
        let ten = Usdc::from_usdc(10);
        assert_eq!(ten.checked_sub(Usdc::from_usdc(11)), None);
        assert_eq!(ten.saturating_sub(Usdc::from_usdc(11)), Usdc::ZERO);
        assert_eq!(Usdc::MAX.checked_add(Usdc(1)), None);
        assert_eq!(Usdc::MAX.mul_div_floor(3, 1), Usdc::MAX);
        assert_eq!(Usdc(10).mul_div_floor(1, 3), Usdc(3));
        assert_eq!(Usdc::from_micros(-1), Err(AmountError::Negative));
    }
}
