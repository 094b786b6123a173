//! `kagami_core::Usdc`: decimal text amounts and their arithmetic.
//!
//! Input: the text of an amount; its first 32 bytes also seed the arithmetic checks.
//! Properties: parsing never panics; an accepted amount has the value an independent
//! (u128) reading of the text gives, never more than 6 decimals, renders as
//! `<whole>.<6 digits>` and parses back equal (also through JSON); rejections carry the right
//! variant; arithmetic never wraps, goes negative or panics.

#![no_main]

use kagami_core::{AmountError, Usdc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    arithmetic(data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let expected = reference(s);
    match s.parse::<Usdc>() {
        Ok(amount) => {
            assert_eq!(Ok(amount.micros()), expected, "{s:?}");
            let fraction = s.split_once('.').map_or("", |(_, f)| f);
            assert!(
                fraction.len() <= 6,
                "{s:?} accepted with more than 6 decimals"
            );
            let canonical = amount.to_string();
            let (whole, micros) = canonical.split_once('.').expect("a decimal point");
            assert_eq!(micros.len(), 6, "{canonical}");
            assert!(
                whole
                    .bytes()
                    .chain(micros.bytes())
                    .all(|b| b.is_ascii_digit())
            );
            assert!(whole == "0" || !whole.starts_with('0'), "{canonical}");
            assert_eq!(canonical.parse::<Usdc>(), Ok(amount));
            let json = serde_json::to_string(&amount).expect("serialise");
            assert_eq!(json, format!("\"{canonical}\""));
            assert_eq!(
                serde_json::from_str::<Usdc>(&json).expect("deserialise"),
                amount
            );
        }
        Err(e) => assert_eq!(Err(e), expected, "{s:?}"),
    }
});

/// An independent reading of the grammar `digits ["." digits]`, at most 6 decimals, at most
/// `i64::MAX` micro-USDC, computed in u128 so it cannot overflow on the way.
fn reference(s: &str) -> Result<i64, AmountError> {
    let (whole, fraction) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(AmountError::Syntax {
            value: s.chars().take(40).collect(),
        });
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > 6 {
        return Err(AmountError::TooManyDecimals {
            value: s.chars().take(40).collect(),
        });
    }
    let mut micros: u128 = 0;
    for b in whole.bytes() {
        micros = micros * 10 + u128::from(b - b'0');
        if micros > i64::MAX as u128 {
            return Err(AmountError::TooLarge);
        }
    }
    micros *= 1_000_000;
    let mut scale = 100_000;
    for b in fraction.bytes() {
        micros += u128::from(b - b'0') * scale;
        scale /= 10;
    }
    i64::try_from(micros).map_err(|_| AmountError::TooLarge)
}

fn arithmetic(data: &[u8]) {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        for (j, b) in bytes.iter_mut().enumerate() {
            *b = data.get(i * 8 + j).copied().unwrap_or(0);
        }
        u64::from_le_bytes(bytes)
    };
    let amount = |w: u64| Usdc::from_micros((w >> 1) as i64).expect("non-negative");
    let (a, b) = (amount(word(0)), amount(word(1)));
    let (numerator, denominator) = (word(2), word(3));
    assert_eq!(
        Usdc::from_micros(-((word(0) >> 1) as i64) - 1),
        Err(AmountError::Negative)
    );

    let sum = i128::from(a.micros()) + i128::from(b.micros());
    assert_eq!(a.checked_add(b).map(Usdc::micros), i64::try_from(sum).ok());
    let difference = i128::from(a.micros()) - i128::from(b.micros());
    assert_eq!(
        a.checked_sub(b).map(Usdc::micros),
        (difference >= 0).then(|| i64::try_from(difference).expect("fits"))
    );
    assert_eq!(
        a.saturating_sub(b).micros(),
        i64::try_from(difference.max(0)).expect("fits")
    );
    let scaled = a.mul_div_floor(numerator, denominator);
    if denominator == 0 {
        assert_eq!(scaled, Usdc::MAX);
    } else {
        let exact = u128::try_from(a.micros()).expect("non-negative") * u128::from(numerator)
            / u128::from(denominator);
        assert_eq!(
            u128::try_from(scaled.micros()).expect("non-negative"),
            exact.min(i64::MAX as u128)
        );
    }
}
