//! C2SP tlog proofs (<https://c2sp.org/tlog-proof>): an entry's index, its inclusion proof
//! and the signed checkpoint it is included under, verifiable offline in one call.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    Error,
    checkpoint::{Checkpoint, SignedCheckpoint, parse_decimal},
    hash::{Hash, leaf_hash},
    note::VerifierKey,
    proof::verify_inclusion,
};

/// The first line of every tlog proof.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A tlog proof (`.tlog-proof` file): offline evidence that an entry is in a log.
///
/// Rendered as, each line ending in `\n`:
///
/// ```text
/// c2sp.org/tlog-proof@v1
/// extra <base64 extra data>        (only when there is extra data)
/// index <decimal entry index>
/// <base64 proof hash>              (zero or more, leaf's sibling first)
///
/// <signed checkpoint, verbatim>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBundle {
    /// Opaque application data, not authenticated by anything: never trust it implicitly.
    pub extra: Option<Vec<u8>>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The inclusion proof of the entry in the checkpoint's tree, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The log's signed checkpoint (possibly with witness cosignatures).
    pub checkpoint: SignedCheckpoint,
}

/// Why a tlog proof's framing was refused (its checkpoint reports [`Error::Note`] or
/// [`Error::Checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The first line is not [`PROOF_HEADER`].
    #[error("missing tlog proof header line {PROOF_HEADER:?}")]
    MissingHeader,
    /// An `extra` line whose data is not standard base64.
    #[error("invalid extra line {line:?}: expected \"extra \" and base64")]
    InvalidExtra {
        /// The rejected line (truncated).
        line: String,
    },
    /// A missing index line, or one that is not `index ` and a canonical decimal.
    #[error("invalid index line {line:?}: expected \"index \" and decimal digits")]
    InvalidIndex {
        /// The rejected line (truncated).
        line: String,
    },
    /// A proof line that is not standard base64 of 32 bytes.
    #[error("invalid proof hash line {line:?}: expected base64 of 32 bytes")]
    InvalidProofHash {
        /// The rejected line (truncated).
        line: String,
    },
    /// No blank line and checkpoint after the proof hashes.
    #[error("missing blank line and checkpoint after the proof hashes")]
    MissingCheckpoint,
}

impl ProofBundle {
    /// Parses a tlog proof (see [`ProofBundle`] for the layout). Index and hashes are
    /// canonical (no leading zeros, padded base64) so a parsed proof renders back to
    /// the same bytes. Nothing is verified here.
    ///
    /// # Errors
    /// [`BundleError`] for the framing, [`Error::Note`] / [`Error::Checkpoint`] for the
    /// checkpoint.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let rest = text
            .strip_prefix(PROOF_HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(BundleError::MissingHeader)?;
        let (extra, rest) = match rest.strip_prefix("extra ") {
            Some(after) => {
                let (data, rest) = after.split_once('\n').unwrap_or((after, ""));
                let bytes = STANDARD
                    .decode(data)
                    .map_err(|_| BundleError::InvalidExtra {
                        line: crate::echo(&format!("extra {data}")),
                    })?;
                (Some(bytes), rest)
            }
            None => (None, rest),
        };
        let (line, mut rest) = rest.split_once('\n').unwrap_or((rest, ""));
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| BundleError::InvalidIndex {
                line: crate::echo(line),
            })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(BundleError::MissingCheckpoint)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            proof.push(
                Hash::from_base64(line).ok_or_else(|| BundleError::InvalidProofHash {
                    line: crate::echo(line),
                })?,
            );
        }
        if rest.is_empty() {
            return Err(BundleError::MissingCheckpoint.into());
        }
        let checkpoint = SignedCheckpoint::parse(rest)?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// Verifies the proof end to end for the entry bytes `entry` and returns the
    /// checkpoint it is included under:
    ///
    /// 1. the checkpoint's origin is `verifier`'s name and `verifier` signed it
    ///    ([`SignedCheckpoint::verify`]; other signatures are ignored);
    /// 2. the leaf hash `SHA-256(0x00 || entry)` is at [`ProofBundle::index`] in the tree
    ///    of the checkpoint's size and root ([`verify_inclusion`]).
    ///
    /// The extra data plays no part: it is not authenticated.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] / [`Error::Note`] when the checkpoint is not the `verifier`'s
    /// or its signature fails; [`Error::Proof`] when the inclusion proof fails.
    pub fn verify(&self, entry: &[u8], verifier: &VerifierKey) -> Result<&Checkpoint, Error> {
        let checkpoint = self.checkpoint.verify(verifier)?;
        verify_inclusion(
            &leaf_hash(entry),
            self.index,
            checkpoint.size(),
            &self.proof,
            checkpoint.root(),
        )?;
        Ok(checkpoint)
    }
}

impl fmt::Display for ProofBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{PROOF_HEADER}")?;
        if let Some(extra) = &self.extra {
            writeln!(f, "extra {}", STANDARD.encode(extra))?;
        }
        writeln!(f, "index {}", self.index)?;
        for hash in &self.proof {
            writeln!(f, "{hash}")?;
        }
        writeln!(f)?;
        self.checkpoint.fmt(f)
    }
}

impl FromStr for ProofBundle {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}
