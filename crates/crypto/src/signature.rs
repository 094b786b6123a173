//! 65-byte EIP-191 `personal_sign` signatures, strictly parsed.

use std::{fmt, str::FromStr};

use alloy_primitives::{B256, U256, uint};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, EthAddress, Result, canonical::truncate};

/// The order `n` of the secp256k1 group.
const SECP256K1_N: U256 =
    uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);
/// `n / 2`: EIP-2 requires `s <= n / 2` so that `(r, n - s, v ^ 1)` is not a second valid
/// signature of the same message.
const SECP256K1_HALF_N: U256 =
    uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// A recoverable secp256k1 signature `r || s || v` that passed the protocol's strict checks:
/// exactly 65 bytes, `v` in {0, 1, 27, 28}, `0 < r < n`, `0 < s <= n/2` (low-s, EIP-2).
///
/// `Display` renders the canonical form: `0x` + 130 lowercase hex digits with `v` as 27/28,
/// which is what `personal_sign` wallets produce.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(alloy_primitives::Signature);

impl Signature {
    /// Checks an alloy signature against the protocol's rules (low-s, scalars in range).
    ///
    /// # Errors
    /// [`Error::HighS`] when `s > n/2`, [`Error::ScalarOutOfRange`] when `r` or `s` is zero
    /// or not below `n`.
    pub fn from_alloy(signature: alloy_primitives::Signature) -> Result<Self> {
        let (r, s) = (signature.r(), signature.s());
        if r.is_zero() || r >= SECP256K1_N || s.is_zero() || s >= SECP256K1_N {
            return Err(Error::ScalarOutOfRange);
        }
        if s > SECP256K1_HALF_N {
            return Err(Error::HighS);
        }
        Ok(Self(signature))
    }

    /// The underlying alloy signature.
    pub const fn as_alloy(&self) -> &alloy_primitives::Signature {
        &self.0
    }

    /// The 65 canonical bytes `r || s || v` with `v` in {27, 28}.
    pub fn to_bytes(&self) -> [u8; 65] {
        self.0.as_bytes()
    }

    /// Recovers the address that signed the 32-byte `prehash` exactly as supplied (no
    /// further hashing or prefixing).
    ///
    /// # Errors
    /// [`Error::RecoveryFailed`] when no public key corresponds to the signature.
    pub fn recover_prehash(&self, prehash: &B256) -> Result<EthAddress> {
        self.0
            .recover_address_from_prehash(prehash)
            .map(EthAddress)
            .map_err(|_| Error::RecoveryFailed)
    }
}

impl FromStr for Signature {
    type Err = Error;

    /// Parses `0x` + 130 hex digits (either case).
    fn from_str(s: &str) -> Result<Self> {
        let digits = s
            .strip_prefix("0x")
            .ok_or_else(|| Error::SignatureHex { value: truncate(s) })?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::SignatureHex { value: truncate(s) });
        }
        if digits.len() != 130 {
            return Err(Error::SignatureLength {
                hex_digits: digits.len(),
            });
        }
        let mut bytes = [0u8; 65];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|_| Error::SignatureHex { value: truncate(s) })?;
        let parity = match bytes[64] {
            0 | 27 => false,
            1 | 28 => true,
            v => return Err(Error::InvalidRecoveryId { v }),
        };
        let r = U256::from_be_slice(&bytes[..32]);
        let s = U256::from_be_slice(&bytes[32..64]);
        Self::from_alloy(alloy_primitives::Signature::new(r, s, parity))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
