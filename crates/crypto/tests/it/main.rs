//! Integration tests of the Kagami v1 protocol implementation.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod parse;
mod properties;
mod rejections;
mod vectors;

use kagami_crypto::{
    CanonicalMessage, CycleReport, EndpointManifest, ForwardReceipt, ManifestRevocation, NextHop,
    parse_canonical_u64, parse_uuid,
};
use serde_json::Value;

/// Builds the typed object of a vector `kind` from its string fields, the way a server
/// parses wire input, and returns its canonical message.
pub(crate) fn build(kind: &str, fields: &Value) -> CanonicalMessage {
    use kagami_crypto::Signable;
    let f = |name: &str| {
        fields[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name} missing"))
    };
    match kind {
        "endpoint_manifest" => EndpointManifest {
            chain: f("chain").parse().unwrap(),
            agent: parse_uuid(f("agent")).unwrap(),
            endpoint: f("endpoint").parse().unwrap(),
            pubkey: f("pubkey").parse().unwrap(),
            nonce: parse_canonical_u64(f("nonce")).unwrap(),
            valid_from: f("valid-from").parse().unwrap(),
            valid_until: f("valid-until").parse().unwrap(),
        }
        .message(),
        "forward_receipt" => ForwardReceipt {
            chain: f("chain").parse().unwrap(),
            root_tx: f("root-tx").parse().unwrap(),
            hop: u32::try_from(parse_canonical_u64(f("hop")).unwrap()).unwrap(),
            from: parse_uuid(f("from")).unwrap(),
            to: parse_uuid(f("to")).unwrap(),
            manifest: f("manifest").parse().unwrap(),
            order: None,
            next_hop: match f("next-hop") {
                "none" => None,
                hash => Some(hash.parse().unwrap()),
            },
            nonce: parse_canonical_u64(f("nonce")).unwrap(),
        }
        .message(),
        "next_hop" => NextHop {
            root_tx: f("root-tx").parse().unwrap(),
            to: parse_uuid(f("to")).unwrap(),
        }
        .message(),
        "cycle_report" => CycleReport {
            chain: f("chain").parse().unwrap(),
            root_tx: f("root-tx").parse().unwrap(),
            reporter: f("reporter").parse().unwrap(),
        }
        .message(),
        "manifest_revocation" => ManifestRevocation {
            chain: f("chain").parse().unwrap(),
            agent: parse_uuid(f("agent")).unwrap(),
            manifest: f("manifest").parse().unwrap(),
        }
        .message(),
        other => panic!("unknown vector kind {other}"),
    }
}

pub(crate) fn vectors_file() -> Value {
    let text = include_str!("../../testdata/vectors_v1.json");
    serde_json::from_str(text).expect("vectors_v1.json is valid JSON")
}
