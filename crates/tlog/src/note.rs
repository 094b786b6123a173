//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys: text signed by
//! one or more keys, each signature on its own `— name base64` line.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::echo;

/// The signature type byte of Ed25519 in key ids and key encodings.
const ED25519: u8 = 0x01;

/// The start of every signature line: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Notes with more signature lines than this are refused unread (the spec asks verifiers
/// to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// A signed note: its text and its signatures, parsed exactly, rendered byte for byte
/// as parsed.
///
/// The text says nothing until [`Note::verify`] has checked a signature from a trusted
/// key; only then should it be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// One signature line of a [`Note`]: a key name, a key id and the signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

/// A public Ed25519 key that verifies notes, with its name and key id.
///
/// Its text form (a *vkey*) is `name+hex(key id)+base64(0x01 || 32-byte public key)`,
/// e.g. `example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

/// A secret Ed25519 key that signs notes, with its name and key id.
///
/// Its text form is `PRIVATE+KEY+name+hex(key id)+base64(0x01 || 32-byte seed)`; `Debug`
/// never shows the seed.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_id: u32,
    key: SigningKey,
}

/// Why a key or note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name that is empty or holds a Unicode space or `+`.
    #[error("invalid key name {name:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName {
        /// The rejected name (truncated).
        name: String,
    },
    /// A verifier key that is not `name+8 lowercase hex digits+base64 of 33 bytes`.
    #[error("malformed verifier key {key:?}")]
    MalformedVerifierKey {
        /// The rejected key text (truncated).
        key: String,
    },
    /// A signer key that is not `PRIVATE+KEY+name+8 hex digits+base64 of 33 bytes`;
    /// the text is not echoed, it may hold a secret.
    #[error("malformed signer key")]
    MalformedSignerKey,
    /// A key of a signature type other than Ed25519 (`0x01`).
    #[error("unsupported signature type 0x{byte:02x}: only Ed25519 (0x01)")]
    UnsupportedSignatureType {
        /// The type byte found.
        byte: u8,
    },
    /// A key whose stated key id is not the one its name and public key give.
    #[error("key {name:?} states key id {stated:08x} but its key gives {computed:08x}")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The key id in the key text.
        stated: u32,
        /// The first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
        computed: u32,
    },
    /// 32 bytes that are not an Ed25519 public key (not a curve point).
    #[error("key {name:?} is not a valid Ed25519 public key")]
    InvalidPublicKey {
        /// The key name.
        name: String,
    },
    /// Note text that is empty or does not end in a newline.
    #[error("note text must end with a newline")]
    TextNotNewlineTerminated,
    /// An ASCII control character other than newline.
    #[error("control character 0x{byte:02x} at byte {offset}")]
    ControlCharacter {
        /// The character's byte value.
        byte: u8,
        /// Its byte offset in the note.
        offset: usize,
    },
    /// No blank line before the signatures, or no signature lines after it.
    #[error("note has no signature lines after a blank line")]
    MissingSignatures,
    /// A line after the blank line that is not `— name base64(key id || signature)`.
    #[error("malformed signature line {line:?}")]
    MalformedSignatureLine {
        /// The rejected line (truncated).
        line: String,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {count} signatures, more than {max}", max = MAX_SIGNATURES)]
    TooManySignatures {
        /// The number of signature lines.
        count: usize,
    },
    /// No signature from any of the trusted keys.
    #[error("note has no signature from a trusted key")]
    NoVerifiedSignature,
    /// A signature from a trusted key that does not verify: the whole note is refused.
    #[error("signature by trusted key {name:?} ({key_id:08x}) does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
}

impl Note {
    /// An unsigned note with `text`; add signatures with [`Note::sign`].
    ///
    /// # Errors
    /// [`NoteError::TextNotNewlineTerminated`] unless the text is non-empty and ends with
    /// `\n`; [`NoteError::ControlCharacter`] for any ASCII control character but `\n`.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// An unsigned note over text the caller built from checked lines.
    pub(crate) fn from_checked_text(text: String) -> Self {
        debug_assert!(check_text(&text).is_ok(), "invalid note text {text:?}");
        Self {
            text,
            signatures: Vec::new(),
        }
    }

    /// Parses a signed note: text ending in `\n`, a blank line, then one or more signature
    /// lines `— name base64(4-byte big-endian key id || signature)`, each ending in `\n`.
    /// The text runs up to the last blank line and may hold blank lines itself.
    ///
    /// Parsing does not verify signatures; [`Note::verify`] does.
    ///
    /// # Errors
    /// [`NoteError::ControlCharacter`], [`NoteError::MissingSignatures`],
    /// [`NoteError::MalformedSignatureLine`], [`NoteError::InvalidKeyName`] (in a signature
    /// line) or [`NoteError::TooManySignatures`].
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        check_control_characters(note)?;
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
        let (text, block) = (&note[..=split], &note[split + 2..]);
        if block.is_empty() {
            return Err(NoteError::MissingSignatures);
        }
        let Some(block) = block.strip_suffix('\n') else {
            return Err(NoteError::MalformedSignatureLine {
                line: echo(block.rsplit('\n').next().unwrap_or(block)),
            });
        };
        let count = block.split('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { count });
        }
        let signatures = block
            .split('\n')
            .map(NoteSignature::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text, including its final newline. Trust it only after [`Note::verify`].
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order, verified or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Appends `signer`'s signature: Ed25519 (RFC 8032) over the note text's UTF-8 bytes,
    /// final newline included, nothing else.
    pub fn sign(&mut self, signer: &SignerKey) {
        let signature = signer.key.sign(self.text.as_bytes());
        self.signatures.push(NoteSignature {
            name: signer.name.clone(),
            key_id: signer.key_id,
            signature: signature.to_bytes().to_vec(),
        });
    }

    /// Checks the signatures against the trusted keys `known` and returns the keys that
    /// signed, in signature order.
    ///
    /// A signature is from a known key when both its name and key id match; others
    /// (witness cosignatures, rotated keys) are ignored, as the spec requires. Every
    /// signature from a known key must verify: Ed25519 over the text bytes, checked with
    /// `verify_strict` (canonical encodings, no small-order keys).
    ///
    /// # Errors
    /// [`NoteError::BadSignature`] when a known key's signature fails (the whole note is
    /// refused); [`NoteError::NoVerifiedSignature`] when no known key signed.
    pub fn verify<'k>(&self, known: &'k [VerifierKey]) -> Result<Vec<&'k VerifierKey>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let Some(key) = known
                .iter()
                .find(|k| k.name == sig.name && k.key_id == sig.key_id)
            else {
                continue;
            };
            let bad = || NoteError::BadSignature {
                name: echo(&sig.name),
                key_id: sig.key_id,
            };
            let signature =
                ed25519_dalek::Signature::from_slice(&sig.signature).map_err(|_| bad())?;
            key.key
                .verify_strict(self.text.as_bytes(), &signature)
                .map_err(|_| bad())?;
            if !verified.contains(&key) {
                verified.push(key);
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    /// The text, a blank line, then one line per signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            writeln!(f, "{sig}")?;
        }
        Ok(())
    }
}

impl FromStr for Note {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

impl NoteSignature {
    fn parse(line: &str) -> Result<Self, NoteError> {
        let malformed = || NoteError::MalformedSignatureLine { line: echo(line) };
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(malformed)?;
        check_name(name)?;
        let bytes = STANDARD.decode(b64).map_err(|_| malformed())?;
        if bytes.len() < 5 {
            return Err(malformed());
        }
        let (id, signature) = bytes.split_at(4);
        let key_id = u32::from_be_bytes(id.try_into().map_err(|_| malformed())?);
        Ok(Self {
            name: name.to_owned(),
            key_id,
            signature: signature.to_vec(),
        })
    }

    /// The signing key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signing key's id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key id (64 for Ed25519).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

impl fmt::Display for NoteSignature {
    /// `— name base64(key id || signature)`, without the newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        write!(
            f,
            "{SIGNATURE_PREFIX}{} {}",
            self.name,
            STANDARD.encode(bytes)
        )
    }
}

impl VerifierKey {
    /// The verifier key named `name` for the Ed25519 public key `public` (32 bytes,
    /// RFC 8032 encoding); its key id is computed (see [`key_id`]).
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`] or [`NoteError::InvalidPublicKey`].
    pub fn new(name: &str, public: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| NoteError::InvalidPublicKey { name: echo(name) })?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, public),
            key,
        })
    }

    /// Parses `name+hex(key id)+base64(0x01 || public key)`; the key id must be 8
    /// lowercase hex digits and equal to the one the name and key give.
    ///
    /// # Errors
    /// [`NoteError::MalformedVerifierKey`], [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedSignatureType`], [`NoteError::InvalidPublicKey`] or
    /// [`NoteError::KeyIdMismatch`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let malformed = || NoteError::MalformedVerifierKey { key: echo(text) };
        // Names hold no '+'; the base64 part may.
        let (name, rest) = text.split_once('+').ok_or_else(malformed)?;
        let (id, b64) = rest.split_once('+').ok_or_else(malformed)?;
        check_name(name)?;
        let stated = parse_key_id(id).ok_or_else(malformed)?;
        let public = decode_typed_key(b64).ok_or_else(malformed)??;
        let key = Self::new(name, &public)?;
        if key.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: echo(name),
                stated,
                computed: key.key_id,
            });
        }
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public
    /// key).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Display for VerifierKey {
    /// `name+hex(key id)+base64(0x01 || public key)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_typed_key(&self.key.to_bytes())
        )
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

impl SignerKey {
    /// The signer key named `name` with the 32-byte Ed25519 secret `seed` (RFC 8032 private
    /// key). Draw the seed from a CSPRNG and keep it secret.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex(key id)+base64(0x01 || seed)`; the key id must be the
    /// one the name and the seed's public key give.
    ///
    /// # Errors
    /// [`NoteError::MalformedSignerKey`], [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedSignatureType`] or [`NoteError::KeyIdMismatch`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let malformed = || NoteError::MalformedSignerKey;
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(malformed)?;
        let (name, rest) = rest.split_once('+').ok_or_else(malformed)?;
        let (id, b64) = rest.split_once('+').ok_or_else(malformed)?;
        check_name(name)?;
        let stated = parse_key_id(id).ok_or_else(malformed)?;
        let seed = decode_typed_key(b64).ok_or_else(malformed)??;
        let key = Self::from_seed(name, &seed)?;
        if key.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: echo(name),
                stated,
                computed: key.key_id,
            });
        }
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as for [`VerifierKey::key_id`].
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key, to publish.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The secret text form `PRIVATE+KEY+name+hex(key id)+base64(0x01 || seed)`, for
    /// storing the key; it holds the seed.
    pub fn to_secret_text(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_typed_key(self.key.as_bytes())
        )
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("seed", &"[REDACTED]")
            .finish()
    }
}

/// The key id of the Ed25519 key `public` named `name`: the first 4 bytes, big-endian, of
/// SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519]);
    hasher.update(public);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::InvalidKeyName { name: echo(name) });
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), NoteError> {
    check_control_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    Ok(())
}

fn check_control_characters(text: &str) -> Result<(), NoteError> {
    match text
        .bytes()
        .enumerate()
        .find(|&(_, b)| b < 0x20 && b != b'\n')
    {
        Some((offset, byte)) => Err(NoteError::ControlCharacter { byte, offset }),
        None => Ok(()),
    }
}

/// Exactly 8 lowercase hex digits.
fn parse_key_id(hex: &str) -> Option<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// `base64(0x01 || 32 bytes)`: `None` when malformed, `Some(Err)` for another type byte.
fn decode_typed_key(b64: &str) -> Option<Result<[u8; 32], NoteError>> {
    let bytes = STANDARD.decode(b64).ok()?;
    let (&kind, key) = bytes.split_first()?;
    let key = <[u8; 32]>::try_from(key).ok()?;
    if kind != ED25519 {
        return Some(Err(NoteError::UnsupportedSignatureType { byte: kind }));
    }
    Some(Ok(key))
}

fn encode_typed_key(key: &[u8; 32]) -> String {
    let mut bytes = [0u8; 33];
    bytes[0] = ED25519;
    bytes[1..].copy_from_slice(key);
    STANDARD.encode(bytes)
}
