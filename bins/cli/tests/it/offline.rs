//! Commands that need no server: keys, manifest text and signing, orders, receipts and
//! commitments, offline verification, completions, and interoperability with kagami-crypto
//! and the protocol vectors.

use kagami_core::{
    Policy,
    crypto::{
        EthAddress, Hash32, NextHop, PrivateKeySigner, Signable, Signature, Uuid, parse_uuid,
    },
    wire::{ForwardOrderRequest, ForwardPairRequest, PublishManifestRequest},
};
use predicates::prelude::*;
use serde_json::Value;

use crate::support::{kagami, key_file, stderr, stdout, vectors, vectors_v2};

const VECTOR_KEY: &str = "0xde8daaaf89f9bcb999978acd2d34b13ee2100aa52197f6df8fa8d277b167b62c";
const VECTOR_SIGNER: &str = "0x89d3b8ff32a887f50304fd0e0fea9559ec13b80c";

/// The flags of `vectors.endpoint_manifest[i]`.
fn manifest_flags(fields: &Value) -> Vec<String> {
    let f = |k: &str| fields[k].as_str().unwrap().to_owned();
    vec![
        "--agent".into(),
        f("agent"),
        "--endpoint".into(),
        f("endpoint"),
        "--pubkey".into(),
        f("pubkey"),
        "--nonce".into(),
        f("nonce"),
        "--valid-from".into(),
        f("valid-from"),
        "--valid-until".into(),
        f("valid-until"),
        "--chain".into(),
        f("chain"),
    ]
}

/// `r || s` of a signature and its parity, so 0/1 and 27/28 forms compare equal.
fn rs_and_parity(signature: &str) -> (String, bool) {
    let signature: Signature = signature.parse().unwrap();
    let bytes = signature.to_bytes();
    (alloy_primitives::hex::encode(&bytes[..64]), bytes[64] == 28)
}

#[test]
fn key_new_writes_a_private_key_file_and_prints_only_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.key");
    let output = kagami()
        .args(["key", "new", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let address = stdout(&output).trim().to_owned();
    assert!(address.parse::<EthAddress>().is_ok(), "{address}");

    let text = std::fs::read_to_string(&path).unwrap();
    let key: PrivateKeySigner = text.trim().parse().unwrap();
    assert_eq!(EthAddress::from(key.address()).to_string(), address);
    let secret = text.trim().trim_start_matches("0x");
    assert!(!stdout(&output).contains(secret) && !stderr(&output).contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Never overwrites a key by accident.
    kagami()
        .args(["key", "new", "--out"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn key_new_without_a_destination_refuses_to_print_the_key() {
    kagami()
        .args(["key", "new"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--out FILE"));
}

#[test]
fn key_address_reads_the_key_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(dir.path(), "k", VECTOR_KEY);
    kagami()
        .args(["key", "address", "--key-file"])
        .arg(&path)
        .assert()
        .success()
        .stdout(format!("{VECTOR_SIGNER}\n"));
    // KAGAMI_PRIVATE_KEY holds the key itself ...
    kagami()
        .args(["key", "address"])
        .env("KAGAMI_PRIVATE_KEY", VECTOR_KEY)
        .assert()
        .success()
        .stdout(format!("{VECTOR_SIGNER}\n"));
    // ... or the path of a key file.
    kagami()
        .args(["key", "address", "--output", "json"])
        .env("KAGAMI_PRIVATE_KEY", &path)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "\"address\": \"{VECTOR_SIGNER}\""
        )));
}

#[test]
fn a_missing_or_bad_key_is_one_line_that_never_echoes_the_key() {
    kagami()
        .args(["key", "address"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: no signing key"));
    let almost = format!("{}zz", &VECTOR_KEY[..64]);
    let output = kagami()
        .args(["key", "address"])
        .env("KAGAMI_PRIVATE_KEY", &almost)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains(&almost[2..40]), "{err}");
}

#[test]
fn manifest_message_prints_exactly_the_canonical_text() {
    for vector in vectors()["vectors"]["endpoint_manifest"]
        .as_array()
        .unwrap()
    {
        kagami()
            .args(["manifest", "message"])
            .args(manifest_flags(&vector["fields"]))
            .assert()
            .success()
            .stdout(format!("{}\n", vector["message"].as_str().unwrap()));
    }
}

#[test]
fn manifest_message_canonicalises_input_like_the_protocol() {
    let manifest = kagami_core::crypto::EndpointManifest {
        chain: "base".parse().unwrap(),
        agent: parse_uuid("0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b").unwrap(),
        endpoint: "https://agent.example/x402".parse().unwrap(),
        pubkey: "0x52908400098527886e0f7030069857d2e4169ee7"
            .parse()
            .unwrap(),
        nonce: 5,
        valid_from: "2026-01-16T00:00:00Z".parse().unwrap(),
        valid_until: "2026-01-16T12:00:00Z".parse().unwrap(),
    };
    let output = kagami()
        .args([
            "manifest",
            "message",
            "--agent",
            "0B6F2A1C-3D4E-4F50-8A9B-0C1D2E3F4A5B",
            "--endpoint",
            "https://agent.example/x402",
            "--pubkey",
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "--nonce",
            "5",
            "--valid-from",
            "2026-01-16T02:00:00+02:00",
            "--valid-for",
            "12h",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["message"], manifest.message().as_str());
    assert_eq!(json["id"], manifest.id().to_string());
}

#[test]
fn manifest_sign_reproduces_the_vector_signatures_and_core_accepts_the_body() {
    for vector in vectors()["vectors"]["endpoint_manifest"]
        .as_array()
        .unwrap()
    {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path(), "owner", vector["private_key"].as_str().unwrap());
        let output = kagami()
            .args(["manifest", "sign", "--key-file"])
            .arg(&key)
            .args(manifest_flags(&vector["fields"]))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let body: PublishManifestRequest = serde_json::from_slice(&output.stdout).unwrap();
        let parsed = body.parse(&Policy::default()).unwrap();
        let message = parsed.manifest.message();
        assert_eq!(message.as_str(), vector["message"].as_str().unwrap());
        assert_eq!(message.id().to_string(), vector["id"].as_str().unwrap());
        let signer: EthAddress = vector["signer"].as_str().unwrap().parse().unwrap();
        message.verify(&parsed.signature, &signer).unwrap();
        assert_eq!(
            rs_and_parity(&body.signature),
            rs_and_parity(vector["signature"].as_str().unwrap())
        );
        assert!(!stdout(&output).contains(&vector["private_key"].as_str().unwrap()[2..]));
    }
}

#[test]
fn manifest_pubkey_defaults_to_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "k", VECTOR_KEY);
    let output = kagami()
        .args([
            "manifest",
            "sign",
            "--agent",
            "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
            "--endpoint",
            "http://localhost:9000/pay",
            "--nonce",
            "3",
            "--valid-for",
            "24h",
            "--key-file",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let body: PublishManifestRequest = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body.pubkey, VECTOR_SIGNER);
    assert_eq!(body.chain, "base");
    let parsed = body.parse(&Policy::default()).unwrap();
    assert_eq!(
        parsed.manifest.valid_until.unix() - parsed.manifest.valid_from.unix(),
        86_400
    );
}

#[test]
fn manifest_flags_are_checked_before_anything_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "k", VECTOR_KEY);
    let base = [
        "manifest",
        "sign",
        "--agent",
        "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
        "--nonce",
        "1",
        "--valid-for",
        "1h",
    ];
    kagami()
        .args(base)
        .args(["--endpoint", "http://agent.example/pay", "--key-file"])
        .arg(&key)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("endpoint_uri"));
    kagami()
        .args(base)
        .args([
            "--endpoint",
            "https://agent.example/pay",
            "--chain",
            "Base",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("chain"));
    // Usage errors come from clap (exit 2 as well).
    kagami()
        .args(["manifest", "sign", "--agent", "x"])
        .assert()
        .code(2);
}

/// `kagami forward order` with the fields of `vectors_v2.forward_order[i]`, signed with its
/// key; returns the order body.
fn order_from_vector(vector: &Value, dir: &std::path::Path) -> ForwardOrderRequest {
    let fields = &vector["fields"];
    let f = |k: &str| fields[k].as_str().unwrap().to_owned();
    let key = key_file(dir, "payer", vector["private_key"].as_str().unwrap());
    let output = kagami()
        .args(["forward", "order", "--key-file"])
        .arg(&key)
        .args(["--chain", &f("chain"), "--root-tx", &f("root-tx")])
        .args(["--hop", &f("hop"), "--from", &f("from"), "--to", &f("to")])
        .args(["--manifest", &f("manifest"), "--nonce", &f("nonce")])
        // Not canonical on the command line; the order signs the canonical amount.
        .args([
            "--amount",
            f("amount").trim_end_matches('0').trim_end_matches('.'),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn forward_order_and_receipt_sign_reproduce_the_v2_vector_signatures() {
    let file = vectors_v2();
    let orders = file["vectors"]["forward_order"].as_array().unwrap();
    let receipts = file["vectors"]["forward_receipt_v2"].as_array().unwrap();
    let mut hops = 0;
    for hop in file["hops"].as_array().unwrap() {
        if hop["is_hop"] != true {
            continue;
        }
        let order_vector = &orders[usize::try_from(hop["order"].as_u64().unwrap()).unwrap()];
        let receipt_vector = &receipts[usize::try_from(hop["receipt"].as_u64().unwrap()).unwrap()];
        let dir = tempfile::tempdir().unwrap();
        let order = order_from_vector(order_vector, dir.path());
        let (parsed, signature) = order.parse(&Policy::default()).unwrap();
        assert_eq!(
            parsed.message().as_str(),
            order_vector["message"].as_str().unwrap()
        );
        assert_eq!(
            rs_and_parity(&signature.to_string()),
            rs_and_parity(order_vector["signature"].as_str().unwrap())
        );

        // The destination acknowledges the order file.
        let order_file = dir.path().join("order.json");
        std::fs::write(&order_file, serde_json::to_vec(&order).unwrap()).unwrap();
        let fields = &receipt_vector["fields"];
        let f = |k: &str| fields[k].as_str().unwrap().to_owned();
        let key = key_file(
            dir.path(),
            "hot",
            receipt_vector["private_key"].as_str().unwrap(),
        );
        let next = match f("next-hop").as_str() {
            "none" => vec!["--terminal".to_owned()],
            hash => vec!["--next-hop".to_owned(), hash.to_owned()],
        };
        let output = kagami()
            .args(["receipt", "sign", "--key-file"])
            .arg(&key)
            .arg("--order")
            .arg(&order_file)
            .args(["--nonce", &f("nonce")])
            .args(next)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let pair: ForwardPairRequest = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(pair.order, order);
        let parsed = pair.parse(&Policy::default()).unwrap();
        assert_eq!(
            parsed.receipt.message().as_str(),
            receipt_vector["message"].as_str().unwrap()
        );
        let signer: EthAddress = receipt_vector["signer"].as_str().unwrap().parse().unwrap();
        parsed
            .receipt
            .message()
            .verify(&parsed.receipt_signature, &signer)
            .unwrap();
        assert_eq!(
            rs_and_parity(&pair.receipt.signature),
            rs_and_parity(receipt_vector["signature"].as_str().unwrap())
        );
        hops += 1;
    }
    assert!(hops >= 4, "{hops} hops");
}

#[test]
fn receipt_sign_computes_the_next_hop_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let vector = &vectors_v2()["vectors"]["forward_order"][0];
    let order = order_from_vector(vector, dir.path());
    let order_file = dir.path().join("order.json");
    std::fs::write(&order_file, serde_json::to_vec(&order).unwrap()).unwrap();
    let key = key_file(dir.path(), "hot", VECTOR_KEY);
    let next = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
    let output = kagami()
        .args(["receipt", "sign", "--key-file"])
        .arg(&key)
        .arg("--order")
        .arg(&order_file)
        .args(["--next-agent", next, "--nonce", "auto"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let pair: ForwardPairRequest = serde_json::from_slice(&output.stdout).unwrap();
    let expected = NextHop {
        root_tx: order.root_tx_hash.parse::<Hash32>().unwrap(),
        to: next.parse::<Uuid>().unwrap(),
    }
    .id();
    assert_eq!(pair.receipt.next_hop_hash, Some(expected.to_string()));
    assert!(
        pair.receipt.receipt_nonce > 1_700_000_000_000,
        "auto is Unix milliseconds"
    );
    let parsed = pair.parse(&Policy::default()).unwrap();
    parsed
        .receipt
        .message()
        .verify(&parsed.receipt_signature, &VECTOR_SIGNER.parse().unwrap())
        .unwrap();

    // No commitment is never implied.
    kagami()
        .args(["receipt", "sign", "--key-file"])
        .arg(&key)
        .arg("--order")
        .arg(&order_file)
        .args(["--nonce", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--terminal"));

    // An order that is not canonical is refused by its field, before anything is signed.
    let mut sloppy: Value = serde_json::to_value(&order).unwrap();
    sloppy["amount_usdc"] = "12.5".into();
    std::fs::write(&order_file, sloppy.to_string()).unwrap();
    kagami()
        .args(["receipt", "sign", "--key-file"])
        .arg(&key)
        .arg("--order")
        .arg(&order_file)
        .args(["--terminal", "--nonce", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("order.amount_usdc"));
}

#[test]
fn commitment_sign_reproduces_the_v2_vectors_and_create_needs_both_parties() {
    for vector in vectors_v2()["vectors"]["commitment"].as_array().unwrap() {
        let fields = &vector["fields"];
        let f = |k: &str| fields[k].as_str().unwrap().to_owned();
        let flags = [
            "--chain".to_owned(),
            f("chain"),
            "--root-tx".to_owned(),
            f("root-tx"),
            "--payer".to_owned(),
            f("payer"),
            "--first-hop".to_owned(),
            f("first-hop"),
            "--routing".to_owned(),
            f("routing"),
            "--amount".to_owned(),
            f("amount"),
            "--lock-until".to_owned(),
            f("lock-until"),
        ];
        kagami()
            .args(["commitment", "message"])
            .args(&flags)
            .assert()
            .success()
            .stdout(format!("{}\n", vector["message"].as_str().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        for party in ["payer", "first-hop"] {
            let entry = &vector["signatures"][party];
            let key = key_file(dir.path(), party, entry["private_key"].as_str().unwrap());
            let output = kagami()
                .args(["commitment", "sign", "--output", "json", "--key-file"])
                .arg(&key)
                .args(&flags)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            let json: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(json["signer"], entry["signer"]);
            assert_eq!(json["commitment_hash"], vector["id"]);
            assert_eq!(
                rs_and_parity(json["signature"].as_str().unwrap()),
                rs_and_parity(entry["signature"].as_str().unwrap())
            );
        }
        // One party's signature twice is not a co-signed commitment: refused locally.
        let payer_signature = vector["signatures"]["payer"]["signature"].as_str().unwrap();
        kagami()
            .args(["commitment", "create"])
            .args(&flags)
            .args(["--payer-signature", payer_signature])
            .args(["--first-hop-signature", payer_signature])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("first_hop_signature"));
    }
}

#[test]
fn every_protocol_vector_verifies_with_kagami_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    for (kind, cases) in vectors()["vectors"].as_object().unwrap() {
        for (i, vector) in cases.as_array().unwrap().iter().enumerate() {
            let path = dir.path().join(format!("{kind}-{i}.txt"));
            std::fs::write(&path, vector["message"].as_str().unwrap()).unwrap();
            let signer = vector["signer"].as_str().unwrap();
            kagami()
                .args(["verify", "--exact", "--message"])
                .arg(&path)
                .args(["--signature", vector["signature"].as_str().unwrap()])
                .args(["--expect", signer])
                .assert()
                .success()
                .stdout(predicate::str::contains(format!(
                    "valid: signed by {signer}"
                )));
            count += 1;
        }
    }
    assert!(count >= 15, "at least three vectors per message kind");
}

#[test]
fn every_protocol_rejection_is_refused_by_kagami_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (i, rejection) in vectors()["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("rejection-{i}.txt"));
        std::fs::write(&path, rejection["message"].as_str().unwrap()).unwrap();
        let mut cmd = kagami();
        cmd.args(["verify", "--message"])
            .arg(&path)
            .args(["--signature", rejection["signature"].as_str().unwrap()]);
        if let Some(expected) = rejection["expected_signer"].as_str() {
            cmd.args(["--expect", expected]);
        }
        let output = cmd.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {}",
            rejection["case"],
            stdout(&output)
        );
        assert!(stdout(&output).starts_with("invalid: "));
    }
}

/// Every signature of a v2 vector with its signer: one for orders and receipts, the root
/// payer's and the first-hop agent's for commitments.
fn v2_signatures(kind: &str, vector: &Value) -> Vec<(String, String)> {
    let pair = |entry: &Value| {
        (
            entry["signature"].as_str().unwrap().to_owned(),
            entry["signer"].as_str().unwrap().to_owned(),
        )
    };
    match kind {
        "commitment" => vec![
            pair(&vector["signatures"]["payer"]),
            pair(&vector["signatures"]["first-hop"]),
        ],
        _ => vec![pair(vector)],
    }
}

#[test]
fn every_v2_vector_verifies_with_kagami_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    for (kind, cases) in vectors_v2()["vectors"].as_object().unwrap() {
        for (i, vector) in cases.as_array().unwrap().iter().enumerate() {
            let message = vector["message"].as_str().unwrap();
            let tag = message.lines().next().unwrap();
            let id = vector["id"].as_str().unwrap();
            let path = dir.path().join(format!("{kind}-{i}.txt"));
            std::fs::write(&path, message).unwrap();
            for (signature, signer) in v2_signatures(kind, vector) {
                kagami()
                    .args(["verify", "--exact", "--message"])
                    .arg(&path)
                    .args(["--signature", &signature, "--expect", &signer])
                    .assert()
                    .success()
                    .stdout(format!(
                        "valid: signed by {signer}\nmessage: {tag}, id {id}\n"
                    ));
                // Without --expect it names the signer, and says the text is canonical.
                let output = kagami()
                    .args(["verify", "--output", "json", "--message"])
                    .arg(&path)
                    .args(["--signature", &signature])
                    .output()
                    .unwrap();
                assert!(output.status.success(), "{}", stdout(&output));
                let json: Value = serde_json::from_slice(&output.stdout).unwrap();
                assert_eq!(json["valid"], true);
                assert_eq!(json["signer"], signer.as_str());
                assert_eq!(json["canonical"], true);
                assert_eq!(json["message_type"], tag);
                assert_eq!(json["message_id"], id);
                count += 1;
            }
        }
    }
    // 5 orders, 5 receipts, 4 commitments with two signatures each.
    assert!(count >= 4 * 3 + 4, "{count} signatures verified");
}

#[test]
fn every_v2_rejection_is_refused_by_kagami_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (i, rejection) in vectors_v2()["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("rejection-{i}.txt"));
        std::fs::write(&path, rejection["message"].as_str().unwrap()).unwrap();
        let output = kagami()
            .args(["verify", "--message"])
            .arg(&path)
            .args(["--signature", rejection["signature"].as_str().unwrap()])
            .args(["--expect", rejection["expected_signer"].as_str().unwrap()])
            .output()
            .unwrap();
        let case = &rejection["case"];
        assert_eq!(output.status.code(), Some(1), "{case}: {}", stdout(&output));
        let expected = match rejection["error"].as_str().unwrap() {
            "wrong_signer" => "invalid: signature by ",
            "invalid_amount" => {
                "invalid: not a canonical Kagami forward order v1 message: line 8: amount: invalid \
                 amount \"12.5\""
            }
            other => panic!("{case}: unknown error {other}"),
        };
        assert!(
            stdout(&output).starts_with(expected),
            "{case}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn a_genuine_signature_over_non_canonical_protocol_text_is_refused() {
    // The signature is by the expected key, but over `amount: 12.5`, text no Kagami verifier
    // rebuilds: valid as personal_sign, invalid as a forward order.
    let file = vectors_v2();
    let rejection = file["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["error"] == "invalid_amount")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sloppy.txt");
    std::fs::write(&path, rejection["message"].as_str().unwrap()).unwrap();
    let output = kagami()
        .args(["verify", "--output", "json", "--message"])
        .arg(&path)
        .args(["--signature", rejection["signature"].as_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["canonical"], false);
    assert_eq!(json["message_type"], "Kagami forward order v1");

    // Text that is no protocol message is checked as personal_sign only: here the signature
    // is over other text, so it fails as a signature, not as a canonical form.
    let plain = dir.path().join("plain.txt");
    let text = rejection["message"]
        .as_str()
        .unwrap()
        .replace("Kagami forward order v1", "Not a kagami tag");
    std::fs::write(&plain, text).unwrap();
    let output = kagami()
        .args(["verify", "--output", "json", "--message"])
        .arg(&plain)
        .args(["--signature", rejection["signature"].as_str().unwrap()])
        .args(["--expect", rejection["expected_signer"].as_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .starts_with("signature by "),
        "{json}"
    );
    assert_eq!(json["canonical"], Value::Null);
    assert_eq!(json["message_type"], Value::Null);
}

#[test]
fn offline_verify_answers_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let vector = &vectors()["vectors"]["cycle_report"][0];
    let message = vector["message"].as_str().unwrap();
    let signature = vector["signature"].as_str().unwrap();
    let signer = vector["signer"].as_str().unwrap();

    // Saved by an editor, with a trailing newline: still the same message.
    let good = dir.path().join("good.txt");
    std::fs::write(&good, format!("{message}\n")).unwrap();
    kagami()
        .args(["verify", "--message"])
        .arg(&good)
        .args(["--signature", signature, "--expect", signer])
        .assert()
        .code(0);
    // Without --expect it names the signer.
    kagami()
        .args(["verify", "--message"])
        .arg(&good)
        .args(["--signature", signature, "--output", "json"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "\"signer\": \"{signer}\""
        )));

    let tampered = dir.path().join("tampered.txt");
    std::fs::write(&tampered, message.replace("base", "base-sepolia")).unwrap();
    kagami()
        .args(["verify", "--message"])
        .arg(&tampered)
        .args(["--signature", signature, "--expect", signer])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("invalid: signature by "));

    // Stdin works too.
    kagami()
        .args([
            "verify",
            "--message",
            "-",
            "--signature",
            signature,
            "--expect",
            signer,
        ])
        .write_stdin(message)
        .assert()
        .code(0);

    // A missing file is an error, not an answer.
    kagami()
        .args(["verify", "--message"])
        .arg(dir.path().join("missing.txt"))
        .args(["--signature", signature])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: cannot read"));
}

#[test]
fn a_cli_signature_verifies_with_kagami_crypto_and_kagami_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let address = kagami()
        .args(["key", "new", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    let address = stdout(&address).trim().to_owned();
    let output = kagami()
        .args(["manifest", "sign", "--key-file"])
        .arg(&key)
        .args([
            "--agent",
            "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
            "--endpoint",
            "https://agent.example/x402",
            "--nonce",
            "1",
            "--valid-for",
            "24h",
        ])
        .output()
        .unwrap();
    let body: PublishManifestRequest = serde_json::from_slice(&output.stdout).unwrap();
    let parsed = body.parse(&Policy::default()).unwrap();
    let message = parsed.manifest.message();
    message
        .verify(&parsed.signature, &address.parse().unwrap())
        .unwrap();

    // And back through the CLI's offline verifier, from the `manifest message` text.
    let text = dir.path().join("m.txt");
    std::fs::write(&text, message.as_str()).unwrap();
    kagami()
        .args(["verify", "--message"])
        .arg(&text)
        .args(["--signature", &body.signature, "--expect", &address])
        .assert()
        .success();
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        kagami()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("kagami").and(predicate::str::contains("manifest")));
    }
}

#[test]
fn help_never_shows_the_secrets_from_the_environment() {
    let output = kagami()
        .arg("--help")
        .env("KAGAMI_API_KEY", "kgm_super_secret_value_for_the_help_test")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    assert!(help.contains("KAGAMI_API_KEY"), "{help}");
    assert!(!help.contains("kgm_super_secret"), "{help}");
}

#[test]
fn an_unreachable_server_is_one_line_and_verbose_shows_the_causes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let root = "0x1407a8bd91697960b53b5c1e9e868ee6897811a239de01f8f7451518665c7d36";
    let output = kagami()
        .args(["trace", root, "--server", &server])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot reach the kagami service"),
        "{err}"
    );

    let output = kagami()
        .args(["trace", root, "--verbose"])
        .env("KAGAMI_SERVER", &server)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.lines().count() > 1, "{err}");
    assert!(err.contains("caused by:"), "{err}");
}
