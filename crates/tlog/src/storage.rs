//! The tree kept as a flat table of stored hashes, and proofs served from it in
//! O(log n) reads.
//!
//! The layout is the one of Go's `golang.org/x/mod/sumdb/tlog` (section 3.3 of Crosby and
//! Wallach, "Efficient Data Structures for Tamper-Evident Logging"): every complete
//! subtree's hash is stored once, at a dense index that never changes. Appending entry `n`
//! stores its leaf hash at [`stored_hash_index`]`(0, n)` followed by the hashes of the
//! subtrees it completes, so the table only grows at its end.
//!
//! Every computation comes in two halves so a database can batch its reads: a
//! `*_indexes` function lists the stored hashes it needs, and a `*_from_stored` function
//! assembles the result from those hashes, given in the same order. The [`HashReader`]
//! wrappers ([`tree_hash`], [`prove_inclusion`], [`prove_consistency`],
//! [`stored_hashes`], [`append_batch`]) do both with one read.

use crate::{
    hash::{Hash, node_hash},
    proof::ProofError,
};

/// The largest tree size this layout addresses: 2^62 entries. Stored-hash indexes of such
/// a tree stay below 2^63.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Reads stored hashes by index, in one batch.
///
/// A database implements it with one query (`WHERE idx = ANY($1)`), returning the hashes
/// in the order of `indexes`. A slice or `Vec` of all stored hashes in index order is a
/// reader too (element `i` is stored hash `i`), which suits tests and small logs.
pub trait HashReader {
    /// The reader's own failure. It converts from [`ProofError`] so the wrappers can
    /// report a malformed answer (or a bad argument) through it too.
    type Error: From<ProofError>;

    /// Returns the stored hashes at `indexes`, in the same order and as many.
    ///
    /// # Errors
    /// Whatever the storage fails with, e.g. a missing row.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

impl HashReader for [Hash] {
    type Error = ProofError;

    /// # Errors
    /// [`ProofError::HashNotStored`] for an index past the end of the slice.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(ProofError::HashNotStored { index })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    type Error = ProofError;

    /// # Errors
    /// [`ProofError::HashNotStored`] for an index past the end of the vector.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// The stored-hash index of the hash at `level` (0 for leaves) and position `n` within
/// that level: the root of the complete subtree over entries `[n << level, (n + 1) << level)`.
///
/// Defined for the nodes of trees up to [`MAX_TREE_SIZE`] entries; beyond that the
/// arithmetic wraps and the result is meaningless.
pub const fn stored_hash_index(level: u8, n: u64) -> u64 {
    // The hash is stored right after the last leaf of its subtree and the hashes that leaf
    // completes below `level`. Entries 0..m-1 (m = that leaf + 1) fill 2m - popcount(m)
    // slots: m leaves and m - popcount(m) completed subtrees.
    let last = n.wrapping_add(1).wrapping_shl(level as u32).wrapping_sub(1);
    (last.wrapping_mul(2))
        .wrapping_sub(last.count_ones() as u64)
        .wrapping_add(level as u64)
}

/// The inverse of [`stored_hash_index`]: the `(level, n)` of the hash stored at `index`.
///
/// Defined for the indexes of trees up to [`MAX_TREE_SIZE`] entries (below 2^63); beyond
/// that the result is meaningless (but computed without overflow).
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // The entry whose append stored `index` is in [index / 2, index / 2 + log2(index)].
    let mut n = index / 2;
    let mut first = stored_hash_index(0, n);
    for _ in 0..u64::BITS {
        // Appending entry n stores 1 + trailing_ones(n) hashes.
        let next = first.saturating_add(1 + u64::from(n.trailing_ones()));
        if next > index {
            break;
        }
        n += 1;
        first = next;
    }
    let level = index.wrapping_sub(first).min(63) as u8;
    (level, n >> level)
}

/// The number of hashes stored for a tree of `size` entries; equivalently the index where
/// the hashes of entry `size` will be stored.
pub const fn stored_hash_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    stored_hash_index(0, size - 1).wrapping_add(1 + (size - 1).trailing_ones() as u64)
}

/// The stored hashes that [`stored_hashes_from_stored`] needs to append entry `n`: the
/// left siblings of the subtrees entry `n` completes, in increasing index order (at most
/// log2(n) of them, none when `n` is even).
///
/// # Errors
/// [`ProofError::TreeTooLarge`] when the tree would exceed [`MAX_TREE_SIZE`] entries.
pub fn stored_hashes_indexes(n: u64) -> Result<Vec<u64>, ProofError> {
    check_size(n.saturating_add(1))?;
    let completed = n.trailing_ones() as u8;
    Ok((0..completed)
        .rev()
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect())
}

/// The hashes to store when appending entry `n` with leaf hash `leaf`, to be written at
/// consecutive indexes starting at [`stored_hash_index`]`(0, n)` (which is
/// [`stored_hash_count`]`(n)`): the leaf hash, then the hash of each subtree it completes,
/// `SHA-256(0x01 || left sibling || previous)`, lowest first.
///
/// `stored` are the hashes at [`stored_hashes_indexes`]`(n)`, in that order. When a batch
/// of entries is appended at once, hashes of earlier entries in the same batch come from
/// the batch itself rather than storage.
///
/// # Errors
/// [`ProofError::HashCount`] when `stored` does not have one hash per index, or
/// [`ProofError::TreeTooLarge`].
pub fn stored_hashes_from_stored(
    n: u64,
    leaf: &Hash,
    stored: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    let expected = stored_hashes_indexes(n)?.len();
    check_count(expected, stored.len())?;
    let mut hashes = Vec::with_capacity(1 + expected);
    let mut h = *leaf;
    hashes.push(h);
    for sibling in stored.iter().rev() {
        h = node_hash(sibling, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// The stored hashes that [`append_batch_from_stored`] needs to append any number of
/// entries to a tree of `size` entries: the roots of its complete subtrees (the same
/// indexes as [`tree_hash_indexes`]), since new entries only ever merge with those.
///
/// # Errors
/// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`] entries.
pub fn append_batch_indexes(size: u64) -> Result<Vec<u64>, ProofError> {
    tree_hash_indexes(size)
}

/// The hashes to store when appending the entries with leaf hashes `leaves` to a tree of
/// `size` entries, to be written at consecutive indexes starting at
/// [`stored_hash_count`]`(size)`: the same hashes as calling [`stored_hashes_from_stored`]
/// for each entry in turn, with the earlier entries' hashes taken from the batch.
///
/// `stored` are the hashes at [`append_batch_indexes`]`(size)`, in that order.
///
/// # Errors
/// [`ProofError::HashCount`] when `stored` does not have one hash per index, or
/// [`ProofError::TreeTooLarge`] when the tree would exceed [`MAX_TREE_SIZE`] entries.
pub fn append_batch_from_stored(
    size: u64,
    leaves: &[Hash],
    stored: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    let frontier_indexes = append_batch_indexes(size)?;
    check_count(frontier_indexes.len(), stored.len())?;
    let count = u64::try_from(leaves.len()).unwrap_or(u64::MAX);
    check_size(size.saturating_add(count))?;
    let base = stored_hash_count(size);
    let mut written: Vec<Hash> = Vec::with_capacity(2 * leaves.len());
    for (n, leaf) in (size..).zip(leaves) {
        let siblings = stored_hashes_indexes(n)?
            .into_iter()
            .map(|index| {
                let hash = match index.checked_sub(base) {
                    Some(offset) => usize::try_from(offset).ok().and_then(|i| written.get(i)),
                    None => frontier_indexes
                        .iter()
                        .position(|&f| f == index)
                        .and_then(|i| stored.get(i)),
                };
                hash.copied().ok_or(ProofError::HashNotStored { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        written.extend(stored_hashes_from_stored(n, leaf, &siblings)?);
    }
    Ok(written)
}

/// The stored hashes that [`tree_hash_from_stored`] needs for the root of the tree of
/// `size` entries: the roots of its complete subtrees, left to right (at most log2(size) + 1).
///
/// # Errors
/// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`] entries.
pub fn tree_hash_indexes(size: u64) -> Result<Vec<u64>, ProofError> {
    check_size(size)?;
    let mut need = Vec::new();
    subtree_indexes(0, size, &mut need);
    Ok(need)
}

/// The root hash (RFC 9162 MTH) of the tree of `size` entries, from the hashes at
/// [`tree_hash_indexes`]`(size)` in that order; [`Hash::EMPTY_ROOT`] for size 0.
///
/// # Errors
/// [`ProofError::HashCount`] when `stored` does not have one hash per index, or
/// [`ProofError::TreeTooLarge`].
pub fn tree_hash_from_stored(size: u64, stored: &[Hash]) -> Result<Hash, ProofError> {
    check_count(tree_hash_indexes(size)?.len(), stored.len())?;
    if size == 0 {
        return Ok(Hash::EMPTY_ROOT);
    }
    let mut cursor = Cursor::new(stored);
    subtree_hash(0, size, &mut cursor)
}

/// The stored hashes that [`inclusion_proof_from_stored`] needs to prove entry `index` in
/// the tree of `size` entries (at most 2 log2(size) of them).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index >= size`, or [`ProofError::TreeTooLarge`].
pub fn inclusion_proof_indexes(size: u64, index: u64) -> Result<Vec<u64>, ProofError> {
    check_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut need = Vec::new();
    inclusion_indexes(0, size, index, &mut need);
    Ok(need)
}

/// The inclusion proof (RFC 9162 §2.1.3.1 `PATH`) of entry `index` in the tree of `size`
/// entries, from the hashes at [`inclusion_proof_indexes`]`(size, index)` in that order.
/// Hashes go from the leaf's sibling up to the root's child, as [`verify_inclusion`]
/// and tlog-proof bundles expect them.
///
/// [`verify_inclusion`]: crate::verify_inclusion
///
/// # Errors
/// [`ProofError::HashCount`], [`ProofError::IndexOutOfRange`] or
/// [`ProofError::TreeTooLarge`].
pub fn inclusion_proof_from_stored(
    size: u64,
    index: u64,
    stored: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    check_count(inclusion_proof_indexes(size, index)?.len(), stored.len())?;
    let mut cursor = Cursor::new(stored);
    let mut proof = Vec::new();
    inclusion_proof(0, size, index, &mut cursor, &mut proof)?;
    Ok(proof)
}

/// The stored hashes that [`consistency_proof_from_stored`] needs to prove the tree of
/// `size1` entries is a prefix of the tree of `size2` entries. Empty when the proof is
/// (`size1` 0 or equal to `size2`).
///
/// # Errors
/// [`ProofError::SizesOutOfOrder`] when `size1 > size2`, or [`ProofError::TreeTooLarge`].
pub fn consistency_proof_indexes(size1: u64, size2: u64) -> Result<Vec<u64>, ProofError> {
    check_size(size2)?;
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    let mut need = Vec::new();
    if size1 > 0 {
        consistency_indexes(0, size2, size1, &mut need);
    }
    Ok(need)
}

/// The consistency proof (RFC 9162 §2.1.4.1 `PROOF(m, D_n)`) from the tree of `size1`
/// entries to the tree of `size2` entries, from the hashes at
/// [`consistency_proof_indexes`]`(size1, size2)` in that order. Empty when `size1` is 0 or
/// equal to `size2` (see [`verify_consistency`]).
///
/// [`verify_consistency`]: crate::verify_consistency
///
/// # Errors
/// [`ProofError::HashCount`], [`ProofError::SizesOutOfOrder`] or
/// [`ProofError::TreeTooLarge`].
pub fn consistency_proof_from_stored(
    size1: u64,
    size2: u64,
    stored: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    check_count(consistency_proof_indexes(size1, size2)?.len(), stored.len())?;
    let mut proof = Vec::new();
    if size1 > 0 {
        let mut cursor = Cursor::new(stored);
        consistency_proof(0, size2, size1, &mut cursor, &mut proof)?;
    }
    Ok(proof)
}

/// The hashes to store when appending the entries with leaf hashes `leaves` to a tree of
/// `size` entries, reading at most log2(size) + 1 stored hashes from `reader` in one call.
/// See [`append_batch_from_stored`].
///
/// # Errors
/// The reader's error, or [`ProofError`] (converted) as for [`append_batch_from_stored`].
pub fn append_batch<R: HashReader + ?Sized>(
    size: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    let stored = read(reader, &append_batch_indexes(size)?)?;
    Ok(append_batch_from_stored(size, leaves, &stored)?)
}

/// The hashes to store when appending entry `n` with leaf hash `leaf`, reading what it
/// needs from `reader` in one call. See [`stored_hashes_from_stored`].
///
/// # Errors
/// The reader's error, or [`ProofError`] (converted) as for [`stored_hashes_from_stored`].
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    leaf: &Hash,
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    let stored = read(reader, &stored_hashes_indexes(n)?)?;
    Ok(stored_hashes_from_stored(n, leaf, &stored)?)
}

/// The root hash of the tree of `size` entries, reading at most log2(size) + 1 stored
/// hashes from `reader` in one call. See [`tree_hash_from_stored`].
///
/// # Errors
/// The reader's error, or [`ProofError`] (converted) as for [`tree_hash_from_stored`].
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, R::Error> {
    let stored = read(reader, &tree_hash_indexes(size)?)?;
    Ok(tree_hash_from_stored(size, &stored)?)
}

/// The inclusion proof of entry `index` in the tree of `size` entries, reading
/// O(log size) stored hashes from `reader` in one call. See [`inclusion_proof_from_stored`].
///
/// # Errors
/// The reader's error, or [`ProofError`] (converted) as for
/// [`inclusion_proof_from_stored`].
pub fn prove_inclusion<R: HashReader + ?Sized>(
    size: u64,
    index: u64,
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    let stored = read(reader, &inclusion_proof_indexes(size, index)?)?;
    Ok(inclusion_proof_from_stored(size, index, &stored)?)
}

/// The consistency proof from the tree of `size1` entries to the tree of `size2` entries,
/// reading O(log size2) stored hashes from `reader` in one call. See
/// [`consistency_proof_from_stored`].
///
/// # Errors
/// The reader's error, or [`ProofError`] (converted) as for
/// [`consistency_proof_from_stored`].
pub fn prove_consistency<R: HashReader + ?Sized>(
    size1: u64,
    size2: u64,
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    let stored = read(reader, &consistency_proof_indexes(size1, size2)?)?;
    Ok(consistency_proof_from_stored(size1, size2, &stored)?)
}

fn read<R: HashReader + ?Sized>(reader: &R, indexes: &[u64]) -> Result<Vec<Hash>, R::Error> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes)?;
    check_count(indexes.len(), hashes.len())?;
    Ok(hashes)
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge { size });
    }
    Ok(())
}

fn check_count(expected: usize, actual: usize) -> Result<(), ProofError> {
    if expected != actual {
        return Err(ProofError::HashCount { expected, actual });
    }
    Ok(())
}

/// The fetched hashes, consumed in the order their indexes were listed.
struct Cursor<'a> {
    hashes: std::slice::Iter<'a, Hash>,
    len: usize,
}

impl<'a> Cursor<'a> {
    fn new(hashes: &'a [Hash]) -> Self {
        Self {
            hashes: hashes.iter(),
            len: hashes.len(),
        }
    }

    fn next(&mut self) -> Result<Hash, ProofError> {
        // Counts are checked against the index list first, so running out means the index
        // and assembly walks disagree; report it rather than panic.
        self.hashes.next().copied().ok_or(ProofError::HashCount {
            expected: self.len + 1,
            actual: self.len,
        })
    }
}

/// The largest power of two strictly below `n` (`n >= 2`), and its log2: where RFC 9162
/// splits a tree of `n` entries.
fn split(n: u64) -> (u64, u8) {
    let level = (u64::BITS - 1 - (n - 1).leading_zeros()) as u8;
    (1 << level, level)
}

/// Appends the indexes of the complete subtrees covering `[lo, hi)`, left to right.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = split(hi - lo + 1);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// MTH of `[lo, hi)` from the hashes of its complete subtrees, as listed by
/// [`subtree_indexes`]: fold them right to left.
fn subtree_hash(mut lo: u64, hi: u64, cursor: &mut Cursor<'_>) -> Result<Hash, ProofError> {
    let mut parts = Vec::with_capacity(64);
    while lo < hi {
        let (k, _) = split(hi - lo + 1);
        parts.push(cursor.next()?);
        lo += k;
    }
    let mut parts = parts.into_iter().rev();
    let mut h = parts.next().ok_or(ProofError::HashCount {
        expected: 1,
        actual: 0,
    })?;
    for left in parts {
        h = node_hash(&left, &h);
    }
    Ok(h)
}

/// Indexes for the inclusion proof of `index` in the subtree `[lo, hi)`.
fn inclusion_indexes(lo: u64, hi: u64, index: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let (k, _) = split(hi - lo);
    if index < lo + k {
        inclusion_indexes(lo, lo + k, index, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        inclusion_indexes(lo + k, hi, index, need);
    }
}

/// `PATH(index, D[lo:hi])`, deepest hash first, reading hashes in [`inclusion_indexes`] order.
fn inclusion_proof(
    lo: u64,
    hi: u64,
    index: u64,
    cursor: &mut Cursor<'_>,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if lo + 1 == hi {
        return Ok(());
    }
    let (k, _) = split(hi - lo);
    let sibling = if index < lo + k {
        inclusion_proof(lo, lo + k, index, cursor, proof)?;
        subtree_hash(lo + k, hi, cursor)?
    } else {
        let left = subtree_hash(lo, lo + k, cursor)?;
        inclusion_proof(lo + k, hi, index, cursor, proof)?;
        left
    };
    proof.push(sibling);
    Ok(())
}

/// Indexes for `SUBPROOF(m, D[lo:hi], lo == 0)`, `lo < m <= hi`.
fn consistency_indexes(lo: u64, hi: u64, m: u64, need: &mut Vec<u64>) {
    if m == hi {
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let (k, _) = split(hi - lo);
    if m <= lo + k {
        consistency_indexes(lo, lo + k, m, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        consistency_indexes(lo + k, hi, m, need);
    }
}

/// `SUBPROOF(m, D[lo:hi], lo == 0)`, deepest hash first, reading hashes in
/// [`consistency_indexes`] order. The old tree is `[0, m)`; a subtree that starts at 0 and
/// ends at `m` is the old tree itself, whose root the verifier already has.
fn consistency_proof(
    lo: u64,
    hi: u64,
    m: u64,
    cursor: &mut Cursor<'_>,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if m == hi {
        if lo != 0 {
            proof.push(subtree_hash(lo, hi, cursor)?);
        }
        return Ok(());
    }
    let (k, _) = split(hi - lo);
    let sibling = if m <= lo + k {
        consistency_proof(lo, lo + k, m, cursor, proof)?;
        subtree_hash(lo + k, hi, cursor)?
    } else {
        let left = subtree_hash(lo, lo + k, cursor)?;
        consistency_proof(lo + k, hi, m, cursor, proof)?;
        left
    };
    proof.push(sibling);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_indexes_follow_the_append_order() {
        // Entries 0..4 store: leaf0, leaf1, (1,0), leaf2, leaf3, (1,1), (2,0).
        let order = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0)];
        for (i, &(level, n)) in order.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n), i as u64, "({level}, {n})");
            assert_eq!(split_stored_hash_index(i as u64), (level, n));
        }
        assert_eq!(
            (0..=5).map(stored_hash_count).collect::<Vec<_>>(),
            [0, 1, 3, 4, 7, 8]
        );
    }

    #[test]
    fn split_inverts_stored_hash_index_over_a_range() {
        for index in 0..5000 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
    }

    #[test]
    fn indexes_outside_the_layout_do_not_panic() {
        let _ = stored_hash_index(200, u64::MAX);
        let _ = split_stored_hash_index(u64::MAX);
        let _ = stored_hash_count(u64::MAX);
    }

    #[test]
    fn largest_tree_indexes_do_not_overflow() {
        let last = MAX_TREE_SIZE - 1;
        assert!(stored_hash_index(0, last) < 1 << 63);
        assert!(stored_hash_count(MAX_TREE_SIZE) <= 1 << 63);
        assert_eq!(
            stored_hash_index(62, 0),
            stored_hash_count(MAX_TREE_SIZE) - 1
        );
        assert!(inclusion_proof_indexes(MAX_TREE_SIZE, last).is_ok());
        assert!(consistency_proof_indexes(MAX_TREE_SIZE - 3, MAX_TREE_SIZE).is_ok());
    }
}
