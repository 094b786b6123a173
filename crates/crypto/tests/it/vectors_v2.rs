//! The implementation reproduces every known-answer vector of `testdata/vectors_v2.json`
//! (protocol v2: forward orders, v2 receipts, commitments, amounts), which an independent
//! Python implementation generated, and the v1 file stays exactly as it was published.

use kagami_crypto::{
    Amount, CanonicalMessage, Error, EthAddress, Hash32, PrivateKeySigner, Signature, sha256,
};
use serde_json::Value;

use crate::{build, build_v2, vectors_file, vectors_v2_file};

const KINDS: [&str; 3] = ["forward_order", "forward_receipt_v2", "commitment"];

/// SHA-256 of `vectors_v1.json` as published. v1 messages stay verifiable forever (stored
/// receipts are evidence), so the file that pins them never changes.
const VECTORS_V1_SHA256: &str = "8d3aa00dc1aab1d538c559b9b20a4ce005bc8c93ece94b9e3e235d0a11d36565";

/// The signatures of a vector, with the role that made each: one by the signer for orders
/// and receipts, one by the root payer and one by the first-hop agent for commitments.
fn signatures<'a>(kind: &str, case: &'a Value) -> Vec<(&'static str, &'a Value)> {
    if kind == "commitment" {
        vec![
            ("payer", &case["signatures"]["payer"]),
            ("first-hop", &case["signatures"]["first-hop"]),
        ]
    } else {
        vec![("signer", case)]
    }
}

fn message_of(kind: &str, case: &Value) -> CanonicalMessage {
    let message = build_v2(kind, &case["fields"]).unwrap();
    assert_eq!(
        message.as_str(),
        case["message"].as_str().unwrap(),
        "{kind}"
    );
    message
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {value}"))
}

#[test]
fn the_v1_vector_file_is_byte_identical_to_the_published_one() {
    let bytes = include_bytes!("../../testdata/vectors_v1.json");
    assert_eq!(hex::encode(sha256(&[bytes])), VECTORS_V1_SHA256);
}

#[test]
fn every_v2_kind_has_at_least_four_vectors_including_both_v_forms() {
    let file = vectors_v2_file();
    for kind in KINDS {
        let cases = file["vectors"][kind].as_array().unwrap();
        assert!(cases.len() >= 4, "{kind} has {} vectors", cases.len());
        let forms: Vec<&str> = cases
            .iter()
            .flat_map(|c| signatures(kind, c))
            .map(|(_, s)| text(s, "v_form"))
            .collect();
        assert!(
            forms.contains(&"0/1") && forms.contains(&"27/28"),
            "{kind}: {forms:?}"
        );
    }
}

#[test]
fn the_v2_vectors_cover_the_edge_values() {
    let file = vectors_v2_file();
    let values = |kind: &str, field: &str| -> Vec<String> {
        file["vectors"][kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| text(&c["fields"], field).to_owned())
            .collect()
    };
    let amounts = values("forward_order", "amount");
    for amount in ["0.000000", "12.500000", "9223372036854.775807"] {
        assert!(amounts.iter().any(|a| a == amount), "order amount {amount}");
    }
    assert!(values("forward_order", "nonce").contains(&"9223372036854775807".to_owned()));
    assert!(values("forward_order", "hop").contains(&"10".to_owned()));
    assert!(values("forward_receipt_v2", "next-hop").contains(&"none".to_owned()));
    assert!(
        values("forward_receipt_v2", "next-hop")
            .iter()
            .any(|n| n.starts_with("0x"))
    );
    assert!(values("commitment", "amount").contains(&"9223372036854.775807".to_owned()));
    assert_eq!(
        Amount::MAX_MICROS.to_string(),
        "9223372036854775807",
        "the largest amount is 2^63 - 1 micro-units"
    );
}

#[test]
fn v2_messages_and_ids_match_the_vectors() {
    let file = vectors_v2_file();
    for kind in KINDS {
        for case in file["vectors"][kind].as_array().unwrap() {
            let message = message_of(kind, case);
            assert_eq!(message.id().to_string(), text(case, "id"), "{kind} id");
        }
    }
}

#[test]
fn v2_receipts_render_the_v2_tag_and_the_order_line_after_manifest() {
    let file = vectors_v2_file();
    for case in file["vectors"]["forward_receipt_v2"].as_array().unwrap() {
        let message = message_of("forward_receipt_v2", case);
        let lines: Vec<&str> = message.as_str().split('\n').collect();
        assert_eq!(lines[0], "Kagami forward receipt v2");
        assert!(lines[6].starts_with("manifest: "), "{lines:?}");
        assert_eq!(
            lines[7],
            format!("order: {}", text(&case["fields"], "order"))
        );
    }
}

#[test]
fn v2_signatures_recover_the_vector_signers() {
    let file = vectors_v2_file();
    for kind in KINDS {
        for case in file["vectors"][kind].as_array().unwrap() {
            let message = message_of(kind, case);
            for (role, entry) in signatures(kind, case) {
                let signature: Signature = text(entry, "signature").parse().unwrap();
                let signer: EthAddress = text(entry, "signer").parse().unwrap();
                assert_eq!(
                    message.recover(&signature).unwrap(),
                    signer,
                    "{kind} {role}"
                );
                message.verify(&signature, &signer).unwrap();
            }
        }
    }
}

#[test]
fn signing_v2_messages_with_the_vector_keys_reproduces_the_signature_bytes() {
    // RFC 6979 makes ECDSA deterministic, so our signer must produce the vector's r and s
    // exactly; v is compared in the vector's form.
    let file = vectors_v2_file();
    for kind in KINDS {
        for case in file["vectors"][kind].as_array().unwrap() {
            let message = message_of(kind, case);
            for (role, entry) in signatures(kind, case) {
                let key: PrivateKeySigner = text(entry, "private_key").parse().unwrap();
                assert_eq!(
                    EthAddress::from(key.address()).to_string(),
                    text(entry, "signer"),
                    "{kind} {role}"
                );
                let ours = message.sign(&key).unwrap().to_bytes();
                let expected = text(entry, "signature");
                let theirs = hex::decode(&expected[2..]).unwrap();
                assert_eq!(ours[..64], theirs[..64], "{kind} {role} r || s");
                let v = match text(entry, "v_form") {
                    "0/1" => ours[64] - 27,
                    _ => ours[64],
                };
                assert_eq!(v, theirs[64], "{kind} {role} v");
            }
        }
    }
}

#[test]
fn commitments_are_signed_by_the_payer_and_by_the_first_hop_with_distinct_keys() {
    let file = vectors_v2_file();
    for case in file["vectors"]["commitment"].as_array().unwrap() {
        let payer = text(&case["signatures"]["payer"], "signer");
        let first_hop = text(&case["signatures"]["first-hop"], "signer");
        assert_ne!(payer, first_hop);
        assert_ne!(
            text(&case["fields"], "payer"),
            text(&case["fields"], "first-hop")
        );
    }
}

#[test]
fn an_order_and_a_receipt_are_a_hop_exactly_when_the_receipt_names_the_order_and_agrees() {
    const HOP_LINES: [&str; 6] = ["chain", "root-tx", "hop", "from", "to", "manifest"];
    let file = vectors_v2_file();
    let pairs = file["hops"].as_array().unwrap();
    assert!(pairs.iter().any(|p| p["is_hop"] == true));
    assert!(pairs.iter().any(|p| p["is_hop"] == false));
    for pair in pairs {
        let order = &file["vectors"]["forward_order"][pair["order"].as_u64().unwrap() as usize];
        let receipt =
            &file["vectors"]["forward_receipt_v2"][pair["receipt"].as_u64().unwrap() as usize];
        let order_id = message_of("forward_order", order).id();
        let named: Hash32 = text(&receipt["fields"], "order").parse().unwrap();
        let mismatched: Vec<&str> = HOP_LINES
            .into_iter()
            .filter(|k| text(&order["fields"], k) != text(&receipt["fields"], k))
            .collect();
        let is_hop = named == order_id && mismatched.is_empty();
        assert_eq!(is_hop, pair["is_hop"].as_bool().unwrap(), "{pair}");
        let expected: Vec<&str> = pair["mismatched"]
            .as_array()
            .map(|m| m.iter().map(|k| k.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(mismatched, expected, "{pair}");
    }
}

#[test]
fn the_receipt_agent_a_signs_verifies_against_the_key_of_its_v1_manifest_vector() {
    // Receipt 0 cites agent a's manifest, vector endpoint_manifest[0] of vectors_v1.json,
    // and is signed by the operational key that manifest declares.
    let v1 = vectors_file();
    let manifest = &v1["vectors"]["endpoint_manifest"][0];
    let manifest_id = build("endpoint_manifest", &manifest["fields"]).id();
    let pubkey: kagami_crypto::Pubkey = text(&manifest["fields"], "pubkey").parse().unwrap();
    let receipt = &vectors_v2_file()["vectors"]["forward_receipt_v2"][0];
    assert_eq!(
        text(&receipt["fields"], "manifest"),
        manifest_id.to_string()
    );
    assert_eq!(
        text(&receipt["fields"], "to"),
        text(&manifest["fields"], "agent")
    );
    let signature: Signature = text(receipt, "signature").parse().unwrap();
    message_of("forward_receipt_v2", receipt)
        .verify(&signature, &pubkey.address())
        .unwrap();
}

#[test]
fn v2_rejection_vectors_fail_with_the_named_error() {
    let file = vectors_v2_file();
    let cases = file["rejections"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = text(case, "case");
        let outcome = build_v2(text(case, "kind"), &case["fields"]).and_then(|message| {
            // Built from the typed fields, the message is the vector's text exactly.
            assert_eq!(message.as_str(), text(case, "message"), "{name}");
            let signature: Signature = text(case, "signature").parse()?;
            let expected: EthAddress = text(case, "expected_signer").parse().unwrap();
            message.verify(&signature, &expected)
        });
        let code = match outcome {
            Err(Error::WrongSigner { .. }) => "wrong_signer",
            Err(Error::InvalidAmount { .. }) => "invalid_amount",
            other => panic!("{name}: unexpected outcome {other:?}"),
        };
        assert_eq!(code, text(case, "error"), "{name}");
    }
}

#[test]
fn a_non_canonical_amount_is_rejected_although_its_signature_is_genuine() {
    // The vector signs text no verifier rebuilds; the signature itself is valid over it,
    // which is why a verifier must rebuild from typed fields instead of trusting text.
    let file = vectors_v2_file();
    let case = file["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["error"] == "invalid_amount")
        .unwrap();
    let amount = text(&case["fields"], "amount");
    assert_eq!(
        build_v2("forward_order", &case["fields"]).unwrap_err(),
        Error::InvalidAmount {
            value: amount.to_owned()
        }
    );
    let signature: Signature = text(case, "signature").parse().unwrap();
    let digest = alloy_primitives::eip191_hash_message(text(case, "message"));
    assert_eq!(
        signature.recover_prehash(&digest).unwrap().to_string(),
        text(case, "expected_signer")
    );
}

#[test]
fn amount_canonical_form_vectors_hold_with_the_exact_error() {
    let file = vectors_v2_file();
    let cases = file["canonical_forms"].as_array().unwrap();
    for required in [
        "12.5",
        "012.500000",
        "1.0000000",
        "-1.000000",
        "1e3",
        ".500000",
        "1.",
        "9223372036854.775808",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c["input"] == required && c["error"] == "invalid_amount"),
            "{required} is a rejected vector"
        );
    }
    for case in cases {
        assert_eq!(text(case, "type"), "amount");
        let input = text(case, "input");
        match (case.get("canonical"), input.parse::<Amount>()) {
            (Some(canonical), Ok(amount)) => {
                assert_eq!(amount.to_string(), canonical.as_str().unwrap(), "{input}");
                assert_eq!(amount.micros().to_string(), text(case, "micros"), "{input}");
            }
            (None, Err(e)) => {
                assert_eq!(text(case, "error"), "invalid_amount", "{input}");
                assert_eq!(
                    e,
                    Error::InvalidAmount {
                        value: input.to_owned()
                    },
                    "{input}: {}",
                    text(case, "reason")
                );
            }
            (expected, got) => panic!("{input}: expected {expected:?}, got {got:?}"),
        }
    }
}
