//! The JSON request bodies of `kagami_core::wire`, as the API deserialises them.
//!
//! Input: one selector byte (which request type), then the JSON body. Properties: never
//! panics; every accepted body serialises and deserialises back equal; where a request has a
//! `parse(&Policy)` (publish manifest, a receipt, a record-forward pair — alone and as each
//! evidence item of a cycle report — and a commitment) it never panics, an accepted parse is
//! within policy, and the accepted request re-serialised, re-parsed — and rebuilt from the
//! canonical fields — parses to an equal submission whose signed messages parse back with
//! `parse_message`. An accepted pair's receipt acknowledges its order. An MEV incident's
//! `attack_tx` decodes without panicking and, when it does, re-encodes to itself.

#![no_main]

use kagami_core::{
    Policy, Usdc,
    wire::{
        CommitmentRequest, ConfirmCommitmentRequest, ForwardOrderRequest, ForwardPairRequest,
        MevIncidentRequest, PublishManifestRequest, RecordForwardRequest, RegisterAgentRequest,
        ReportCycleRequest, RevokeManifestRequest, SetStakeRequest, UpdateAgentRequest,
        VerifyForwardRequest, parse_uuid_field,
    },
};
use kagami_crypto::{
    EthAddress, Hash32, ParsedMessage, Signable, SignedTransaction, parse_message,
};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let policy = Policy::default();
    match selector % 12 {
        0 => {
            if let Some(request) = round_trip::<PublishManifestRequest>(json) {
                publish(&request, &policy);
            }
        }
        1 => {
            if let Some(request) = round_trip::<RecordForwardRequest>(json) {
                record(&request, &policy);
            }
        }
        2 => {
            // Not compared after a round trip: `registration_file` is arbitrary JSON, and
            // serde_json without `float_roundtrip` may read a float one ulp off.
            if let Ok(request) = serde_json::from_slice::<RegisterAgentRequest>(json) {
                let _ = request.chain.parse::<kagami_crypto::Chain>();
                let _ = request.registry_address.parse::<EthAddress>();
                let _ = request.owner_address.parse::<EthAddress>();
                let _ = serde_json::to_vec(&request).expect("serialise");
            }
        }
        3 => {
            if let Some(request) = round_trip::<SetStakeRequest>(json) {
                let _ = request.staked_amount_usdc.parse::<Usdc>();
            }
        }
        4 => {
            round_trip::<UpdateAgentRequest>(json);
        }
        5 => {
            if let Some(request) = round_trip::<RevokeManifestRequest>(json) {
                let _ = parse_uuid_field("agent_uuid", &request.agent_uuid);
                let _ = request.manifest_hash.parse::<Hash32>();
                let _ = request.signature.parse::<kagami_crypto::Signature>();
            }
        }
        6 => {
            if let Some(request) = round_trip::<VerifyForwardRequest>(json) {
                let _ = request.root_tx_hash.parse::<Hash32>();
                let _ = parse_uuid_field("source_agent_uuid", &request.source_agent_uuid);
                let _ = parse_uuid_field("dest_agent_uuid", &request.dest_agent_uuid);
            }
        }
        7 => {
            if let Some(request) = round_trip::<ReportCycleRequest>(json) {
                let _ = request.reporter_address.parse::<EthAddress>();
                for item in &request.evidence {
                    pair(item, &policy);
                }
            }
        }
        8 => {
            if let Some(request) = round_trip::<CommitmentRequest>(json) {
                commitment(&request, &policy);
            }
        }
        9 => {
            if let Some(request) = round_trip::<ConfirmCommitmentRequest>(json) {
                let _ = request.onchain_tx_hash.parse::<Hash32>();
            }
        }
        10 => {
            if let Some(request) = round_trip::<MevIncidentRequest>(json) {
                let _ = request.extracted_value_usdc.parse::<Usdc>();
                let _ = request.evidence_hash.parse::<Hash32>();
                if let Ok(tx) = SignedTransaction::from_hex(&request.attack_tx) {
                    let again = SignedTransaction::from_hex(&tx.to_hex()).expect("re-decode");
                    assert_eq!(again.hash, tx.hash);
                    assert_eq!(again.to_hex(), tx.to_hex());
                }
            }
        }
        _ => {
            if let Some(request) = round_trip::<ForwardPairRequest>(json) {
                pair(&request, &policy);
            }
        }
    }
});

/// Deserialises `json`; when accepted, checks it serialises and deserialises back equal.
fn round_trip<T>(json: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let request: T = serde_json::from_slice(json).ok()?;
    let again = serde_json::to_vec(&request).expect("serialise");
    let back: T = serde_json::from_slice(&again).unwrap_or_else(|e| {
        panic!(
            "re-serialised {} rejected: {e}",
            String::from_utf8_lossy(&again)
        )
    });
    assert_eq!(back, request);
    Some(request)
}

fn publish(request: &PublishManifestRequest, policy: &Policy) {
    let Ok(submission) = request.parse(policy) else {
        return;
    };
    let manifest = &submission.manifest;
    assert!(i64::try_from(manifest.nonce).is_ok());
    let window = manifest.valid_until.unix() - manifest.valid_from.unix();
    assert!(window > 0 && window <= policy.max_manifest_validity_seconds());
    assert!(submission.endpoint.as_str().len() <= policy.max_endpoint_bytes);
    assert_eq!(submission.endpoint.as_str(), request.endpoint_uri);

    let json = serde_json::to_vec(request).expect("serialise");
    let again: PublishManifestRequest = serde_json::from_slice(&json).expect("deserialise");
    assert_eq!(again.parse(policy), Ok(submission.clone()));

    // Canonicalisation is idempotent: the canonical fields parse to the same submission.
    let canonical = PublishManifestRequest {
        agent_uuid: manifest.agent.to_string(),
        endpoint_uri: manifest.endpoint.to_string(),
        pubkey: manifest.pubkey.to_string(),
        nonce: manifest.nonce,
        valid_from: manifest.valid_from.to_string(),
        valid_until: manifest.valid_until.to_string(),
        signature: submission.signature.to_string(),
        chain: manifest.chain.to_string(),
    };
    assert_eq!(canonical.parse(policy), Ok(submission.clone()));

    let text = manifest.message();
    assert_eq!(
        parse_message(text.as_str()),
        Ok(ParsedMessage::EndpointManifest(manifest.clone()))
    );
}

fn record(request: &RecordForwardRequest, policy: &Policy) {
    let Ok(submission) = request.parse(policy) else {
        return;
    };
    let receipt = &submission.receipt;
    assert!(receipt.hop <= policy.max_hop_depth);
    assert!(i64::try_from(receipt.nonce).is_ok());

    let json = serde_json::to_vec(request).expect("serialise");
    let again: RecordForwardRequest = serde_json::from_slice(&json).expect("deserialise");
    assert_eq!(again.parse(policy), Ok(submission.clone()));

    let canonical = RecordForwardRequest::of(receipt, &submission.signature);
    assert_eq!(canonical.parse(policy), Ok(submission.clone()));

    let text = receipt.message();
    assert_eq!(
        parse_message(text.as_str()),
        Ok(ParsedMessage::ForwardReceipt(receipt.clone()))
    );
}

fn pair(request: &ForwardPairRequest, policy: &Policy) {
    let Ok(submission) = request.parse(policy) else {
        return;
    };
    // Each part on its own is accepted too, and round-trips to its canonical form.
    record(&request.receipt, policy);
    assert!(submission.receipt.acknowledges(&submission.order));
    let order = &submission.order;
    assert!(order.hop <= policy.max_hop_depth);
    assert!(i64::try_from(order.nonce).is_ok());

    let json = serde_json::to_vec(request).expect("serialise");
    let again: ForwardPairRequest = serde_json::from_slice(&json).expect("deserialise");
    assert_eq!(again.parse(policy), Ok(submission.clone()));

    let canonical = ForwardPairRequest {
        order: ForwardOrderRequest::of(order, &submission.order_signature),
        receipt: request.receipt.clone(),
    };
    assert_eq!(canonical.order.amount_usdc, request.order.amount_usdc);
    assert_eq!(canonical.parse(policy), Ok(submission.clone()));

    assert_eq!(
        parse_message(order.message().as_str()),
        Ok(ParsedMessage::ForwardOrder(order.clone()))
    );
}

fn commitment(request: &CommitmentRequest, policy: &Policy) {
    let Ok(submission) = request.parse(policy) else {
        return;
    };
    let c = &submission.commitment;
    assert!(Usdc::from(c.amount) >= policy.high_value_threshold);

    let canonical = CommitmentRequest {
        chain: c.chain.to_string(),
        root_tx_hash: c.root_tx.to_string(),
        payer_agent_uuid: c.payer.to_string(),
        first_hop_agent_uuid: c.first_hop.to_string(),
        routing_hash: c.routing.to_string(),
        amount_usdc: c.amount.to_string(),
        lock_until: c.lock_until.to_string(),
        payer_signature: submission.payer_signature.to_string(),
        first_hop_signature: submission.first_hop_signature.to_string(),
    };
    assert_eq!(canonical.parse(policy), Ok(submission.clone()));
    assert_eq!(
        parse_message(c.message().as_str()),
        Ok(ParsedMessage::Commitment(c.clone()))
    );
}
