//! Integration tests of kagami-tlog: known-answer vectors from an independent
//! implementation, property tests against a naive tree, one rejection per error variant.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod properties;
mod rejections;
mod vectors;

use kagami_tlog::{Hash, SignerKey, leaf_hash, node_hash, stored_hashes};
use serde_json::Value;

pub(crate) fn vectors_file() -> Value {
    serde_json::from_str(include_str!("../../testdata/vectors.json"))
        .expect("vectors.json is valid JSON")
}

pub(crate) fn hash_from_hex(text: &str) -> Hash {
    Hash(hex::decode(text).unwrap().try_into().unwrap())
}

/// The stored hashes of a log holding `entries`, appended one by one.
pub(crate) fn build_store<E: AsRef<[u8]>>(entries: &[E]) -> Vec<Hash> {
    let mut store = Vec::new();
    for (n, entry) in (0u64..).zip(entries) {
        let new = stored_hashes(n, &leaf_hash(entry.as_ref()), &store).unwrap();
        store.extend(new);
    }
    store
}

/// RFC 6962 MTH by its recursive definition over leaf hashes, sharing no code with the
/// stored-hash layout.
pub(crate) fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::EMPTY_ROOT,
        1 => leaves[0],
        n => {
            // The largest power of two smaller than n.
            let mut k = 1;
            while 2 * k < n {
                k *= 2;
            }
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

/// A signer with a fixed seed, for tests that need any valid key.
pub(crate) fn signer(name: &str) -> SignerKey {
    SignerKey::from_seed(name, &[0x42; 32]).unwrap()
}

/// `hash` with bit `bit` (0..256) flipped.
pub(crate) fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = hash.0;
    bytes[bit / 8] ^= 1 << (bit % 8);
    Hash(bytes)
}
