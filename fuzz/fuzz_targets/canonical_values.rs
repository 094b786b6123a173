//! The canonical value parsers of `kagami-crypto` (PROTOCOL section 3) on arbitrary text.
//!
//! Input: one selector byte (which parser), then the text. Properties, for every parser:
//! it never panics; accepted input renders (`Display`) its canonical form, which is what the
//! spec says the input canonicalises to, and which parses back to an equal value and renders
//! identically (idempotent canonicalisation); rejected input gets the parser's typed error.

#![no_main]

use kagami_crypto::{
    Chain, Error, EthAddress, FreeText, Hash32, Pubkey, Signature, Timestamp, parse_canonical_u64,
    parse_uuid,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 9 {
        0 => timestamp(s),
        1 => address(s),
        2 => uuid(s),
        3 => hash(s),
        4 => chain(s),
        5 => free_text(s),
        6 => pubkey(s),
        7 => signature(s),
        _ => integer(s),
    }
});

/// `canonical` parses back to `value` and renders identically.
fn idempotent<T>(value: &T, canonical: &str)
where
    T: std::str::FromStr<Err = Error> + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    let again: T = canonical
        .parse()
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {value:?} rejected: {e}"));
    assert_eq!(&again, value, "{canonical:?}");
    assert_eq!(again.to_string(), canonical);
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn timestamp(s: &str) {
    match s.parse::<Timestamp>() {
        Ok(t) => {
            let canonical = t.to_string();
            let b = canonical.as_bytes();
            assert_eq!(b.len(), 20, "{canonical}");
            for (i, c) in b.iter().enumerate() {
                let expected_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19);
                assert_eq!(c.is_ascii_digit(), expected_digit, "{canonical}");
            }
            assert_eq!(
                (b[4], b[7], b[10], b[13], b[16], b[19]),
                (b'-', b'-', b'T', b':', b':', b'Z')
            );
            idempotent(&t, &canonical);
            // The same instant as an independent RFC 3339 parser reads.
            let reference =
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|e| panic!("{s:?} accepted but not RFC 3339: {e}"));
            assert_eq!(reference.unix_timestamp(), t.unix(), "{s:?}");
            // Spec: `T`/`t` separator, no leap second, a fraction only if it is zero.
            assert!(matches!(s.as_bytes()[10], b'T' | b't'), "{s:?}");
            assert_ne!(&s[17..19], "60", "{s:?}");
            if let Some(fraction) = s[19..].strip_prefix('.') {
                let digits: String = fraction.chars().take_while(char::is_ascii_digit).collect();
                assert!(
                    digits.bytes().all(|d| d == b'0'),
                    "{s:?} accepted with a non-zero fraction"
                );
            }
        }
        Err(e) => assert!(
            matches!(
                e,
                Error::InvalidTimestamp { .. } | Error::FractionalSeconds { .. }
            ),
            "{s:?}: {e:?}"
        ),
    }
}

fn address(s: &str) {
    match s.parse::<EthAddress>() {
        Ok(a) => {
            let canonical = a.to_string();
            assert_eq!(canonical, s.to_ascii_lowercase(), "{s:?}");
            let digits = &s[2..];
            let one_case = !digits.bytes().any(|b| b.is_ascii_lowercase())
                || !digits.bytes().any(|b| b.is_ascii_uppercase());
            assert!(
                one_case || a.to_checksum() == s,
                "{s:?}: bad checksum accepted"
            );
            idempotent(&a, &canonical);
            // The EIP-55 spelling for humans reads as the same address.
            assert_eq!(a.to_checksum().parse::<EthAddress>(), Ok(a));
        }
        Err(Error::BadChecksum { value }) => {
            assert_eq!(value, s);
            assert!(s.len() == 42 && s.starts_with("0x"), "{s:?}");
            assert!(s[2..].bytes().all(|b| b.is_ascii_hexdigit()), "{s:?}");
        }
        Err(Error::InvalidAddress { .. }) => {}
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn uuid(s: &str) {
    match parse_uuid(s) {
        Ok(u) => {
            let canonical = u.to_string();
            assert_eq!(canonical, s.to_ascii_lowercase(), "{s:?}");
            let again = parse_uuid(&canonical).expect("canonical uuid");
            assert_eq!(again, u);
        }
        Err(Error::InvalidUuid { .. }) => {}
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn hash(s: &str) {
    match s.parse::<Hash32>() {
        Ok(h) => {
            let canonical = h.to_string();
            assert_eq!(canonical, s.to_ascii_lowercase(), "{s:?}");
            assert!(canonical.len() == 66 && is_lower_hex(&canonical[2..]));
            idempotent(&h, &canonical);
        }
        Err(Error::InvalidHash { .. }) => {}
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn chain(s: &str) {
    let valid = (1..=Chain::MAX_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match s.parse::<Chain>() {
        Ok(c) => {
            assert!(valid, "{s:?}");
            assert_eq!(c.to_string(), s);
            idempotent(&c, s);
        }
        Err(Error::InvalidChain { .. }) => assert!(!valid, "{s:?}"),
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn free_text(s: &str) {
    let is_control = |c: char| c <= '\u{1f}' || c == '\u{7f}';
    match s.parse::<FreeText>() {
        Ok(t) => {
            assert!(!s.chars().any(is_control), "{s:?}");
            assert_eq!(t.to_string(), s);
            idempotent(&t, s);
        }
        Err(Error::ControlCharacter { position }) => {
            assert_eq!(s.chars().position(is_control), Some(position), "{s:?}");
        }
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn pubkey(s: &str) {
    match s.parse::<Pubkey>() {
        Ok(k) => {
            let canonical = k.to_string();
            assert_eq!(canonical, s.to_ascii_lowercase(), "{s:?}");
            assert!(is_lower_hex(&canonical[2..]), "{s:?}");
            // Spec: an address, 0x04 + 128 hex, or 0x02/0x03 + 64 hex; nothing else.
            let shape_ok = match canonical.len() {
                42 => true,
                132 => canonical.starts_with("0x04"),
                68 => canonical.starts_with("0x02") || canonical.starts_with("0x03"),
                _ => false,
            };
            assert!(shape_ok, "{s:?} accepted as a pubkey");
            let again: Pubkey = canonical.parse().expect("canonical pubkey");
            assert_eq!(again, k);
            assert_eq!(again.address(), k.address());
            assert_eq!(again.to_string(), canonical);
            if canonical.len() == 42 {
                assert_eq!(k.address().to_string(), canonical);
            } else {
                // The address derivation agrees with an independent one (PROTOCOL section 6).
                let bytes = hex_bytes(&canonical[2..]);
                let point = k256::PublicKey::from_sec1_bytes(&bytes).expect("on the curve");
                let uncompressed =
                    k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false);
                let digest = alloy_primitives::keccak256(&uncompressed.as_bytes()[1..]);
                assert_eq!(k.address().0.as_slice(), &digest[12..]);
            }
        }
        Err(Error::InvalidPubkey { .. }) => {}
        // A 42-character pubkey is parsed as an address, with the address's errors.
        Err(Error::InvalidAddress { .. } | Error::BadChecksum { .. }) => {
            assert_eq!(s.len(), 42, "{s:?}");
        }
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn signature(s: &str) {
    match s.parse::<Signature>() {
        Ok(sig) => {
            let canonical = sig.to_string();
            assert_eq!(canonical.len(), 132);
            assert!(canonical.starts_with("0x") && is_lower_hex(&canonical[2..]));
            assert!(matches!(&canonical[130..], "1b" | "1c"), "{canonical}");
            // r || s verbatim (case folded), v normalised to 27/28.
            assert_eq!(canonical[..130], s[..130].to_ascii_lowercase());
            let v = u8::from_str_radix(&s[130..], 16).expect("hex v");
            assert_eq!(
                u8::from_str_radix(&canonical[130..], 16).expect("hex v"),
                if v < 27 { v + 27 } else { v }
            );
            // Low-s and in-range scalars (EIP-2).
            let half_n: alloy_primitives::U256 =
                "0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0"
                    .parse()
                    .expect("constant");
            let (r, s_value) = (sig.as_alloy().r(), sig.as_alloy().s());
            assert!(!r.is_zero() && !s_value.is_zero() && s_value <= half_n);
            idempotent(&sig, &canonical);
        }
        Err(Error::SignatureHex { .. }) => {
            let well_formed = s
                .strip_prefix("0x")
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!well_formed, "{s:?}");
        }
        Err(Error::SignatureLength { hex_digits }) => {
            assert_eq!(s.len() - 2, hex_digits);
            assert_ne!(hex_digits, 130);
        }
        Err(Error::InvalidRecoveryId { v }) => {
            assert!(!matches!(v, 0 | 1 | 27 | 28));
        }
        Err(Error::HighS | Error::ScalarOutOfRange) => {}
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn integer(s: &str) {
    let canonical_shape =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    match parse_canonical_u64(s) {
        Ok(n) => {
            assert!(canonical_shape, "{s:?}");
            assert_eq!(n.to_string(), s);
        }
        Err(Error::InvalidInteger { .. }) => {
            // Rejected canonical-looking input must be above u64::MAX.
            assert!(!canonical_shape || s.len() >= 20, "{s:?}");
        }
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn hex_bytes(digits: &str) -> Vec<u8> {
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}
