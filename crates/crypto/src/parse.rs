//! Parsing canonical message text back into typed fields: the exact inverse of the builders
//! in `message.rs`.
//!
//! A verifier never needs this (it rebuilds messages from typed fields, `docs/PROTOCOL.md`
//! section 1); it exists for tools that are handed message text — a wallet prompt, a stored
//! receipt, a log line — and must say what it commits to. The parser accepts exactly the
//! texts the builders render, so for every accepted text `t`,
//! `parse_message(t)?.message().as_str() == t`, and for every typed message `m`,
//! `parse_message(m.message().as_str()) == Ok(m)`.
//!
//! Framing (PROTOCOL section 2) is enforced exactly: the first line is a known type tag;
//! then one `key: value` line per field, in the fixed order of the kind, nothing else;
//! lines separated by a single LF, no CR, no trailing LF; every value in its canonical form
//! (section 3) — an accepted variation such as an uppercase UUID or a `+02:00` offset is
//! [`ParseError::NotCanonical`] here, because it cannot be what was signed.
//!
//! Value ranges that are service policy rather than framing (nonces at most 2^63 − 1, hops
//! at most 10) are not checked here, as the builders do not check them either: `kagami-core`
//! enforces them on wire input. A hop must fit the builders' `u32`.
//!
//! Both protocol versions are parsed (v2 adds the forward order, receipt v2 and commitment).
//! Adding a message kind: a [`ParsedMessage`] variant (and its arms in `tag`
//! and `message`), a `FromFields` impl for its type, and one row in `KINDS`.

use uuid::Uuid;

use crate::{
    Amount, CanonicalMessage, Chain, Commitment, CycleReport, EndpointManifest, Error, EthAddress,
    ForwardOrder, ForwardReceipt, FreeText, Hash32, ManifestRevocation, NextHop, Pubkey, Signable,
    Timestamp, canonical::truncate, parse_canonical_u64, parse_uuid,
};

/// A canonical message parsed back into its typed fields, one variant per message kind.
///
/// Non-exhaustive: later protocol versions add kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedMessage {
    /// `Kagami endpoint manifest v1`.
    EndpointManifest(EndpointManifest),
    /// `Kagami forward receipt v1`.
    ForwardReceipt(ForwardReceipt),
    /// `Kagami next hop v1`.
    NextHop(NextHop),
    /// `Kagami cycle report v1`.
    CycleReport(CycleReport),
    /// `Kagami manifest revocation v1`.
    ManifestRevocation(ManifestRevocation),
    /// `Kagami forward order v1` (protocol v2).
    ForwardOrder(ForwardOrder),
    /// `Kagami commitment v1` (protocol v2).
    Commitment(Commitment),
}

impl ParsedMessage {
    /// The type tag (first line) of this kind of message.
    pub const fn tag(&self) -> &'static str {
        match self {
            Self::EndpointManifest(_) => EndpointManifest::TAG,
            Self::ForwardReceipt(r) if r.order.is_some() => ForwardReceipt::TAG_V2,
            Self::ForwardReceipt(_) => ForwardReceipt::TAG,
            Self::NextHop(_) => NextHop::TAG,
            Self::CycleReport(_) => CycleReport::TAG,
            Self::ManifestRevocation(_) => ManifestRevocation::TAG,
            Self::ForwardOrder(_) => ForwardOrder::TAG,
            Self::Commitment(_) => Commitment::TAG,
        }
    }

    /// Renders the canonical message again from the parsed fields; byte-identical to the
    /// parsed text.
    pub fn message(&self) -> CanonicalMessage {
        match self {
            Self::EndpointManifest(m) => m.message(),
            Self::ForwardReceipt(m) => m.message(),
            Self::NextHop(m) => m.message(),
            Self::CycleReport(m) => m.message(),
            Self::ManifestRevocation(m) => m.message(),
            Self::ForwardOrder(m) => m.message(),
            Self::Commitment(m) => m.message(),
        }
    }

    /// The object id: SHA-256 over the message bytes (see [`CanonicalMessage::id`]).
    pub fn id(&self) -> Hash32 {
        self.message().id()
    }
}

/// Parses the text of a canonical v1 message into its kind and typed fields.
///
/// Pure and total: any input yields a value or an error, never a panic.
///
/// # Errors
/// A [`ParseError`] naming the first offending line (1-based) and, where there is one, the
/// field: a trailing LF, a CR, an unknown tag, a missing, misplaced or extra line, a line
/// without `": "`, a value the canonical parsers reject, or one they accept only as a
/// non-canonical variation.
pub fn parse_message(text: &str) -> Result<ParsedMessage, ParseError> {
    if text.ends_with('\n') {
        return Err(ParseError::TrailingLineFeed);
    }
    if let Some(cr) = text.find('\r') {
        let line = text[..cr].matches('\n').count() + 1;
        return Err(ParseError::CarriageReturn { line });
    }
    let mut lines = text.split('\n');
    // `split` always yields at least one item, possibly empty.
    let tag = lines.next().unwrap_or_default();
    let parse = KINDS
        .iter()
        .find(|(known, _)| *known == tag)
        .map(|(_, parse)| parse)
        .ok_or_else(|| ParseError::UnknownTag { tag: truncate(tag) })?;
    let mut fields = Fields {
        lines,
        line_number: 1,
    };
    let message = parse(&mut fields)?;
    fields.finish()?;
    Ok(message)
}

/// Why a text is not a canonical v1 message. Lines are numbered from 1 (the tag line).
///
/// Offending text is echoed truncated to 80 characters; none of it is secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text ends with a line feed; the last line is not terminated.
    #[error("message ends with a line feed; the last line must not be terminated")]
    TrailingLineFeed,
    /// A carriage return; lines are separated by LF alone.
    #[error("line {line}: carriage return; lines are separated by a single LF")]
    CarriageReturn {
        /// The line holding the first CR.
        line: usize,
    },
    /// The first line is not the tag of a known message kind.
    #[error("line 1: unknown message type tag {tag:?}")]
    UnknownTag {
        /// The first line.
        tag: String,
    },
    /// The text ends before a field of its kind.
    #[error("line {line}: message ends before field {key:?}")]
    MissingField {
        /// The line the field belongs on.
        line: usize,
        /// The missing field's key.
        key: &'static str,
    },
    /// A line without the `": "` separator.
    #[error("line {line}: expected `{key}: value`, found {text:?}")]
    MalformedLine {
        /// The offending line.
        line: usize,
        /// The key expected on this line.
        key: &'static str,
        /// The line's text.
        text: String,
    },
    /// A field other than the one the fixed order puts on this line.
    #[error("line {line}: expected key {expected:?}, found {found:?}")]
    UnexpectedKey {
        /// The offending line.
        line: usize,
        /// The key the fixed order puts here.
        expected: &'static str,
        /// The key found.
        found: String,
    },
    /// A value the protocol's canonical parser rejects.
    #[error("line {line}: {key}: {source}")]
    InvalidValue {
        /// The offending line.
        line: usize,
        /// The field.
        key: &'static str,
        /// What the value parser said.
        source: Error,
    },
    /// A valid value that is not in its canonical form (e.g. an uppercase UUID, a
    /// timestamp with an offset), so it cannot be part of a signed message.
    #[error("line {line}: {key}: {value:?} is not canonical, expected {canonical:?}")]
    NotCanonical {
        /// The offending line.
        line: usize,
        /// The field.
        key: &'static str,
        /// The value as found.
        value: String,
        /// Its canonical form.
        canonical: String,
    },
    /// A canonical integer too large for its field.
    #[error("line {line}: {key}: {value} is out of range, at most {max}")]
    OutOfRange {
        /// The offending line.
        line: usize,
        /// The field.
        key: &'static str,
        /// The value found.
        value: u64,
        /// The field's largest value.
        max: u64,
    },
    /// A line after the last field of the kind.
    #[error("line {line}: unexpected line after the last field: {text:?}")]
    TrailingLine {
        /// The first extra line.
        line: usize,
        /// Its text.
        text: String,
    },
}

/// A message kind whose fields can be read back, in its fixed order, from a [`Fields`]
/// cursor positioned after the tag line.
trait FromFields: Signable + Sized {
    /// Reads every field of this kind, in order.
    ///
    /// # Errors
    /// The [`ParseError`] of the first field that is missing, misplaced or not canonical.
    fn from_fields(fields: &mut Fields<'_>) -> Result<Self, ParseError>;
}

/// The `key: value` lines after a message's tag, read one field at a time in the fixed
/// order of its kind.
#[derive(Debug)]
struct Fields<'a> {
    lines: std::str::Split<'a, char>,
    line_number: usize,
}

impl<'a> Fields<'a> {
    /// Reads the next line as field `key` and parses its value canonically.
    ///
    /// # Errors
    /// [`ParseError::MissingField`], [`ParseError::MalformedLine`],
    /// [`ParseError::UnexpectedKey`], [`ParseError::InvalidValue`] or
    /// [`ParseError::NotCanonical`].
    fn field<T: FieldValue>(&mut self, key: &'static str) -> Result<T, ParseError> {
        let (line, raw) = self.raw(key)?;
        let value = T::parse_value(raw).map_err(|source| match source {
            ValueError::Invalid(source) => ParseError::InvalidValue { line, key, source },
            ValueError::OutOfRange { value, max } => ParseError::OutOfRange {
                line,
                key,
                value,
                max,
            },
        })?;
        let canonical = value.canonical();
        if canonical != raw {
            return Err(ParseError::NotCanonical {
                line,
                key,
                value: truncate(raw),
                canonical: truncate(&canonical),
            });
        }
        Ok(value)
    }

    /// The raw value of the next line, which must be field `key`.
    fn raw(&mut self, key: &'static str) -> Result<(usize, &'a str), ParseError> {
        self.line_number += 1;
        let line = self.line_number;
        let text = self
            .lines
            .next()
            .ok_or(ParseError::MissingField { line, key })?;
        let (found, value) = text
            .split_once(": ")
            .ok_or_else(|| ParseError::MalformedLine {
                line,
                key,
                text: truncate(text),
            })?;
        if found != key {
            return Err(ParseError::UnexpectedKey {
                line,
                expected: key,
                found: truncate(found),
            });
        }
        Ok((line, value))
    }

    /// Checks that no line follows the last field.
    fn finish(mut self) -> Result<(), ParseError> {
        match self.lines.next() {
            None => Ok(()),
            Some(text) => Err(ParseError::TrailingLine {
                line: self.line_number + 1,
                text: truncate(text),
            }),
        }
    }
}

/// A field value with one canonical text form: parsed with the protocol's parser, and
/// rendered back to compare with the input.
trait FieldValue: Sized {
    /// Parses the value as the protocol's parsers do (accepting its input variations).
    ///
    /// # Errors
    /// The parser's error, or a range error for integers narrower than `u64`.
    fn parse_value(raw: &str) -> Result<Self, ValueError>;

    /// The canonical text form.
    fn canonical(&self) -> String;
}

/// Why [`FieldValue::parse_value`] rejected a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ValueError {
    /// The protocol's parser rejected it.
    Invalid(Error),
    /// A canonical integer above the field's maximum.
    OutOfRange {
        /// The integer.
        value: u64,
        /// The field's maximum.
        max: u64,
    },
}

impl From<Error> for ValueError {
    fn from(error: Error) -> Self {
        Self::Invalid(error)
    }
}

/// Types whose `FromStr` is the protocol parser and `Display` the canonical form.
macro_rules! field_value_via_str {
    ($($ty:ty),*) => {$(
        impl FieldValue for $ty {
            fn parse_value(raw: &str) -> Result<Self, ValueError> {
                Ok(raw.parse()?)
            }

            fn canonical(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

field_value_via_str!(
    Amount, Chain, EthAddress, FreeText, Hash32, Pubkey, Timestamp
);

impl FieldValue for Uuid {
    fn parse_value(raw: &str) -> Result<Self, ValueError> {
        Ok(parse_uuid(raw)?)
    }

    fn canonical(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u64 {
    fn parse_value(raw: &str) -> Result<Self, ValueError> {
        Ok(parse_canonical_u64(raw)?)
    }

    fn canonical(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u32 {
    fn parse_value(raw: &str) -> Result<Self, ValueError> {
        let value = parse_canonical_u64(raw)?;
        Self::try_from(value).map_err(|_| ValueError::OutOfRange {
            value,
            max: Self::MAX.into(),
        })
    }

    fn canonical(&self) -> String {
        self.to_string()
    }
}

/// A receipt's `next-hop` line: a hash, or the literal `none` for a terminal hop.
impl FieldValue for Option<Hash32> {
    fn parse_value(raw: &str) -> Result<Self, ValueError> {
        match raw {
            NONE => Ok(None),
            hash => Ok(Some(hash.parse()?)),
        }
    }

    fn canonical(&self) -> String {
        self.as_ref()
            .map_or_else(|| NONE.to_owned(), ToString::to_string)
    }
}

/// The `next-hop` value of a terminal hop.
const NONE: &str = "none";

/// Every known tag and the parser of its kind. Keep in the order of PROTOCOL section 4.
type KindParser = fn(&mut Fields<'_>) -> Result<ParsedMessage, ParseError>;
const KINDS: [(&str, KindParser); 8] = [
    (EndpointManifest::TAG, |f| {
        EndpointManifest::from_fields(f).map(ParsedMessage::EndpointManifest)
    }),
    (ForwardReceipt::TAG, |f| {
        ForwardReceipt::from_fields(f).map(ParsedMessage::ForwardReceipt)
    }),
    (NextHop::TAG, |f| {
        NextHop::from_fields(f).map(ParsedMessage::NextHop)
    }),
    (CycleReport::TAG, |f| {
        CycleReport::from_fields(f).map(ParsedMessage::CycleReport)
    }),
    (ManifestRevocation::TAG, |f| {
        ManifestRevocation::from_fields(f).map(ParsedMessage::ManifestRevocation)
    }),
    (ForwardReceipt::TAG_V2, |f| {
        ForwardReceipt::from_fields_v2(f).map(ParsedMessage::ForwardReceipt)
    }),
    (ForwardOrder::TAG, |f| {
        ForwardOrder::from_fields(f).map(ParsedMessage::ForwardOrder)
    }),
    (Commitment::TAG, |f| {
        Commitment::from_fields(f).map(ParsedMessage::Commitment)
    }),
];

impl FromFields for EndpointManifest {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            agent: f.field("agent")?,
            endpoint: f.field("endpoint")?,
            pubkey: f.field("pubkey")?,
            nonce: f.field("nonce")?,
            valid_from: f.field("valid-from")?,
            valid_until: f.field("valid-until")?,
        })
    }
}

impl FromFields for ForwardReceipt {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            root_tx: f.field("root-tx")?,
            hop: f.field("hop")?,
            from: f.field("from")?,
            to: f.field("to")?,
            manifest: f.field("manifest")?,
            order: None,
            next_hop: f.field("next-hop")?,
            nonce: f.field("nonce")?,
        })
    }
}

impl ForwardReceipt {
    /// Receipt v2: an `order` line after `manifest`.
    fn from_fields_v2(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            root_tx: f.field("root-tx")?,
            hop: f.field("hop")?,
            from: f.field("from")?,
            to: f.field("to")?,
            manifest: f.field("manifest")?,
            order: Some(f.field("order")?),
            next_hop: f.field("next-hop")?,
            nonce: f.field("nonce")?,
        })
    }
}

impl FromFields for ForwardOrder {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            root_tx: f.field("root-tx")?,
            hop: f.field("hop")?,
            from: f.field("from")?,
            to: f.field("to")?,
            manifest: f.field("manifest")?,
            amount: f.field("amount")?,
            nonce: f.field("nonce")?,
        })
    }
}

impl FromFields for Commitment {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            root_tx: f.field("root-tx")?,
            payer: f.field("payer")?,
            first_hop: f.field("first-hop")?,
            routing: f.field("routing")?,
            amount: f.field("amount")?,
            lock_until: f.field("lock-until")?,
        })
    }
}

impl FromFields for NextHop {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            root_tx: f.field("root-tx")?,
            to: f.field("to")?,
        })
    }
}

impl FromFields for CycleReport {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            root_tx: f.field("root-tx")?,
            reporter: f.field("reporter")?,
        })
    }
}

impl FromFields for ManifestRevocation {
    fn from_fields(f: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            chain: f.field("chain")?,
            agent: f.field("agent")?,
            manifest: f.field("manifest")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEXT_HOP: &str = "Kagami next hop v1\n\
        root-tx: 0x1407a8bd91697960b53b5c1e9e868ee6897811a239de01f8f7451518665c7d36\n\
        to: 0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b";

    #[test]
    fn struct_field_order_matches_the_rendered_line_order() {
        // The struct literal in `from_fields` evaluates fields in the order written, which
        // must be the message's line order; a rendered message proves it for every kind.
        let parsed = parse_message(NEXT_HOP).unwrap();
        assert_eq!(parsed.tag(), NextHop::TAG);
        assert_eq!(parsed.message().as_str(), NEXT_HOP);
    }

    #[test]
    fn fields_out_of_order_name_the_expected_key() {
        let swapped = "Kagami next hop v1\n\
            to: 0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b\n\
            root-tx: 0x1407a8bd91697960b53b5c1e9e868ee6897811a239de01f8f7451518665c7d36";
        assert_eq!(
            parse_message(swapped).unwrap_err(),
            ParseError::UnexpectedKey {
                line: 2,
                expected: "root-tx",
                found: "to".into()
            }
        );
    }
}
