//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>): a log's origin, tree size
//! and root hash as the text of a signed note.

use std::{fmt, str::FromStr};

use crate::{
    Error,
    hash::Hash,
    note::{Note, SignerKey, VerifierKey},
};

/// A checkpoint's content: origin, tree size, root hash and optional extension lines.
///
/// Renders to the note text `origin\nsize\nbase64(root)\n` followed by one line per
/// extension, every line ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// A [`Checkpoint`] inside the signed note that carries it.
///
/// Its content is only handed out by [`SignedCheckpoint::verify`], after the log's
/// signature checks ([`SignedCheckpoint::unverified_checkpoint`] exists for choosing the
/// key to verify with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Text that does not end with a newline.
    #[error("checkpoint text must end with a newline")]
    NotNewlineTerminated,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint has {lines} lines, needs origin, size and root hash")]
    TooFewLines {
        /// The number of lines found.
        lines: usize,
    },
    /// An empty origin, or one holding a control character.
    #[error("invalid origin {origin:?}: must be non-empty, without control characters")]
    InvalidOrigin {
        /// The rejected origin (truncated).
        origin: String,
    },
    /// A tree size that is not a decimal `u64` without leading zeros.
    #[error("invalid tree size {value:?}: expected decimal digits without leading zeros")]
    InvalidTreeSize {
        /// The rejected line (truncated).
        value: String,
    },
    /// A root hash line that is not standard base64 of 32 bytes.
    #[error("invalid root hash {value:?}: expected base64 of 32 bytes")]
    InvalidRootHash {
        /// The rejected line (truncated).
        value: String,
    },
    /// An empty extension line, or one holding a control character.
    #[error("invalid extension line {line:?}: must be non-empty, without control characters")]
    InvalidExtension {
        /// The rejected line (truncated).
        line: String,
    },
    /// A checkpoint whose origin is not the name of the key it was checked against.
    #[error("checkpoint origin {origin:?} is not the verifier key name {key_name:?}")]
    OriginMismatch {
        /// The checkpoint's origin (truncated).
        origin: String,
        /// The verifier key's name (truncated).
        key_name: String,
    },
}

impl Checkpoint {
    /// A checkpoint of the log `origin` at `size` entries with root hash `root`.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidOrigin`] for an empty origin or one with a control
    /// character (a newline included).
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if !is_line(&origin) {
            return Err(CheckpointError::InvalidOrigin {
                origin: crate::echo(&origin),
            });
        }
        Ok(Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line after the root hash. The spec discourages them (monitors
    /// cannot audit them); they are supported so foreign checkpoints parse and render.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidExtension`] for an empty line or one with a control
    /// character.
    pub fn with_extension(mut self, line: impl Into<String>) -> Result<Self, CheckpointError> {
        let line = line.into();
        if !is_line(&line) {
            return Err(CheckpointError::InvalidExtension {
                line: crate::echo(&line),
            });
        }
        self.extensions.push(line);
        Ok(self)
    }

    /// Parses checkpoint note text: `origin\nsize\nroot\n`, then zero or more non-empty
    /// extension lines, each ending in `\n`. The size is ASCII decimal without leading
    /// zeros (`0` for the empty tree); the root is standard padded base64 of 32 bytes.
    ///
    /// # Errors
    /// [`CheckpointError::NotNewlineTerminated`], [`CheckpointError::TooFewLines`],
    /// [`CheckpointError::InvalidOrigin`], [`CheckpointError::InvalidTreeSize`],
    /// [`CheckpointError::InvalidRootHash`] or [`CheckpointError::InvalidExtension`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotNewlineTerminated)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        };
        let size = parse_decimal(size).ok_or_else(|| CheckpointError::InvalidTreeSize {
            value: crate::echo(size),
        })?;
        let root = Hash::from_base64(root).ok_or_else(|| CheckpointError::InvalidRootHash {
            value: crate::echo(root),
        })?;
        extensions
            .iter()
            .try_fold(Self::new(*origin, size, root)?, |c, line| {
                c.with_extension(*line)
            })
    }

    /// Signs the checkpoint text with `signer` (see [`Note::sign`]): Ed25519 over the
    /// exact bytes [`Checkpoint::to_text`] returns. The key name should be the origin.
    pub fn sign(self, signer: &SignerKey) -> SignedCheckpoint {
        let mut note = self.note();
        note.sign(signer);
        SignedCheckpoint {
            checkpoint: self,
            note,
        }
    }

    /// The note text: origin, size, base64 root hash and extension lines, each followed
    /// by `\n`.
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size: the number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree at [`Checkpoint::size`] entries.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    fn note(&self) -> Note {
        // Built from lines checked on construction: non-empty, no control characters,
        // each ending in a newline, so always valid note text.
        Note::from_checked_text(self.to_text())
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", self.root)?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl FromStr for Checkpoint {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, CheckpointError> {
        Self::parse(s)
    }
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint: a signed note (see [`Note::parse`]) whose text is a
    /// checkpoint (see [`Checkpoint::parse`]). Signatures are not checked here.
    ///
    /// # Errors
    /// [`Error::Note`] or [`Error::Checkpoint`] for the first malformed part.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let note = Note::parse(text)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(Self { checkpoint, note })
    }

    /// Checks that the checkpoint's origin is `verifier`'s key name and that `verifier`
    /// signed it (other signatures, e.g. witness cosignatures, are ignored), and only then
    /// returns the checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError::OriginMismatch`], or [`NoteError::NoVerifiedSignature`] /
    /// [`NoteError::BadSignature`] from [`Note::verify`].
    ///
    /// [`NoteError::NoVerifiedSignature`]: crate::NoteError::NoVerifiedSignature
    /// [`NoteError::BadSignature`]: crate::NoteError::BadSignature
    pub fn verify(&self, verifier: &VerifierKey) -> Result<&Checkpoint, Error> {
        if self.checkpoint.origin != verifier.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: crate::echo(&self.checkpoint.origin),
                key_name: crate::echo(verifier.name()),
            }
            .into());
        }
        self.note.verify(std::slice::from_ref(verifier))?;
        Ok(&self.checkpoint)
    }

    /// Adds another signature over the same text, e.g. a witness cosigning.
    pub fn add_signature(&mut self, signer: &SignerKey) {
        self.note.sign(signer);
    }

    /// The checkpoint before any signature is checked: use it to pick the verifier key by
    /// origin, never to trust its size or root.
    pub fn unverified_checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note carrying the checkpoint.
    pub fn note(&self) -> &Note {
        &self.note
    }
}

impl fmt::Display for SignedCheckpoint {
    /// The signed note, byte for byte as signed or parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.note.fmt(f)
    }
}

impl FromStr for SignedCheckpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// A decimal `u64` in canonical form: ASCII digits only, no sign, no leading zeros
/// except `0` itself.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

fn is_line(text: &str) -> bool {
    !text.is_empty() && !text.bytes().any(|b| b < 0x20)
}
