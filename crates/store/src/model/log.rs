//! The audit log as stored: entries, signed checkpoints, proofs.

use kagami_core::crypto::Timestamp;
use kagami_tlog::{Hash, ProofBundle};

/// One entry of the audit log: pending until the sequencer gives it an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its index in the log; `None` while pending.
    pub index: Option<u64>,
    /// What it records (`manifest`, `forward`, …; docs/PROTOCOL.md §14).
    pub kind: String,
    /// The recorded object's key for its kind (a manifest or receipt hash, a settlement id, …).
    pub key: String,
    /// The entry's bytes, exactly as hashed into the log.
    pub entry: Vec<u8>,
    /// `SHA-256(0x00 || entry)`.
    pub leaf_hash: Hash,
    /// When the object was accepted.
    pub created_at: Timestamp,
}

/// A signed checkpoint of the log as stored: the newest one is the log's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// The signed note (c2sp.org/tlog-checkpoint), verbatim.
    pub checkpoint: String,
}

/// An entry and its inclusion proof in the tree of `tree_size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInclusion {
    /// The entry (integrated: its index is set).
    pub entry: LogEntry,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The proof, leaf's sibling first (RFC 9162 §2.1.3).
    pub proof: Vec<Hash>,
}

/// An object's entry and, once it is integrated, a ready-made offline proof
/// (c2sp.org/tlog-proof) against the log's newest checkpoint whose `extra` holds the
/// entry's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBundle {
    /// The entry.
    pub entry: LogEntry,
    /// The proof bundle; `None` while the entry is pending.
    pub bundle: Option<ProofBundle>,
}
