//! JSON integers as JSON Schema counts them: `5` and `5.0` are the same integer (JSON Schema
//! 2020-12, section 6.1.1 of the validation vocabulary), so a request field typed `integer`
//! takes both. A number with a fraction, a negative one, or one beyond what a float holds
//! exactly (2^53) is refused by name.

use std::fmt;

use serde::{Deserializer, de};

/// The largest integer every float of JSON holds exactly.
const EXACT_IN_FLOAT: f64 = 9_007_199_254_740_992.0;

struct Unsigned(&'static str, u64);

impl de::Visitor<'_> for Unsigned {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (an integer from 0 to {})", self.0, self.1)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v > self.1 {
            return Err(E::invalid_value(de::Unexpected::Unsigned(v), &self));
        }
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        if v.fract() != 0.0 || !(0.0..=EXACT_IN_FLOAT).contains(&v) {
            return Err(E::invalid_value(de::Unexpected::Float(v), &self));
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a whole number in 0..=2^53"
        )]
        self.visit_u64(v as u64)
    }
}

/// A `u64` field.
///
/// # Errors
/// When the JSON value is not a whole number from 0 to `u64::MAX`.
pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(Unsigned("an unsigned integer", u64::MAX))
}

/// A `u32` field.
///
/// # Errors
/// When the JSON value is not a whole number from 0 to `u32::MAX`.
pub fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let v = deserializer.deserialize_any(Unsigned("an unsigned integer", u64::from(u32::MAX)))?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::u64")]
        n: u64,
        #[serde(deserialize_with = "super::u32")]
        m: u32,
    }

    fn parse(json: &str) -> Result<(u64, u32), String> {
        serde_json::from_str::<Body>(json)
            .map(|b| (b.n, b.m))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        assert_eq!(parse(r#"{"n": 5, "m": 7}"#), Ok((5, 7)));
        assert_eq!(parse(r#"{"n": 5.0, "m": 7.0}"#), Ok((5, 7)));
        assert_eq!(parse(r#"{"n": 1e3, "m": 0}"#), Ok((1000, 0)));
        assert_eq!(
            parse(r#"{"n": 18446744073709551615, "m": 4294967295}"#),
            Ok((u64::MAX, u32::MAX))
        );
        for bad in [
            r#"{"n": 5.5, "m": 0}"#,
            r#"{"n": -1, "m": 0}"#,
            r#"{"n": -1.0, "m": 0}"#,
            r#"{"n": 1e300, "m": 0}"#,
            r#"{"n": "5", "m": 0}"#,
            r#"{"n": 0, "m": 4294967296}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
