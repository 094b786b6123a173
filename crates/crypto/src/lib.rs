#![doc = include_str!("../README.md")]

mod canonical;
mod message;
mod parse;
mod signature;
mod transaction;

pub use alloy_primitives::{Address, B256};
pub use alloy_signer_local::PrivateKeySigner;
pub use canonical::{
    Amount, Chain, EthAddress, FreeText, Hash32, Pubkey, Timestamp, parse_canonical_u64, parse_uuid,
};
pub use message::{
    CanonicalMessage, Commitment, CycleReport, EndpointManifest, ForwardOrder, ForwardReceipt,
    ManifestRevocation, NextHop, Signable, Signed,
};
pub use parse::{ParseError, ParsedMessage, parse_message};
pub use signature::Signature;
pub use transaction::SignedTransaction;
pub use uuid::Uuid;

/// SHA-256 over the concatenation of `parts`, for ids derived from fixed-size values
/// (e.g. a flip's id from two manifest ids). Message ids use [`CanonicalMessage::id`].
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a protocol value, signature or verification was rejected.
///
/// Values are echoed (truncated to 80 characters) so the caller can say what was wrong;
/// none of them is secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A chain name outside `[a-z0-9-]{1,50}`.
    #[error("invalid chain {value:?}: expected 1 to 50 characters of [a-z0-9-]")]
    InvalidChain {
        /// The rejected input.
        value: String,
    },
    /// Not a hyphenated 36-character UUID.
    #[error("invalid uuid {value:?}: expected 36 characters, hyphenated")]
    InvalidUuid {
        /// The rejected input.
        value: String,
    },
    /// Not `0x` + 64 hex digits.
    #[error("invalid hash {value:?}: expected 0x followed by 64 hex digits")]
    InvalidHash {
        /// The rejected input.
        value: String,
    },
    /// Not `0x` + 40 hex digits.
    #[error("invalid address {value:?}: expected 0x followed by 40 hex digits")]
    InvalidAddress {
        /// The rejected input.
        value: String,
    },
    /// A mixed-case address whose EIP-55 checksum is wrong.
    #[error("address {value} has a wrong EIP-55 checksum")]
    BadChecksum {
        /// The rejected input.
        value: String,
    },
    /// Not an RFC 3339 timestamp in years 0000..=9999.
    #[error("invalid timestamp {value:?}: expected RFC 3339, e.g. 2026-01-16T00:00:00Z")]
    InvalidTimestamp {
        /// The rejected input.
        value: String,
    },
    /// A timestamp with a non-zero fractional second.
    #[error("timestamp {value:?} has fractional seconds; whole seconds only")]
    FractionalSeconds {
        /// The rejected input.
        value: String,
    },
    /// Not a canonical USDC amount (`x.xxxxxx`: no leading zeros, exactly six decimals) or
    /// above 2^63 − 1 micro-units.
    #[error(
        "invalid amount {value:?}: expected decimal USDC with exactly 6 decimals, e.g. 12.500000"
    )]
    InvalidAmount {
        /// The rejected input.
        value: String,
    },
    /// A free string containing U+0000–U+001F or U+007F.
    #[error(
        "control character at position {position}; free strings must not contain U+0000-U+001F or U+007F"
    )]
    ControlCharacter {
        /// Index (in characters) of the first control character.
        position: usize,
    },
    /// Not a canonical decimal integer.
    #[error("invalid integer {value:?}: expected decimal digits without sign or leading zeros")]
    InvalidInteger {
        /// The rejected input.
        value: String,
    },
    /// Neither an address nor a secp256k1 public key on the curve.
    #[error(
        "invalid pubkey {value:?}: expected an address or a secp256k1 public key (0x04/0x02/0x03 prefix)"
    )]
    InvalidPubkey {
        /// The rejected input.
        value: String,
    },
    /// Not one signed Ethereum transaction (EIP-2718), or no signer recoverable from it.
    #[error("invalid signed transaction: {reason}")]
    InvalidTransaction {
        /// What was wrong.
        reason: String,
    },
    /// A signature that is not `0x` + hex.
    #[error("invalid signature {value:?}: expected 0x followed by hex digits")]
    SignatureHex {
        /// The rejected input.
        value: String,
    },
    /// A signature of the wrong length.
    #[error("signature has {hex_digits} hex digits, expected 130 (65 bytes r || s || v)")]
    SignatureLength {
        /// How many hex digits followed `0x`.
        hex_digits: usize,
    },
    /// A recovery byte outside {0, 1, 27, 28}.
    #[error("signature recovery byte v = {v}, expected 0, 1, 27 or 28")]
    InvalidRecoveryId {
        /// The rejected byte.
        v: u8,
    },
    /// `s` in the upper half of the curve order (malleable, EIP-2).
    #[error("signature s value is in the upper half of the curve order (malleable, EIP-2)")]
    HighS,
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature r or s is zero or not below the curve order")]
    ScalarOutOfRange,
    /// No public key corresponds to the signature.
    #[error("no public key can be recovered from the signature")]
    RecoveryFailed,
    /// A valid signature, by someone else.
    #[error("signature by {recovered}, expected {expected}")]
    WrongSigner {
        /// The address the signature had to come from.
        expected: String,
        /// The address that actually signed.
        recovered: String,
    },
    /// The local signer failed.
    #[error("signing failed: {reason}")]
    Signing {
        /// The signer's reason.
        reason: String,
    },
}
