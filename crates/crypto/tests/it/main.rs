//! Integration tests of the Kagami signing protocol implementation (v1 and v2).

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
mod vectors_v2;

use kagami_crypto::{
    CanonicalMessage, Commitment, CycleReport, EndpointManifest, Error, ForwardOrder,
    ForwardReceipt, ManifestRevocation, NextHop, Signable, parse_canonical_u64, parse_uuid,
};
use serde_json::Value;

/// Builds the typed object of a vector `kind` from its string fields, the way a server
/// parses wire input, and returns its canonical message.
pub(crate) fn build(kind: &str, fields: &Value) -> CanonicalMessage {
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

/// The typed object of a protocol v2 vector `kind` (or of a v1 `forward_receipt`, which
/// the v2 rejections use) built from its string fields, the way a server parses wire input.
///
/// Unlike [`build`], a field that is not canonical is an `Err`, so the rejection vectors
/// can assert the exact error.
pub(crate) fn build_v2(kind: &str, fields: &Value) -> Result<CanonicalMessage, Error> {
    let f = |name: &str| {
        fields[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name} missing"))
    };
    let hop = |name: &str| {
        let text = f(name);
        u32::try_from(parse_canonical_u64(text)?).map_err(|_| Error::InvalidInteger {
            value: text.to_owned(),
        })
    };
    let next_hop = |name: &str| match f(name) {
        "none" => Ok(None),
        hash => hash.parse().map(Some),
    };
    Ok(match kind {
        "forward_order" => ForwardOrder {
            chain: f("chain").parse()?,
            root_tx: f("root-tx").parse()?,
            hop: hop("hop")?,
            from: parse_uuid(f("from"))?,
            to: parse_uuid(f("to"))?,
            manifest: f("manifest").parse()?,
            amount: f("amount").parse()?,
            nonce: parse_canonical_u64(f("nonce"))?,
        }
        .message(),
        "forward_receipt_v2" | "forward_receipt" => ForwardReceipt {
            chain: f("chain").parse()?,
            root_tx: f("root-tx").parse()?,
            hop: hop("hop")?,
            from: parse_uuid(f("from"))?,
            to: parse_uuid(f("to"))?,
            manifest: f("manifest").parse()?,
            // A v1 receipt has no order line; a v2 receipt must have one.
            order: match kind {
                "forward_receipt" => None,
                _ => Some(f("order").parse()?),
            },
            next_hop: next_hop("next-hop")?,
            nonce: parse_canonical_u64(f("nonce"))?,
        }
        .message(),
        "commitment" => Commitment {
            chain: f("chain").parse()?,
            root_tx: f("root-tx").parse()?,
            payer: parse_uuid(f("payer"))?,
            first_hop: parse_uuid(f("first-hop"))?,
            routing: f("routing").parse()?,
            amount: f("amount").parse()?,
            lock_until: f("lock-until").parse()?,
        }
        .message(),
        other => panic!("unknown v2 vector kind {other}"),
    })
}

pub(crate) fn vectors_file() -> Value {
    let text = include_str!("../../testdata/vectors_v1.json");
    serde_json::from_str(text).expect("vectors_v1.json is valid JSON")
}

pub(crate) fn vectors_v2_file() -> Value {
    let text = include_str!("../../testdata/vectors_v2.json");
    serde_json::from_str(text).expect("vectors_v2.json is valid JSON")
}
