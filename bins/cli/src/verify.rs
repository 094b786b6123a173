//! `kagami verify`: offline EIP-191 signature verification of a message file.
//!
//! A message whose first line is the tag of a Kagami protocol message (v1 or v2) must also be
//! that message's canonical text (`kagami_crypto::parse_message` accepts exactly the texts the
//! builders render), so a genuine signature over text no verifier would rebuild (`amount:
//! 12.5`, an upper-case UUID, a missing or reordered line) is refused. Any other text is
//! checked as a plain `personal_sign` message.

use anyhow::{Context, Result};
use kagami_crypto::{EthAddress, ParseError, Signature, parse_message};
use serde_json::json;

use crate::{Status, cli::VerifyArgs, output::Printer};

/// The verdict on one signature.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Well-formed, and signed by `signer` (the expected address, when one was given).
    Valid { signer: EthAddress },
    /// Malformed, malleable, unrecoverable, or by someone other than expected.
    Invalid { reason: String },
}

/// Verifies `signature` over `message` exactly as `personal_sign` signs:
/// `keccak256("\x19Ethereum Signed Message:\n" || len || message)`, then recovery of the
/// signer, under the protocol's strict signature rules (65 bytes, `v` in {0, 1, 27, 28},
/// low-s).
pub(crate) fn verify(message: &[u8], signature: &str, expect: Option<&EthAddress>) -> Verdict {
    let signature: Signature = match signature.trim().parse() {
        Ok(signature) => signature,
        Err(e) => {
            return Verdict::Invalid {
                reason: e.to_string(),
            };
        }
    };
    let digest = alloy_primitives::eip191_hash_message(message);
    let signer = match signature.recover_prehash(&digest) {
        Ok(signer) => signer,
        Err(e) => {
            return Verdict::Invalid {
                reason: e.to_string(),
            };
        }
    };
    match expect {
        Some(expected) if *expected != signer => Verdict::Invalid {
            reason: format!("signature by {signer}, expected {expected}"),
        },
        _ => Verdict::Valid { signer },
    }
}

/// What the message text is, as far as the protocol is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// Not a Kagami protocol message this CLI knows (only the signature is checked).
    Other,
    /// The canonical text of the protocol message with this tag.
    Canonical { tag: &'static str },
    /// Tagged as a protocol message, but not the canonical text of any such message.
    NotCanonical { tag: String, reason: String },
}

/// Classifies `message` with the protocol's parser (`kagami_crypto::parse_message`, the exact
/// inverse of the message builders): a known tag whose text is not the canonical message is
/// named with the first line at fault.
///
/// Whether the text claims to be a protocol message is decided by its first line alone
/// (without a trailing CR): the parser checks line endings before the tag, so plain text
/// with CRLF line endings or a final line feed is not mistaken for a malformed protocol
/// message.
pub(crate) fn protocol_form(message: &[u8]) -> Form {
    let Ok(text) = std::str::from_utf8(message) else {
        return Form::Other;
    };
    let first = text.split('\n').next().unwrap_or_default();
    let tag = first.strip_suffix('\r').unwrap_or(first);
    // A known tag alone fails on its first missing field; an unknown one on the tag.
    if matches!(parse_message(tag), Err(ParseError::UnknownTag { .. })) {
        return Form::Other;
    }
    match parse_message(text) {
        Ok(parsed) => Form::Canonical { tag: parsed.tag() },
        Err(e) => Form::NotCanonical {
            tag: tag.to_owned(),
            reason: e.to_string(),
        },
    }
}

pub(crate) fn run(args: &VerifyArgs, out: &Printer) -> Result<Status> {
    let mut message = crate::read_input(&args.message)?;
    if !args.exact {
        if message.ends_with(b"\r\n") {
            message.truncate(message.len() - 2);
        } else if message.ends_with(b"\n") {
            message.truncate(message.len() - 1);
        }
    }
    let expect = args
        .expect
        .as_deref()
        .map(|a| a.trim().parse::<EthAddress>())
        .transpose()
        .context("invalid --expect address")?;
    let id = alloy_primitives::hex::encode_prefixed(kagami_crypto::sha256(&[&message]));
    let kind = std::str::from_utf8(&message)
        .ok()
        .and_then(|text| text.lines().next())
        .filter(|tag| tag.starts_with("Kagami "))
        .map(str::to_owned);
    let form = protocol_form(&message);
    let verdict = match &form {
        Form::NotCanonical { tag, reason } => Verdict::Invalid {
            reason: format!("not a canonical {tag} message: {reason}"),
        },
        Form::Canonical { .. } | Form::Other => verify(&message, &args.signature, expect.as_ref()),
    };
    let canonical = match form {
        Form::Other => None,
        Form::Canonical { .. } => Some(true),
        Form::NotCanonical { .. } => Some(false),
    };
    let (valid, signer, reason) = match &verdict {
        Verdict::Valid { signer } => (true, Some(signer.to_string()), None),
        Verdict::Invalid { reason } => (false, None, Some(reason.clone())),
    };
    out.emit(
        &json!({
            "valid": valid,
            "signer": signer,
            "expected": expect.map(|a| a.to_string()),
            "reason": reason,
            "message_type": kind,
            "message_id": id,
            "canonical": canonical,
        }),
        || match &verdict {
            Verdict::Valid { signer } => {
                let about = kind
                    .as_deref()
                    .map(|k| format!("\nmessage: {k}, id {id}"))
                    .unwrap_or_default();
                format!("valid: signed by {signer}{about}")
            }
            Verdict::Invalid { reason } => format!("invalid: {reason}"),
        },
    )?;
    Ok(if valid { Status::Ok } else { Status::Negative })
}

#[cfg(test)]
mod tests {
    use kagami_crypto::{
        Commitment, CycleReport, ForwardOrder, ForwardReceipt, Hash32, PrivateKeySigner, Signable,
        parse_uuid,
    };

    use super::*;

    fn order() -> ForwardOrder {
        ForwardOrder {
            chain: "base".parse().unwrap(),
            root_tx: Hash32::from([1; 32]),
            hop: 0,
            from: parse_uuid("f47ac10b-58cc-4372-a567-0e02b2c3d479").unwrap(),
            to: parse_uuid("0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b").unwrap(),
            manifest: Hash32::from([2; 32]),
            amount: "12.500000".parse().unwrap(),
            nonce: 1,
        }
    }

    fn not_canonical(text: &str) -> String {
        match protocol_form(text.as_bytes()) {
            Form::NotCanonical { reason, .. } => reason,
            other => panic!("{text:?} is {other:?}"),
        }
    }

    #[test]
    fn canonical_protocol_messages_of_v1_and_v2_are_recognised() {
        let order = order();
        let receipt = ForwardReceipt {
            chain: order.chain.clone(),
            root_tx: order.root_tx,
            hop: order.hop,
            from: order.from,
            to: order.to,
            manifest: order.manifest,
            order: Some(order.id()),
            next_hop: None,
            nonce: 3,
        };
        let commitment = Commitment {
            chain: order.chain.clone(),
            root_tx: order.root_tx,
            payer: order.from,
            first_hop: order.to,
            routing: Hash32::from([3; 32]),
            amount: order.amount,
            lock_until: "2026-01-16T01:00:00Z".parse().unwrap(),
        };
        let legacy = ForwardReceipt {
            order: None,
            ..receipt.clone()
        };
        for (message, tag) in [
            (order.message(), ForwardOrder::TAG),
            (receipt.message(), ForwardReceipt::TAG_V2),
            (legacy.message(), ForwardReceipt::TAG),
            (commitment.message(), Commitment::TAG),
        ] {
            assert_eq!(
                protocol_form(message.as_bytes()),
                Form::Canonical { tag },
                "{message}"
            );
        }
    }

    #[test]
    fn a_protocol_message_that_is_not_canonical_is_named_with_its_line() {
        let text = order().message().to_string();
        let cases = [
            (
                text.replace("amount: 12.500000", "amount: 12.5"),
                "line 8: amount: invalid amount \"12.5\": expected decimal USDC with exactly 6 \
                 decimals, e.g. 12.500000",
            ),
            (
                text.replace("f47ac10b", "F47AC10B"),
                "line 5: from: \"F47AC10B-58cc-4372-a567-0e02b2c3d479\" is not canonical, \
                 expected \"f47ac10b-58cc-4372-a567-0e02b2c3d479\"",
            ),
            (
                text.replace("\nnonce: 1", ""),
                "line 9: message ends before field \"nonce\"",
            ),
            (
                format!("{text}\nnonce: 2"),
                "line 10: unexpected line after the last field: \"nonce: 2\"",
            ),
            (
                text.replace("hop: 0", "hop 0"),
                "line 4: expected `hop: value`, found \"hop 0\"",
            ),
            // An order's lines under a v1 receipt's tag: no v1 receipt has an amount.
            (
                text.replace(ForwardOrder::TAG, ForwardReceipt::TAG),
                "line 8: expected key \"next-hop\", found \"amount\"",
            ),
            (
                text.replace('\n', "\r\n"),
                "line 1: carriage return; lines are separated by a single LF",
            ),
            (
                format!("{text}\n"),
                "message ends with a line feed; the last line must not be terminated",
            ),
        ];
        for (message, reason) in cases {
            assert_eq!(not_canonical(&message), reason, "{message:?}");
        }
        // The tag is named without the carriage return that made the text non-canonical.
        assert!(matches!(
            protocol_form(text.replace('\n', "\r\n").as_bytes()),
            Form::NotCanonical { tag, .. } if tag == ForwardOrder::TAG
        ));
    }

    #[test]
    fn other_text_is_left_to_the_signature_check() {
        // Plain text with CRLF line endings or a final line feed is still plain text.
        for text in [
            "hello",
            "hello\r\nworld",
            "hello\n",
            "Kagami forward receipt v3\nchain: base",
        ] {
            assert_eq!(protocol_form(text.as_bytes()), Form::Other, "{text:?}");
        }
        assert_eq!(protocol_form(&[0xff, 0xfe]), Form::Other);
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_message_does_not() {
        let key = PrivateKeySigner::random();
        let report = CycleReport {
            chain: "base".parse().unwrap(),
            root_tx: "0x1111111111111111111111111111111111111111111111111111111111111111"
                .parse()
                .unwrap(),
            reporter: key.address().into(),
        };
        let message = report.message();
        let signature = message.sign(&key).unwrap().to_string();
        let me: EthAddress = key.address().into();
        assert_eq!(
            verify(message.as_bytes(), &signature, Some(&me)),
            Verdict::Valid { signer: me }
        );
        let tampered = message.as_str().replace("base", "bas3");
        assert!(matches!(
            verify(tampered.as_bytes(), &signature, Some(&me)),
            Verdict::Invalid { .. }
        ));
        assert!(matches!(
            verify(message.as_bytes(), "0x1234", None),
            Verdict::Invalid { reason } if reason.contains("130")
        ));
    }
}
