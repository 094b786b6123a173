//! Canonical value forms of the Kagami v1 protocol.
//!
//! Every type here is parsed from wire input (`FromStr`/`TryFrom`) and always renders its
//! canonical text with `Display`, so a message built from these types is canonical by
//! construction. See `docs/PROTOCOL.md`, section "Canonical values".

use std::{fmt, str::FromStr};

use alloy_primitives::{Address, B256, keccak256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{Error, Result};

/// A chain name: `[a-z0-9-]{1,50}`, e.g. `base` or `base-sepolia`.
///
/// Uppercase input is rejected rather than folded: chain names are identifiers, and a
/// silently folded `Base` would sign something other than what the user typed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chain(String);

impl Chain {
    /// The maximum length of a chain name in bytes.
    pub const MAX_LEN: usize = 50;

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Chain {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if s.is_empty() || s.len() > Self::MAX_LEN || !valid_chars {
            return Err(Error::InvalidChain { value: truncate(s) });
        }
        Ok(Self(s.to_owned()))
    }
}

/// Parses an agent UUID: 36 characters, hyphenated, hex digits in either case.
///
/// The canonical form (`Uuid`'s `Display`) is lowercase hyphenated. Other UUID spellings
/// (braced, URN, without hyphens) are rejected so that one UUID has one accepted text shape.
///
/// # Errors
/// [`Error::InvalidUuid`] when the text is not a hyphenated 36-character UUID.
pub fn parse_uuid(s: &str) -> Result<Uuid> {
    let hyphens_ok = s.len() == 36
        && s.char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
    if !hyphens_ok {
        return Err(Error::InvalidUuid { value: truncate(s) });
    }
    Uuid::parse_str(s).map_err(|_| Error::InvalidUuid { value: truncate(s) })
}

/// A 32-byte hash (an object id, a root transaction hash): canonical text is `0x` followed by
/// 64 lowercase hex digits. Uppercase hex digits are accepted on input and folded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash32(pub B256);

impl Hash32 {
    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0.0
    }
}

impl From<[u8; 32]> for Hash32 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(B256::from(bytes))
    }
}

impl FromStr for Hash32 {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes: [u8; 32] =
            decode_prefixed_hex(s).ok_or_else(|| Error::InvalidHash { value: truncate(s) })?;
        Ok(Self::from(bytes))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An Ethereum address: canonical text is `0x` followed by 40 lowercase hex digits.
///
/// Input may be all-lowercase, all-uppercase or EIP-55 mixed case; mixed case must carry a
/// correct EIP-55 checksum ([`Error::BadChecksum`] otherwise), because a mixed-case address
/// with a wrong checksum is almost always a typo.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthAddress(pub Address);

impl EthAddress {
    /// The EIP-55 checksummed spelling, for display to humans (never for signing).
    pub fn to_checksum(&self) -> String {
        self.0.to_checksum(None)
    }
}

impl From<Address> for EthAddress {
    fn from(address: Address) -> Self {
        Self(address)
    }
}

impl FromStr for EthAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes: [u8; 20] =
            decode_prefixed_hex(s).ok_or_else(|| Error::InvalidAddress { value: truncate(s) })?;
        let address = Address::from(bytes);
        let digits = &s[2..];
        let mixed_case = digits.bytes().any(|b| b.is_ascii_lowercase())
            && digits.bytes().any(|b| b.is_ascii_uppercase());
        if mixed_case && address.to_checksum(None)[2..] != *digits {
            return Err(Error::BadChecksum {
                value: s.to_owned(),
            });
        }
        Ok(Self(address))
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A point in time with whole-second precision, always rendered as RFC 3339 UTC with a `Z`
/// suffix (`2026-01-16T00:00:00Z`).
///
/// Input may carry any UTC offset (it is converted to UTC) and a fractional part of zero
/// (`.000`); non-zero fractional seconds are rejected with [`Error::FractionalSeconds`].
/// The representable range is `0000-01-01T00:00:00Z` ..= `9999-12-31T23:59:59Z`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// `0000-01-01T00:00:00Z` as Unix seconds.
    pub const MIN_UNIX: i64 = -62_167_219_200;
    /// `9999-12-31T23:59:59Z` as Unix seconds.
    pub const MAX_UNIX: i64 = 253_402_300_799;

    /// A timestamp from Unix seconds.
    ///
    /// # Errors
    /// [`Error::InvalidTimestamp`] outside years 0000..=9999.
    pub fn from_unix(seconds: i64) -> Result<Self> {
        if (Self::MIN_UNIX..=Self::MAX_UNIX).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(Error::InvalidTimestamp {
                value: seconds.to_string(),
            })
        }
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(&self) -> i64 {
        self.0
    }

    /// This timestamp moved by `seconds` (saturating at the representable range).
    #[must_use]
    pub fn add_seconds(&self, seconds: i64) -> Self {
        Self(
            self.0
                .saturating_add(seconds)
                .clamp(Self::MIN_UNIX, Self::MAX_UNIX),
        )
    }

    /// The `time` crate's view of this instant (always UTC).
    pub fn to_offset_date_time(&self) -> OffsetDateTime {
        // The constructor range is checked, so this conversion cannot fail.
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl TryFrom<OffsetDateTime> for Timestamp {
    type Error = Error;

    fn try_from(value: OffsetDateTime) -> Result<Self> {
        if value.nanosecond() != 0 {
            return Err(Error::FractionalSeconds {
                value: value.to_string(),
            });
        }
        Self::from_unix(value.unix_timestamp())
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        // RFC 3339 section 5.6 (`T`/`t` separator; a space is not accepted, nor a leap second,
        // which cannot be represented as Unix seconds unambiguously).
        let separator_ok = matches!(s.as_bytes().get(10), Some(b'T' | b't'));
        let leap_second = s.get(17..19) == Some("60");
        let parsed = OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .filter(|_| separator_ok && !leap_second)
            .ok_or_else(|| Error::InvalidTimestamp { value: truncate(s) })?;
        // The parser keeps nine fraction digits and skips the rest, so check them all.
        let fraction_is_zero = s
            .get(19..)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_none_or(|fraction| {
                fraction
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .all(|d| d == b'0')
            });
        if parsed.nanosecond() != 0 || !fraction_is_zero {
            return Err(Error::FractionalSeconds { value: truncate(s) });
        }
        // `unix_timestamp` needs no conversion: `to_offset(UTC)` panics when the instant falls
        // outside the representable dates (9999-12-31T23:59:00-23:59 is in year 10000).
        Self::from_unix(parsed.unix_timestamp())
            .map_err(|_| Error::InvalidTimestamp { value: truncate(s) })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_offset_date_time();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A free string value (endpoint URI, human labels): any UTF-8 without control characters
/// (U+0000–U+001F and U+007F). Excluding LF is what keeps the line framing of a canonical
/// message unambiguous.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FreeText(String);

impl FreeText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FreeText {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(position) = s.chars().position(|c| c <= '\u{1f}' || c == '\u{7f}') {
            return Err(Error::ControlCharacter { position });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// An agent's operational (hot) key as declared in a manifest: an address (`0x` + 40 hex) or
/// a secp256k1 public key, uncompressed (`0x04` + 128 hex) or compressed (`0x02`/`0x03` + 64
/// hex). Canonical text is lowercase. Public keys must be points on the curve.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pubkey {
    text: String,
    address: EthAddress,
}

impl Pubkey {
    /// The Ethereum address this key signs as: the address itself, or the last 20 bytes of
    /// keccak256 over the 64-byte uncompressed point `x || y` (without the `0x04` prefix).
    pub const fn address(&self) -> EthAddress {
        self.address
    }

    /// The canonical (lowercase) text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Pubkey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidPubkey { value: truncate(s) };
        if s.len() == 42 {
            let address: EthAddress = s.parse()?;
            return Ok(Self {
                text: address.to_string(),
                address,
            });
        }
        // The SEC1 tag is checked here, not left to k256: it also decodes tags the protocol
        // does not allow (0x05, SEC1's "compact" x-only form).
        let bytes = match s.len() {
            132 => decode_prefixed_hex::<65>(s)
                .filter(|b| b[0] == 0x04)
                .map(|b| b.to_vec()),
            68 => decode_prefixed_hex::<33>(s)
                .filter(|b| matches!(b[0], 0x02 | 0x03))
                .map(|b| b.to_vec()),
            _ => None,
        }
        .ok_or_else(invalid)?;
        let point = k256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| invalid())?;
        let uncompressed =
            k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false);
        let hash = keccak256(&uncompressed.as_bytes()[1..]);
        let address = EthAddress(Address::from_slice(&hash[12..]));
        Ok(Self {
            text: format!("0x{}", hex::encode(&bytes)),
            address,
        })
    }
}

impl fmt::Display for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An amount of USDC in micro-units (1 USDC = 1,000,000): canonical text is the whole part
/// without leading zeros, a dot and exactly six fractional digits (`12.500000`, `0.000001`).
///
/// Only the canonical form parses: amounts are signed, so `12.5` and `12.500000` must not be
/// two spellings of one message. The range is 0 to 2^63 − 1 micro-units (every SQL database
/// stores it exactly).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amount(u64);

impl Amount {
    /// The largest amount, 2^63 − 1 micro-units.
    pub const MAX_MICROS: u64 = i64::MAX as u64;
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// An amount of `micros` micro-units.
    ///
    /// # Errors
    /// [`Error::InvalidAmount`] above [`Self::MAX_MICROS`].
    pub fn from_micros(micros: u64) -> Result<Self> {
        if micros > Self::MAX_MICROS {
            return Err(Error::InvalidAmount {
                value: micros.to_string(),
            });
        }
        Ok(Self(micros))
    }

    /// The micro-units.
    pub const fn micros(&self) -> u64 {
        self.0
    }
}

impl FromStr for Amount {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidAmount { value: truncate(s) };
        let (whole, fraction) = s.split_once('.').ok_or_else(invalid)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.len() != 6 || !digits(fraction) {
            return Err(invalid());
        }
        if whole.len() > 1 && whole.starts_with('0') {
            return Err(invalid());
        }
        let whole: u64 = whole.parse().map_err(|_| invalid())?;
        let fraction: u64 = fraction.parse().map_err(|_| invalid())?;
        let micros = whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(fraction))
            .ok_or_else(invalid)?;
        Self::from_micros(micros).map_err(|_| invalid())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses a canonical unsigned integer: decimal ASCII digits, no sign, no leading zeros
/// (`0` itself is fine), at most `u64::MAX`.
///
/// # Errors
/// [`Error::InvalidInteger`] for anything else.
pub fn parse_canonical_u64(s: &str) -> Result<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(Error::InvalidInteger { value: truncate(s) });
    }
    s.parse()
        .map_err(|_| Error::InvalidInteger { value: truncate(s) })
}

/// Decodes `0x` + exactly `2 * N` hex digits (either case).
pub(crate) fn decode_prefixed_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.strip_prefix("0x")?;
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Keeps error messages bounded when the offending input is huge.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

macro_rules! serde_via_str {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_via_str!(
    Chain, Hash32, EthAddress, Timestamp, FreeText, Pubkey, Amount
);

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
