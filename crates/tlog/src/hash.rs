//! RFC 6962 / RFC 9162 §2.1.1 hashing: domain-separated SHA-256 for leaves and interior nodes.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

/// The size of every hash in the log, in bytes (SHA-256).
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash in the log's tree: a leaf hash, an interior node hash or a root.
///
/// Displays (and [`Hash::from_base64`] parses) as standard padded base64, the encoding
/// checkpoints and proof bundles use.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, std::hash::Hash)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1),
    /// `47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.
    pub const EMPTY_ROOT: Self = Self([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// The 32 bytes of the hash.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Standard padded base64 (RFC 4648 §4) of the 32 bytes: 44 characters.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard padded base64 of exactly 32 bytes, the inverse of
    /// [`Hash::to_base64`]. Non-canonical encodings (missing padding, non-zero trailing
    /// bits) are refused, so a parsed hash always renders back to the same text.
    ///
    /// Returns `None` for anything else; callers report it with their own error.
    pub fn from_base64(text: &str) -> Option<Self> {
        if text.len() != 44 {
            return None;
        }
        let bytes = STANDARD.decode(text).ok()?;
        <[u8; HASH_SIZE]>::try_from(bytes.as_slice()).ok().map(Self)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The leaf hash of a log entry: `SHA-256(0x00 || data)` (RFC 9162 §2.1.1), over the
/// entry bytes exactly as given.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` over the two 32-byte
/// child hashes (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_SIZE];
    buf[0] = 0x01;
    buf[1..=HASH_SIZE].copy_from_slice(&left.0);
    buf[1 + HASH_SIZE..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_the_empty_string() {
        assert_eq!(Hash::EMPTY_ROOT.0, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(
            Hash::EMPTY_ROOT.to_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn leaf_and_node_hashes_prefix_their_input_with_0x00_and_0x01() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(a.0, <[u8; 32]>::from(Sha256::digest(b"\x00a")));
        let mut node_input = vec![0x01];
        node_input.extend_from_slice(&a.0);
        node_input.extend_from_slice(&b.0);
        assert_eq!(
            node_hash(&a, &b).0,
            <[u8; 32]>::from(Sha256::digest(&node_input))
        );
        // The same 64 bytes as a leaf hash to something else.
        assert_ne!(node_hash(&a, &b), leaf_hash(&node_input[1..]));
    }

    #[test]
    fn base64_round_trips_and_rejects_non_canonical_text() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Some(h));
        let zero = Hash([0; 32]).to_base64();
        assert_eq!(zero, format!("{}=", "A".repeat(43)));
        // Unpadded, truncated, or with non-zero bits after the 256th.
        assert_eq!(Hash::from_base64(zero.trim_end_matches('=')), None);
        assert_eq!(Hash::from_base64(&zero[..40]), None);
        assert_eq!(Hash::from_base64(&format!("{}B=", "A".repeat(42))), None);
    }
}
