#![doc = include_str!("../README.md")]

mod bundle;
mod checkpoint;
mod hash;
mod note;
mod proof;
mod storage;

pub use bundle::{BundleError, PROOF_HEADER, ProofBundle};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
pub use note::{MAX_SIGNATURES, Note, NoteError, NoteSignature, SignerKey, VerifierKey, key_id};
pub use proof::{ProofError, verify_consistency, verify_inclusion};
pub use storage::{
    HashReader, MAX_TREE_SIZE, append_batch, append_batch_from_stored, append_batch_indexes,
    consistency_proof_from_stored, consistency_proof_indexes, inclusion_proof_from_stored,
    inclusion_proof_indexes, prove_consistency, prove_inclusion, split_stored_hash_index,
    stored_hash_count, stored_hash_index, stored_hashes, stored_hashes_from_stored,
    stored_hashes_indexes, tree_hash, tree_hash_from_stored, tree_hash_indexes,
};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any failure of this crate, by area. Functions of one area return that area's error;
/// those that span areas (a signed checkpoint, a proof bundle) return this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Tree math, stored-hash reads or proof verification.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Keys and signed notes.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// Checkpoint text.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// tlog proof framing.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// A rejected value for an error message: at most 80 characters. None of the echoed
/// values is secret.
fn echo(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}
