//! Offline verification of inclusion and consistency proofs, exactly as RFC 9162
//! §2.1.3.2 and §2.1.4.2 describe them.

use crate::hash::{Hash, node_hash};

/// Why a proof could not be generated or did not verify, or a stored-hash read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// An entry index at or beyond the tree size.
    #[error("entry index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested entry index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof asked from a larger tree to a smaller one.
    #[error("old tree size {size1} exceeds new tree size {size2}")]
    SizesOutOfOrder {
        /// The old (first) tree size.
        size1: u64,
        /// The new (second) tree size.
        size2: u64,
    },
    /// A proof with more or fewer hashes than the tree shape requires.
    #[error("proof has {actual} hashes, expected {expected}")]
    ProofLength {
        /// The number of hashes the tree shape requires.
        expected: usize,
        /// The number of hashes given.
        actual: usize,
    },
    /// The root computed from the proof is not the expected (new) root.
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
    /// A consistency proof does not reproduce the old tree's root.
    #[error("consistency proof does not reproduce the old root hash")]
    OldRootMismatch,
    /// A tree size beyond what the stored-hash layout addresses.
    #[error("tree size {size} exceeds the maximum of {max}", max = crate::MAX_TREE_SIZE)]
    TreeTooLarge {
        /// The requested tree size.
        size: u64,
    },
    /// A [`HashReader`](crate::HashReader) answered with the wrong number of hashes.
    #[error("read {actual} stored hashes, expected {expected}")]
    HashCount {
        /// The number of indexes asked for.
        expected: usize,
        /// The number of hashes returned.
        actual: usize,
    },
    /// The in-memory reader (a slice of stored hashes) does not hold this index.
    #[error("stored hash {index} is not present")]
    HashNotStored {
        /// The missing stored-hash index.
        index: u64,
    },
}

/// Verifies that `proof` shows the entry with leaf hash `leaf` at position `index` is in
/// the tree of `size` entries whose root is `root`.
///
/// This is the algorithm of RFC 9162 §2.1.3.2 step by step: `fn = index`,
/// `sn = size - 1`, `r = leaf`; each proof hash `p` is hashed in as
/// `SHA-256(0x01 || p || r)` when `fn` is odd or equal to `sn` (then shifting both until
/// `fn` is odd or zero), and as `SHA-256(0x01 || r || p)` otherwise; both shift right once
/// per hash. The proof verifies only if `sn` reaches 0 exactly at the last hash and `r`
/// equals `root`. Proof hashes are ordered from the leaf's sibling up to the root's child.
///
/// # Errors
/// - [`ProofError::IndexOutOfRange`] when `index >= size` (every index, for an empty tree);
/// - [`ProofError::ProofLength`] when the proof has more or fewer hashes than a tree of
///   this size requires for this index (RFC steps 4a and 5: `sn` reaching 0 early or not
///   at all);
/// - [`ProofError::RootMismatch`] when the computed root is not `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let wrong_length = || ProofError::ProofLength {
        expected: inclusion_proof_len(index, size),
        actual: proof.len(),
    };
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(wrong_length());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that `proof` shows the tree of `size1` entries with root `root1` is a prefix
/// of the tree of `size2` entries with root `root2` (the log only appended).
///
/// For `0 < size1 < size2` this is the algorithm of RFC 9162 §2.1.4.2 step by step: an
/// empty proof fails; when `size1` is a power of two `root1` is prepended to the proof;
/// `fn = size1 - 1`, `sn = size2 - 1`, shifted right together while `fn` is odd; `fr` and
/// `sr` start at the first hash; each later hash `c` updates `fr = SHA-256(0x01 || c || fr)`
/// and `sr = SHA-256(0x01 || c || sr)` when `fn` is odd or equal to `sn` (then shifting
/// both until `fn` is odd or zero), else `sr = SHA-256(0x01 || sr || c)`; both shift right
/// once per hash. It verifies only if `sn` reaches 0 exactly at the last hash,
/// `fr == root1` and `sr == root2`.
///
/// The two cases RFC 9162 leaves outside its definition (`0 < m < n`) are decided here
/// as follows: `size1 == size2` needs an empty proof and `root1 == root2`; `size1 == 0`
/// needs an empty proof and `root1` equal to [`Hash::EMPTY_ROOT`] (the empty tree is a
/// prefix of every tree).
///
/// # Errors
/// - [`ProofError::SizesOutOfOrder`] when `size1 > size2`;
/// - [`ProofError::ProofLength`] when the proof has more or fewer hashes than these two
///   sizes require (including a non-empty proof for the two trivial cases);
/// - [`ProofError::OldRootMismatch`] when the proof does not reproduce `root1` (or
///   `size1 == 0` and `root1` is not the empty root);
/// - [`ProofError::RootMismatch`] when it does not lead to `root2`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    let wrong_length = || ProofError::ProofLength {
        expected: consistency_proof_len(size1, size2),
        actual: proof.len(),
    };
    if size1 == 0 || size1 == size2 {
        if !proof.is_empty() {
            return Err(wrong_length());
        }
        if size1 == 0 && *root1 != Hash::EMPTY_ROOT {
            return Err(ProofError::OldRootMismatch);
        }
        if size1 == size2 && root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1.
    let Some((first, rest)) = proof.split_first() else {
        return Err(wrong_length());
    };
    // Step 2: prepending root1 makes it the path's first value and the whole proof the rest.
    let (seed, path) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (first, rest)
    };
    // Steps 3 and 4.
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // Step 6.
    for c in path {
        if s == 0 {
            return Err(wrong_length());
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(wrong_length());
    }
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of entry `index` in a tree of `size`
/// entries (`index < size`): the levels below the point where the paths to `index` and
/// `size - 1` part, plus one hash per left sibling above it.
pub(crate) fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    (inner + (index >> inner).count_ones()) as usize
}

/// The number of hashes in the consistency proof from `size1` to `size2` entries
/// (`size1 <= size2`); 0 for the trivial cases `size1 == 0` and `size1 == size2`.
pub(crate) fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    if size1 == 0 || size1 >= size2 {
        return 0;
    }
    // The proof is the inclusion proof of the old tree's last entry in the new tree, minus
    // the hashes inside the old tree's rightmost perfect subtree, plus that subtree's root
    // unless it is the whole old tree (which the verifier already knows).
    let shift = size1.trailing_zeros();
    let inner = bit_len((size1 - 1) ^ (size2 - 1));
    let border = ((size1 - 1) >> inner).count_ones();
    let seed = u32::from(!size1.is_power_of_two());
    (seed + inner - shift + border) as usize
}

/// The number of significant bits of `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}
