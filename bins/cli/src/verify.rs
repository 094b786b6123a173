//! `kagami verify`: offline EIP-191 signature verification of a message file.

use anyhow::{Context, Result};
use kagami_crypto::{EthAddress, Signature};
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
    let verdict = verify(&message, &args.signature, expect.as_ref());
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
    use kagami_crypto::{CycleReport, PrivateKeySigner, Signable};

    use super::*;

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
