//! The audit log, black-box: after the whole story every accepted object has an entry, each
//! entry's offline proof verifies against the log's published key, and checkpoints grow
//! consistently.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use kagami_tlog::{
    Hash, ProofBundle, SignedCheckpoint, VerifierKey, leaf_hash, verify_consistency,
    verify_inclusion,
};
use serde_json::Value;

use crate::app::TestApp;

/// The log's verifier key, as the server publishes it.
async fn verifier(app: &TestApp) -> VerifierKey {
    let reply = app.get("/api/v1/log/key").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let key = VerifierKey::parse(reply.text.trim()).unwrap();
    assert_eq!(key, crate::app::log_signer().verifier());
    key
}

/// The newest checkpoint, verified.
async fn checkpoint(app: &TestApp, key: &VerifierKey) -> (u64, Hash) {
    let reply = app.get("/api/v1/log/checkpoint").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let signed = SignedCheckpoint::parse(&reply.text).unwrap();
    let checkpoint = signed.verify(key).unwrap();
    assert_eq!(checkpoint.origin(), "kagami.test/log");
    (checkpoint.size(), *checkpoint.root())
}

/// Waits until the server's sequencer (every 100 ms here) has integrated every entry
/// written so far: the checkpoint stays the same size for 500 ms.
async fn integrated(app: &TestApp, key: &VerifierKey) -> (u64, Hash) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    let mut since = Instant::now();
    loop {
        // 503 `log_not_ready` until the sequencer's first run.
        if app.get("/api/v1/log/checkpoint").await.status.as_u16() == 503 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let (size, root) = checkpoint(app, key).await;
        if last != Some(size) {
            last = Some(size);
            since = Instant::now();
        } else if since.elapsed() >= Duration::from_millis(500) {
            return (size, root);
        }
        assert!(Instant::now() < deadline, "the log still grows after 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A proof's `hashes`, decoded.
fn hashes(proof: &Value) -> Vec<Hash> {
    proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

pub(crate) async fn every_accepted_object_is_provably_in_the_log(app: &TestApp) {
    let key = verifier(app).await;
    crate::story::the_whole_story_from_registration_to_settlement_and_bounty(app).await;
    let (size, root) = integrated(app, &key).await;
    assert!(size > 0);

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut start = 0;
    while start < size {
        let end = size.min(start + 1000);
        let page = app
            .get(&format!("/api/v1/log/entries?start={start}&end={end}"))
            .await
            .expect(200);
        let entries = page["entries"].as_array().unwrap();
        assert_eq!(entries.len() as u64, end - start);
        for (entry, index) in entries.iter().zip(start..) {
            assert_eq!(entry["index"], index);
            let bytes = STANDARD.decode(entry["entry"].as_str().unwrap()).unwrap();
            let leaf = leaf_hash(&bytes);
            assert_eq!(entry["leaf_hash"], leaf.to_base64());
            let document: Value = serde_json::from_slice(&bytes).unwrap();
            let (kind, object) = (
                entry["kind"].as_str().unwrap(),
                entry["key"].as_str().unwrap(),
            );
            assert_eq!(document["kind"], kind);
            assert_eq!(document["key"], object);
            assert_eq!(document["v"], 1);
            *kinds.entry(kind.to_owned()).or_default() += 1;

            // The ready-made offline proof of the object verifies with the key alone ...
            let reply = app
                .get(&format!("/api/v1/log/objects/{kind}/{object}"))
                .await;
            assert_eq!(
                reply.status.as_u16(),
                200,
                "{kind} {object}: {}",
                reply.text
            );
            let bundle = ProofBundle::parse(&reply.text).unwrap();
            let carried = bundle.extra.clone().unwrap();
            let verified = bundle.verify(&carried, &key).unwrap();
            assert!(verified.size() >= size);
            // ... for that entry and no other: one flipped bit of the entry fails it.
            let mut forged = carried.clone();
            forged[bytes.len() / 2] ^= 1;
            assert!(bundle.verify(&forged, &key).is_err(), "{kind} {object}");

            // The inclusion proof by leaf hash, in the tree of the checkpoint read above.
            let proof = app
                .get(&format!(
                    "/api/v1/log/proof/inclusion?leaf_hash={}&tree_size={size}",
                    leaf.to_base64()
                        .replace('+', "%2B")
                        .replace('/', "%2F")
                        .replace('=', "%3D")
                ))
                .await
                .expect(200);
            let at = proof["leaf_index"].as_u64().unwrap();
            verify_inclusion(&leaf, at, size, &hashes(&proof), &root).unwrap();
        }
        start = end;
    }
    // The story's objects, each in the log: manifests, forwards (order + receipt), the
    // settlement, and both sides of its ledger.
    for kind in ["manifest", "forward", "settlement", "slash", "payout"] {
        assert!(kinds.contains_key(kind), "no {kind} entry in {kinds:?}");
    }

    // A later checkpoint is consistent with this one.
    crate::fixtures::ready_agent(app, 9_900_001, "100").await;
    let (later, later_root) = integrated(app, &key).await;
    assert!(later > size, "a published manifest added no entry: {later}");
    let proof = app
        .get(&format!(
            "/api/v1/log/proof/consistency?from={size}&to={later}"
        ))
        .await
        .expect(200);
    let hashes = hashes(&proof);
    verify_consistency(size, later, &hashes, &root, &later_root).unwrap();
    assert!(verify_consistency(size, later, &hashes, &later_root, &root).is_err());
}

pub(crate) async fn log_queries_are_typed_and_bounded(app: &TestApp) {
    let key = verifier(app).await;
    let (size, _) = integrated(app, &key).await;
    for (path, status, code) in [
        ("/api/v1/log/entries?start=0", 400, "invalid_query"),
        ("/api/v1/log/entries?start=x&end=1", 400, "invalid_query"),
        ("/api/v1/log/entries?start=01&end=2", 400, "invalid_query"),
        ("/api/v1/log/proof/inclusion", 400, "invalid_query"),
        (
            "/api/v1/log/proof/inclusion?leaf_hash=0xzz",
            400,
            "invalid_query",
        ),
        ("/api/v1/log/proof/consistency?from=1", 400, "invalid_query"),
        (
            "/api/v1/log/proof/consistency?from=2&to=1",
            400,
            "tree_size_out_of_range",
        ),
        (
            "/api/v1/log/objects/manifest/0x00",
            404,
            "log_entry_not_found",
        ),
    ] {
        if status == 200 {
            app.get(path).await.expect(200);
            continue;
        }
        let body = app.get(path).await.expect_error(status, code);
        if status == 400 {
            assert!(body["field"].is_string(), "{path}: {body}");
        }
    }
    let beyond = size + 1;
    // Entries stop at the newest checkpoint and after 1000; an empty range is empty.
    let count = |body: Value| body["entries"].as_array().unwrap().len() as u64;
    let all = app
        .get(&format!("/api/v1/log/entries?start=0&end={beyond}"))
        .await;
    assert_eq!(count(all.expect(200)), size);
    let far = app
        .get("/api/v1/log/entries?start=0&end=18446744073709551615")
        .await;
    assert_eq!(count(far.expect(200)), size.min(1000));
    let backwards = app.get("/api/v1/log/entries?start=5&end=4").await;
    assert_eq!(count(backwards.expect(200)), 0);
    app.get(&format!("/api/v1/log/proof/consistency?from=0&to={beyond}"))
        .await
        .expect_error(400, "tree_size_out_of_range");
    let zero = "0x".to_owned() + &"00".repeat(32);
    app.get(&format!(
        "/api/v1/log/proof/inclusion?leaf_hash={zero}&tree_size={beyond}"
    ))
    .await
    .expect_error(400, "tree_size_out_of_range");
    app.get(&format!("/api/v1/log/proof/inclusion?leaf_hash={zero}"))
        .await
        .expect_error(404, "log_entry_not_found");
}
