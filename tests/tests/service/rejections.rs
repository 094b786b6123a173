//! Everything the service refuses, each with its documented status and stable code, and
//! without writing anything.

use std::time::Duration;

use kagami_core::crypto::{PrivateKeySigner, Timestamp, Uuid};
use kagami_store::Role;
use reqwest::{Method, header::CONTENT_TYPE};
use serde_json::{Value, json};

use crate::{
    app::{Auth, KEY_CACHE_TTL, TestApp, salt},
    fixtures::*,
};

// ---- signatures ------------------------------------------------------------------------

pub(crate) async fn signatures_that_do_not_match_are_rejected(app: &TestApp) {
    let a = register(app, 1, "1000").await;
    let b = register(app, 2, "1000").await;
    let stranger = PrivateKeySigner::random();

    // Manifests: a field changed after signing, or signed by anyone but the owner.
    let ma = first_manifest(&a);
    let mut tampered = ma.body();
    tampered["endpoint_uri"] = "https://evil.example/x402".into();
    let body = app
        .post("/api/v1/agents/manifests/publish", Auth::Client, &tampered)
        .await
        .expect_error(400, "invalid_signature");
    assert_eq!(body["field"], "signature", "{body}");
    let mut later = ma.body();
    later["valid_until"] = from_now(21 * 3600).to_string().into();
    app.post("/api/v1/agents/manifests/publish", Auth::Client, &later)
        .await
        .expect_error(400, "invalid_signature");
    for signer in [&a.hot, &b.owner, &stranger] {
        let wrong = manifest_signed_by(
            &a,
            signer,
            1,
            &endpoint(&a),
            from_now(-3600),
            from_now(3600),
        );
        publish(app, &wrong)
            .await
            .expect_error(400, "invalid_signature");
    }
    let mut garbled = ma.body();
    garbled["signature"] = "0x1234".into();
    let body = app
        .post("/api/v1/agents/manifests/publish", Auth::Client, &garbled)
        .await
        .expect_error(400, "invalid_signature");
    assert_eq!(body["field"], "signature", "{body}");
    let listed = app
        .get(&format!("/api/v1/agents/{}/manifests", a.uuid))
        .await
        .expect(200);
    assert_eq!(listed, json!([]), "rejected manifests are not stored");

    published(app, &ma).await;
    let mb = first_manifest(&b);
    published(app, &mb).await;

    // verify-forward: the caller's copy of the manifest must be the one the owner signed.
    let root = root("signatures");
    let mut wrong_nonce = verify_body(root, &a, &b, &mb);
    wrong_nonce["manifest_nonce"] = 2.into();
    let verdict = app
        .post(
            "/api/v1/agents/manifests/verify-forward",
            Auth::Public,
            &wrong_nonce,
        )
        .await
        .expect(200);
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("invalid_signature")),
        "{verdict}"
    );
    let mut other_signature = verify_body(root, &a, &b, &mb);
    other_signature["manifest_signature"] = ma.signature.to_string().into();
    let verdict = app
        .post(
            "/api/v1/agents/manifests/verify-forward",
            Auth::Public,
            &other_signature,
        )
        .await
        .expect(200);
    assert_eq!(verdict["reason"], "invalid_signature", "{verdict}");

    // Receipts: tampered after signing, or signed by someone other than the destination.
    let genuine = pair(root, 0, &a, &b, &mb, None, 1);
    let mut tampered = genuine.body();
    tampered["receipt"]["receipt_nonce"] = 2.into();
    app.post(
        "/api/v1/agents/manifests/record-forward",
        Auth::Client,
        &tampered,
    )
    .await
    .expect_error(400, "invalid_signature");
    let mut tampered = genuine.body();
    tampered["receipt"]["next_hop_hash"] = next_hop(root, &a).to_string().into();
    app.post(
        "/api/v1/agents/manifests/record-forward",
        Auth::Client,
        &tampered,
    )
    .await
    .expect_error(400, "invalid_signature");
    let mut tampered = genuine.body();
    // The order's amount changed after signing: it is another order, which the receipt does
    // not acknowledge.
    tampered["order"]["amount_usdc"] = "2.000000".into();
    let body = app
        .post(
            "/api/v1/agents/manifests/record-forward",
            Auth::Client,
            &tampered,
        )
        .await
        .expect_error(400, "order_mismatch");
    assert_eq!(body["field"], "receipt.order_hash", "{body}");
    for signer in [&a.hot, &a.owner, &stranger] {
        let forged = genuine.receipt_signed_by(signer);
        let body = record(app, &forged)
            .await
            .expect_error(400, "invalid_signature");
        assert_eq!(body["field"], "receipt.signature", "{body}");
    }
    for signer in [&b.hot, &b.owner, &stranger] {
        let forged = genuine.order_signed_by(signer);
        let body = record(app, &forged)
            .await
            .expect_error(400, "invalid_signature");
        assert_eq!(body["field"], "order.signature", "{body}");
    }
    assert_eq!(
        trail(app, root).await["receipts"],
        json!([]),
        "rejected receipts are not stored"
    );

    // Revocations: only the owner may revoke.
    for signer in [&b.hot, &a.owner] {
        let body = revocation(&b, &mb, signer);
        app.post("/api/v1/agents/manifests/revoke", Auth::Client, &body)
            .await
            .expect_error(400, "invalid_signature");
    }
    assert_eq!(
        app.get(&format!("/api/v1/manifests/{}", mb.hash()))
            .await
            .expect(200)["status"],
        "active"
    );

    // The destination's owner may sign its receipt, and the payer's owner its order, instead
    // of their operational keys.
    recorded(
        app,
        &genuine
            .receipt_signed_by(&b.owner)
            .order_signed_by(&a.owner),
    )
    .await;
}

// ---- manifest windows ------------------------------------------------------------------

pub(crate) async fn manifests_outside_their_window_cannot_back_a_receipt(app: &TestApp) {
    // A publishes no manifest: its owner signs its orders.
    let a = register(app, 1, "1000").await;
    let pending = register(app, 2, "1000").await;
    let expiring = register(app, 3, "1000").await;

    // Not yet in force.
    let mp = manifest(
        &pending,
        1,
        &endpoint(&pending),
        from_now(3600),
        from_now(7200),
    );
    assert_eq!(published(app, &mp).await["status"], "pending");
    let body = record(
        app,
        &pair(root("pending"), 0, &a, &pending, &mp, None, 1).order_signed_by(&a.owner),
    )
    .await
    .expect_error(422, "manifest_not_effective");
    assert_eq!(
        (&body["field"], &body["manifest_status"]),
        (&Value::from("manifest_hash"), &Value::from("pending")),
        "{body}"
    );
    let verdict = verify(app, root("pending"), &a, &pending, &mp).await;
    assert_eq!(
        (&verdict["reason"], &verdict["manifest_status"]),
        (
            &Value::from("manifest_not_effective"),
            &Value::from("pending")
        ),
        "{verdict}"
    );

    // Already over when published.
    let stale = manifest(&a, 1, &endpoint(&a), from_now(-7200), from_now(-3600));
    let body = publish(app, &stale)
        .await
        .expect_error(422, "manifest_expired");
    assert_eq!(body["field"], "valid_until", "{body}");

    // In force for two more seconds: a receipt recorded now stays replayable after expiry,
    // a new one citing the expired manifest is refused.
    let until = now() + 2;
    let me = manifest(
        &expiring,
        1,
        &endpoint(&expiring),
        from_now(-60),
        Timestamp::from_unix(until).unwrap(),
    );
    published(app, &me).await;
    let in_time = pair(root("in-time"), 0, &a, &expiring, &me, None, 1).order_signed_by(&a.owner);
    let in_time_body = recorded(app, &in_time).await;
    while now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get(&format!("/api/v1/manifests/{}", me.hash()))
            .await
            .expect(200)["status"],
        "expired"
    );
    assert_eq!(
        record(app, &in_time).await.expect(200),
        in_time_body,
        "a replay is a safe retry even after expiry"
    );
    let too_late = pair(root("too-late"), 0, &a, &expiring, &me, None, 2).order_signed_by(&a.owner);
    let body = record(app, &too_late)
        .await
        .expect_error(422, "manifest_not_effective");
    assert_eq!(body["manifest_status"], "expired", "{body}");
    let verdict = verify(app, root("too-late"), &a, &expiring, &me).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("manifest_not_effective"))
    );
    assert_eq!(verdict["manifest_status"], "expired", "{verdict}");
    assert_eq!(trail(app, root("too-late")).await["receipts"], json!([]));
    assert_eq!(
        details(app, &expiring).await["effective_manifest"],
        Value::Null
    );
}

pub(crate) async fn revoked_manifest_is_not_effective(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let root = root("revoked");
    assert_eq!(verify(app, root, &a, &b, &mb).await["safe"], true);

    let revoked = app
        .post(
            "/api/v1/agents/manifests/revoke",
            Auth::Client,
            &revocation(&b, &mb, &b.owner),
        )
        .await
        .expect(200);
    assert_eq!(revoked["manifest_hash"], mb.hash().to_string());
    assert_eq!(revoked["status"], "revoked");
    assert!(
        revoked["revoked_at"]
            .as_str()
            .is_some_and(|t| t.parse::<Timestamp>().is_ok()),
        "{revoked}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/manifests/{}", mb.hash()))
            .await
            .expect(200)["status"],
        "revoked"
    );
    assert_eq!(details(app, &b).await["effective_manifest"], Value::Null);

    let verdict = verify(app, root, &a, &b, &mb).await;
    assert_eq!(verdict["safe"], false, "{verdict}");
    assert_eq!(verdict["reason"], "manifest_not_effective");
    assert_eq!(verdict["manifest_status"], "revoked");
    assert_eq!(verdict["manifest_hash"], mb.hash().to_string());
    let body = record(app, &pair(root, 0, &a, &b, &mb, None, 1))
        .await
        .expect_error(422, "manifest_not_effective");
    assert_eq!(body["manifest_status"], "revoked", "{body}");

    // Revoking what the agent does not have.
    let other = first_manifest(&a);
    let body = revocation(&b, &other, &b.owner);
    app.post("/api/v1/agents/manifests/revoke", Auth::Client, &body)
        .await
        .expect_error(404, "manifest_not_found");
}

// ---- forward rules ---------------------------------------------------------------------

pub(crate) async fn forward_rule_violations_answer_their_codes_and_write_nothing(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let (c, mc) = ready_agent(app, 3, "1000").await;
    let (d, md) = ready_agent(app, 4, "1000").await;
    let (poor, mpoor) = ready_agent(app, 5, "50").await;
    let rules = root("rules");

    // verify-forward names what is wrong with the parties.
    let ghost = Agent {
        agent_id: 99,
        uuid: Uuid::new_v4(),
        owner: PrivateKeySigner::random(),
        hot: PrivateKeySigner::random(),
    };
    for (verdict, reason) in [
        (verify(app, rules, &a, &ghost, &mb).await, "agent_not_found"),
        (verify(app, rules, &ghost, &b, &mb).await, "agent_not_found"),
        (verify(app, rules, &a, &b, &mc).await, "manifest_not_found"),
        (verify(app, rules, &a, &a, &ma).await, "self_forward"),
    ] {
        assert_eq!(
            (&verdict["safe"], &verdict["reason"]),
            (&Value::from(false), &Value::from(reason)),
            "{verdict}"
        );
        assert!(verdict["message"].is_string(), "{verdict}");
    }

    let deep = pair(rules, 11, &a, &b, &mb, None, 1);
    let body = record(app, &deep)
        .await
        .expect_error(400, "hop_limit_exceeded");
    assert_eq!(body["field"], "order.hop", "{body}");
    let body = record(app, &pair(rules, 1, &a, &b, &mb, None, 1))
        .await
        .expect_error(422, "previous_hop_missing");
    assert_eq!(
        (&body["field"], &body["hop"]),
        (&Value::from("hop"), &Value::from(1)),
        "{body}"
    );
    record(app, &pair(rules, 0, &a, &a, &ma, None, 1))
        .await
        .expect_error(422, "self_forward");
    let body = record(app, &pair(rules, 0, &a, &poor, &mpoor, None, 1))
        .await
        .expect_error(422, "insufficient_stake");
    assert_eq!(
        (&body["available_usdc"], &body["required_usdc"]),
        (&Value::from("50.000000"), &Value::from("100.000000")),
        "{body}"
    );
    let verdict = verify(app, rules, &a, &poor, &mpoor).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("insufficient_stake")),
        "{verdict}"
    );
    let mut cites_c = order(rules, 0, &a, &b, &mb, "1.000000");
    cites_c.manifest = mc.hash();
    let foreign = SignedPair::sign(cites_c, &a.hot, None, 1, &b.hot);
    record(app, &foreign)
        .await
        .expect_error(422, "manifest_not_destinations");
    assert_eq!(
        trail(app, rules).await["receipts"],
        json!([]),
        "refused receipts are not stored"
    );

    // B commits to pay C next; paying D instead breaks the commitment.
    recorded(app, &pair(rules, 0, &a, &b, &mb, Some(&c), 1)).await;
    let verdict = verify(app, rules, &b, &d, &md).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("next_hop_mismatch")),
        "{verdict}"
    );
    let body = record(app, &pair(rules, 1, &b, &d, &md, None, 1))
        .await
        .expect_error(409, "next_hop_mismatch");
    assert_eq!(
        body["committed_next_hop_hash"],
        next_hop(rules, &c).to_string(),
        "{body}"
    );
    assert_eq!(
        body["expected_next_hop_hash"],
        next_hop(rules, &d).to_string(),
        "{body}"
    );
    // A destination nonce signs one receipt only.
    let reused = pair(root("rules-2"), 0, &a, &b, &mb, None, 1);
    record(app, &reused)
        .await
        .expect_error(409, "receipt_nonce_used");
    assert_eq!(trail(app, root("rules-2")).await["receipts"], json!([]));
    // The commitment kept: paying C is fine.
    assert_eq!(verify(app, rules, &b, &c, &mc).await["safe"], true);
    recorded(app, &pair(rules, 1, &b, &c, &mc, Some(&d), 1)).await;

    let trail_now = trail(app, rules).await;
    assert_eq!(
        trail_now["receipts"].as_array().unwrap().len(),
        2,
        "{trail_now}"
    );
    assert!(
        trail_now["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["is_valid"] == true)
    );
    assert_eq!(trail_now["settlement"], Value::Null);
    let d_stake = details(app, &d).await["stake"].clone();
    assert_eq!(
        d_stake["locked_usdc"], "0.000000",
        "refused receipts lock nothing: {d_stake}"
    );

    // Paying C again (A → C at hop 0) would pay it twice: an extraction loop, refused by
    // verify-forward and settled when recorded anyway.
    let verdict = verify(app, rules, &a, &c, &mc).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (
            &Value::from(false),
            &Value::from("extraction_loop_detected")
        ),
        "{verdict}"
    );
    assert_eq!(
        sorted(&verdict["loop_agents"]),
        uuids(&[&a, &b, &c]),
        "{verdict}"
    );
    let twice = pair(rules, 0, &a, &c, &mc, None, 2);
    let body = record(app, &twice)
        .await
        .expect_error(409, "extraction_loop_detected");
    assert!(body["settlement_id"].is_string(), "{body}");
    assert_eq!(
        trail(app, rules).await["settlement"]["kind"],
        "extraction_loop"
    );
}

// ---- bodies ----------------------------------------------------------------------------

pub(crate) async fn malformed_bodies_answer_the_json_envelope(app: &TestApp) {
    let owner = PrivateKeySigner::random();
    let valid = registration(1, &owner);
    let agents = || app.request(Method::POST, "/api/v1/agents", Auth::Admin);

    let reply = app
        .send(
            agents()
                .header(CONTENT_TYPE, "text/plain")
                .body(valid.to_string()),
        )
        .await;
    reply.expect_error(415, "unsupported_media_type");
    let reply = app.send(agents().body(valid.to_string())).await;
    reply.expect_error(415, "unsupported_media_type");
    let reply = app
        .send(
            agents()
                .header(CONTENT_TYPE, "application/json")
                .body("{\"agent_id\": 1,"),
        )
        .await;
    reply.expect_error(400, "malformed_json");
    let reply = app
        .send(agents().header(CONTENT_TYPE, "application/json").body("[]"))
        .await;
    reply.expect_error(400, "malformed_json");

    let mut oversized = valid.clone();
    oversized["registration_file"] = json!({ "padding": "x".repeat(70 * 1024) });
    let body = app
        .post("/api/v1/agents", Auth::Admin, &oversized)
        .await
        .expect_error(413, "payload_too_large");
    assert!(
        body["message"].as_str().unwrap().contains("65536"),
        "{body}"
    );
    let mut just_fits = valid.clone();
    just_fits["registration_file"] = json!({ "padding": "x".repeat(60 * 1024) });
    let fits = app
        .post("/api/v1/agents", Auth::Admin, &just_fits)
        .await
        .expect(201);
    // Streamed without a length, the limit holds all the same.
    let (status, text) = app
        .post_chunked("/api/v1/agents", &[b' '; 8 * 1024], 9)
        .await;
    assert_eq!(status, 413, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(body["error"], "payload_too_large", "{body}");
    let big = json!({ "root_tx_hash": "x".repeat(70 * 1024) });
    app.post(
        "/api/v1/agents/manifests/verify-forward",
        Auth::Public,
        &big,
    )
    .await
    .expect_error(413, "payload_too_large");

    let mut unknown = registration(2, &owner);
    unknown["owner"] = "0x0000000000000000000000000000000000000001".into();
    let body = app
        .post("/api/v1/agents", Auth::Admin, &unknown)
        .await
        .expect_error(400, "unknown_field");
    assert_eq!(body["field"], "owner", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("owner"),
        "{body}"
    );
    let mut misspelt = registration(2, &owner);
    misspelt["token_url"] = "ipfs://x".into();
    let body = app
        .post("/api/v1/agents", Auth::Admin, &misspelt)
        .await
        .expect_error(400, "unknown_field");
    assert_eq!(
        body["field"], "token_url",
        "a misspelt optional field is an error, not ignored: {body}"
    );
    let mut missing = registration(2, &owner);
    missing.as_object_mut().unwrap().remove("chain");
    let body = app
        .post("/api/v1/agents", Auth::Admin, &missing)
        .await
        .expect_error(400, "missing_field");
    assert_eq!(body["field"], "chain", "{body}");
    let mut bad_value = registration(2, &owner);
    bad_value["owner_address"] = "0x1234".into();
    let body = app
        .post("/api/v1/agents", Auth::Admin, &bad_value)
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "owner_address", "{body}");
    let body = app
        .get("/api/v1/agents/not-a-uuid")
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "agent_uuid", "{body}");

    // Of all of the above only the body that fit was stored.
    let stored = app
        .get(&format!(
            "/api/v1/agents/{}",
            fits["agent_uuid"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(
        stored["registration_file"]["padding"]
            .as_str()
            .map(str::len),
        Some(60 * 1024)
    );
    let again = app
        .post("/api/v1/agents", Auth::Admin, &registration(2, &owner))
        .await;
    again.expect(201);
}

// ---- keys ------------------------------------------------------------------------------

pub(crate) async fn api_keys_and_roles_are_enforced(app: &TestApp) {
    let owner = PrivateKeySigner::random();
    let body = registration(1, &owner);

    let reply = app.post("/api/v1/agents", Auth::Public, &body).await;
    reply.expect_error(401, "missing_api_key");
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        reply.headers
    );
    let not_a_key = format!("Bearer kgm_{}", "A".repeat(43));
    let not_prefixed = format!("Bearer {}", app.admin_key.trim_start_matches("kgm_"));
    let basic = format!("Basic {}", app.admin_key);
    for header in [
        not_a_key.as_str(),
        not_prefixed.as_str(),
        basic.as_str(),
        "Bearer",
    ] {
        let reply = app
            .post("/api/v1/agents", Auth::Header(header), &body)
            .await;
        reply.expect_error(401, "invalid_api_key");
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{header}: {:?}",
            reply.headers
        );
    }
    app.post("/api/v1/agents", Auth::Client, &body)
        .await
        .expect_error(403, "forbidden");

    // Nothing was registered by the refused requests.
    let a = register(app, 1, "1000").await;

    // Every admin endpoint refuses a client key.
    let nil = Uuid::nil();
    let admin_only: [(Method, String, Value); 5] = [
        (
            Method::PUT,
            format!("/api/v1/agents/{}/stake", a.uuid),
            json!({ "staked_amount_usdc": "1" }),
        ),
        (
            Method::PATCH,
            format!("/api/v1/agents/{}", a.uuid),
            json!({ "status": "suspended" }),
        ),
        (
            Method::POST,
            format!("/api/v1/commitments/{nil}/confirm"),
            json!({ "onchain_tx_hash": root("tx").to_string() }),
        ),
        (
            Method::POST,
            format!("/api/v1/commitments/{nil}/settle"),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/mev/incidents".to_owned(),
            mev_incident(
                &a,
                "100.000000",
                &kagami_tests::signed_transaction(&a.hot, 1),
            ),
        ),
    ];
    for (method, path, body) in &admin_only {
        let reply = app
            .send(app.request(method.clone(), path, Auth::Client).json(body))
            .await;
        reply.expect_error(403, "forbidden");
        let reply = app
            .send(app.request(method.clone(), path, Auth::Public).json(body))
            .await;
        reply.expect_error(401, "missing_api_key");
    }
    let stake = details(app, &a).await;
    assert_eq!(
        (&stake["status"], &stake["stake"]["staked_usdc"]),
        (&Value::from("active"), &Value::from("1000.000000"))
    );
    assert_eq!(stake["stake"]["slashed_usdc"], "0.000000", "{stake}");

    // Writes need a key; reads do not; an admin key also works where a client key does.
    let ma = first_manifest(&a);
    publish(app, &ma).await.expect(201);
    app.post("/api/v1/agents/manifests/publish", Auth::Public, &ma.body())
        .await
        .expect_error(401, "missing_api_key");
    app.post("/api/v1/agents/manifests/publish", Auth::Admin, &ma.body())
        .await
        .expect(200);
    app.get(&format!("/api/v1/agents/{}/manifests", a.uuid))
        .await
        .expect(200);

    // A revoked key stops working once the replica's key cache forgets it (the test servers
    // remember keys for a second).
    let now = Timestamp::from_unix(now()).unwrap();
    let (key, record) =
        kagami_api::auth::create_key(&app.store, &salt(), Role::Client, "short-lived", now)
            .await
            .unwrap();
    let header = format!("Bearer {}", key.expose());
    app.post(
        "/api/v1/agents/manifests/publish",
        Auth::Header(&header),
        &ma.body(),
    )
    .await
    .expect(200);
    app.store.revoke_api_key(record.id, now).await.unwrap();
    tokio::time::sleep(KEY_CACHE_TTL + Duration::from_millis(50)).await;
    app.post(
        "/api/v1/agents/manifests/publish",
        Auth::Header(&header),
        &ma.body(),
    )
    .await
    .expect_error(401, "invalid_api_key");

    // Status changes are the admin's: a suspended agent cannot publish or be paid.
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let suspended = app
        .send(
            app.request(
                Method::PATCH,
                &format!("/api/v1/agents/{}", b.uuid),
                Auth::Admin,
            )
            .json(&json!({ "status": "suspended" })),
        )
        .await
        .expect(200);
    assert_eq!(suspended["status"], "suspended");
    let verdict = verify(app, root("suspended"), &a, &b, &mb).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("agent_suspended")),
        "{verdict}"
    );
    let next = manifest(&b, 2, &endpoint(&b), from_now(60), from_now(3600));
    publish(app, &next)
        .await
        .expect_error(422, "agent_not_active");
    let body = app
        .send(
            app.request(
                Method::PATCH,
                &format!("/api/v1/agents/{}", b.uuid),
                Auth::Admin,
            )
            .json(&json!({ "status": "asleep" })),
        )
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "status");
}

/// Authentication and role are decided before the body is validated: a caller without the
/// right key gets 401/403 whatever it sends, and learns nothing about what a valid body looks
/// like. (A missing key already wins; an invalid or wrong-role key must too.)
pub(crate) async fn authorization_is_decided_before_the_body_is_validated(app: &TestApp) {
    let not_a_key = format!("Bearer kgm_{}", "A".repeat(43));
    let invalid = app
        .post("/api/v1/agents", Auth::Header(&not_a_key), &json!({}))
        .await;
    invalid.expect_error(401, "invalid_api_key");
    let wrong_role = app.post("/api/v1/agents", Auth::Client, &json!({})).await;
    wrong_role.expect_error(403, "forbidden");
    let wrong_role = app
        .post(
            "/api/v1/mev/incidents",
            Auth::Client,
            &json!({ "attack": 1 }),
        )
        .await;
    wrong_role.expect_error(403, "forbidden");
    let missing = app.post("/api/v1/agents", Auth::Public, &json!({})).await;
    missing.expect_error(401, "missing_api_key");
}

// ---- registration and publication ------------------------------------------------------

pub(crate) async fn registration_and_publication_preconditions_answer_their_codes(app: &TestApp) {
    let a = register(app, 1, "1000").await;
    let again = registration(1, &PrivateKeySigner::random());
    app.post("/api/v1/agents", Auth::Admin, &again)
        .await
        .expect_error(409, "agent_already_registered");
    app.get(&format!("/api/v1/agents/{}", Uuid::new_v4()))
        .await
        .expect_error(404, "agent_not_found");
    let ghost = Agent {
        agent_id: 99,
        uuid: Uuid::new_v4(),
        owner: PrivateKeySigner::random(),
        hot: PrivateKeySigner::random(),
    };
    publish(app, &first_manifest(&ghost))
        .await
        .expect_error(404, "agent_not_found");
    set_stake(app, &ghost, "1")
        .await
        .expect_error(404, "agent_not_found");

    // The window: at most 24 hours, exactly 24 hours allowed.
    let from = from_now(-60);
    let too_long = manifest(&a, 1, &endpoint(&a), from, from.add_seconds(24 * 3600 + 1));
    let body = publish(app, &too_long)
        .await
        .expect_error(400, "window_too_long");
    assert_eq!(body["field"], "valid_until", "{body}");
    let inverted = manifest(&a, 1, &endpoint(&a), from, from);
    publish(app, &inverted)
        .await
        .expect_error(400, "invalid_field");
    let day = manifest(&a, 1, &endpoint(&a), from, from.add_seconds(24 * 3600));
    let first = published(app, &day).await;

    // A replacement takes effect no sooner than the activation delay after the current one.
    let created_at: Timestamp = app
        .get(&format!("/api/v1/manifests/{}", day.hash()))
        .await
        .expect(200)["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let earliest = created_at.add_seconds(12);
    let soon = manifest(
        &a,
        2,
        "https://soon.example/x402",
        from_now(0),
        from_now(3600),
    );
    let body = publish(app, &soon)
        .await
        .expect_error(422, "activation_too_soon");
    assert_eq!(body["field"], "valid_from", "{body}");
    assert_eq!(body["earliest_valid_from"], earliest.to_string(), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&earliest.to_string()),
        "{body}"
    );

    // Nonces strictly increase; a used nonce is a replay or a conflict.
    let five = manifest(
        &a,
        5,
        "https://five.example/x402",
        earliest,
        earliest.add_seconds(3600),
    );
    let published_five = published(app, &five).await;
    assert_eq!(published_five["status"], "pending");
    assert_eq!(
        published_five["flip"]["suspicion_score"], 70,
        "{published_five}"
    );
    let three = manifest(
        &a,
        3,
        "https://three.example/x402",
        earliest,
        earliest.add_seconds(3600),
    );
    let body = publish(app, &three)
        .await
        .expect_error(409, "nonce_not_increasing");
    assert_eq!(
        (&body["field"], &body["nonce"], &body["latest_nonce"]),
        (&Value::from("nonce"), &Value::from(3), &Value::from(5)),
        "{body}"
    );
    let other_five = manifest(
        &a,
        5,
        "https://other.example/x402",
        earliest,
        earliest.add_seconds(3600),
    );
    publish(app, &other_five)
        .await
        .expect_error(409, "nonce_reused");
    let other_one = manifest(
        &a,
        1,
        "https://other.example/x402",
        from,
        from.add_seconds(3600),
    );
    publish(app, &other_one)
        .await
        .expect_error(409, "nonce_reused");
    assert_eq!(
        publish(app, &day).await.expect(200)["manifest_id"],
        first["manifest_id"]
    );
    let listed = app
        .get(&format!("/api/v1/agents/{}/manifests", a.uuid))
        .await
        .expect(200);
    let nonces: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nonce"].as_u64().unwrap())
        .collect();
    assert_eq!(nonces, [5, 1], "only the accepted manifests are stored");
}

// ---- money and commitments -------------------------------------------------------------

pub(crate) async fn money_is_a_decimal_string_and_commitments_start_at_ten_thousand(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let stake_path = format!("/api/v1/agents/{}/stake", a.uuid);
    for number in [json!(100), json!(100.5), json!(1e3)] {
        let body = json!({ "staked_amount_usdc": number });
        app.put(&stake_path, Auth::Admin, &body)
            .await
            .expect_error(400, "malformed_json");
    }
    for text in ["1.0000001", "-5", "1e3", "", "1,000", " 100"] {
        let body = set_stake(app, &a, text)
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(body["field"], "staked_amount_usdc", "{text:?}: {body}");
    }
    assert_eq!(
        details(app, &a).await["stake"]["staked_usdc"],
        "1000.000000",
        "refused amounts change nothing"
    );
    assert_eq!(
        set_stake(app, &a, "1500.25").await.expect(200)["staked_usdc"],
        "1500.250000"
    );

    // Commitments: high-value flows only, co-signed by the payer and the first hop, amounts
    // as canonical strings.
    let (payer, _) = ready_agent(app, 90, "0").await;
    let lock_until = from_now(300);
    let commitment = |root_tag: &str, amount: &str| {
        let c = crate::fixtures::commitment(root(root_tag), &payer, &a, amount, lock_until);
        commitment_body(&c, &payer.hot, &a.hot)
    };
    let path = "/api/v1/agents/manifests/onchain-commitment";
    let body = app
        .post(path, Auth::Client, &commitment("c1", "9999.999999"))
        .await
        .expect_error(400, "amount_below_threshold");
    assert_eq!(body["field"], "amount_usdc", "{body}");
    let mut number = commitment("c1", "10000.000000");
    number["amount_usdc"] = json!(10000);
    app.post(path, Auth::Client, &number)
        .await
        .expect_error(400, "malformed_json");
    // Not the six-decimal text that was signed.
    let mut loose = commitment("c1", "10000.000000");
    loose["amount_usdc"] = "10000".into();
    let body = app
        .post(path, Auth::Client, &loose)
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "amount_usdc", "{body}");
    app.post(path, Auth::Public, &commitment("c1", "10000.000000"))
        .await
        .expect_error(401, "missing_api_key");
    let created = app
        .post(path, Auth::Client, &commitment("c1", "10000.000000"))
        .await
        .expect(201);
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["amount_usdc"], "10000.000000");
    assert_eq!(
        created["time_lock_until"],
        lock_until.to_string(),
        "the lock both agents signed: {created}"
    );
    app.post(path, Auth::Client, &commitment("c1", "20000.000000"))
        .await
        .expect_error(409, "commitment_exists");
    let id = created["commitment_id"].as_str().unwrap();
    let settle = format!("/api/v1/commitments/{id}/settle");
    app.post(&settle, Auth::Admin, &json!({}))
        .await
        .expect_error(409, "invalid_commitment_state");
    let confirm = format!("/api/v1/commitments/{id}/confirm");
    let confirmed = app
        .post(
            &confirm,
            Auth::Admin,
            &json!({ "onchain_tx_hash": root("onchain").to_string() }),
        )
        .await
        .expect(200);
    assert_eq!(
        (&confirmed["status"], &confirmed["onchain_tx_hash"]),
        (
            &Value::from("confirmed"),
            &Value::from(root("onchain").to_string())
        )
    );
    assert_eq!(
        app.post(&settle, Auth::Admin, &json!({})).await.expect(200)["status"],
        "settled"
    );
    app.post(
        &format!("/api/v1/commitments/{}/settle", Uuid::new_v4()),
        Auth::Admin,
        &json!({}),
    )
    .await
    .expect_error(404, "commitment_not_found");

    // An endpoint flip of the first hop during a time lock disputes the commitment when it
    // takes effect, and slashes min(50 % of available, amount).
    let (f, _) = ready_agent(app, 2, "1000").await;
    let c2 = crate::fixtures::commitment(root("c2"), &payer, &f, "10000.000000", lock_until);
    let locked = commitment_body(&c2, &payer.hot, &f.hot);
    let disputed = app.post(path, Auth::Client, &locked).await.expect(201);
    let moved = manifest(
        &f,
        2,
        "https://moved.example/x402",
        from_now(2),
        from_now(3600),
    );
    let flipped = published(app, &moved).await;
    assert_eq!(
        (&flipped["status"], &flipped["disputed_commitments"]),
        (&Value::from("pending"), &json!([])),
        "not in force yet, so the routing has not changed: {flipped}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while details(app, &f).await["stake"]["slashed_usdc"] != "500.000000" {
        assert!(
            std::time::Instant::now() < deadline,
            "the change took effect and was never disputed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let id = disputed["commitment_id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/commitments/{id}/confirm"),
        Auth::Admin,
        &json!({ "onchain_tx_hash": root("onchain-2").to_string() }),
    )
    .await
    .expect_error(409, "invalid_commitment_state");
    assert_eq!(
        details(app, &payer).await["stake"]["slashed_usdc"],
        "0.000000",
        "the payer loses nothing"
    );

    // MEV incidents slash min(2 × extracted, available); a stake cannot go below what is slashed.
    let attack_tx = kagami_tests::signed_transaction(&a.hot, 1);
    let incident = mev_incident(&a, "100.000000", &attack_tx);
    let recorded_incident = app
        .post("/api/v1/mev/incidents", Auth::Admin, &incident)
        .await
        .expect(201);
    assert_eq!(
        recorded_incident["slashed_usdc"], "200.000000",
        "{recorded_incident}"
    );
    let mut number = incident.clone();
    number["extracted_value_usdc"] = json!(100);
    app.post("/api/v1/mev/incidents", Auth::Admin, &number)
        .await
        .expect_error(400, "malformed_json");
    let summary = app.get("/api/v1/mev/summary").await.expect(200);
    assert_eq!(summary["total_incidents"], 1, "{summary}");
    assert_eq!(summary["total_slashed_usdc"], "200.000000");
    let body = set_stake(app, &a, "199.999999")
        .await
        .expect_error(422, "stake_below_slashed");
    assert_eq!(body["slashed_usdc"], "200.000000", "{body}");
    let stake = set_stake(app, &a, "200").await.expect(200);
    assert_eq!(
        (&stake["available_usdc"], &stake["tier"]),
        (&Value::from("0.000000"), &Value::Null),
        "{stake}"
    );
}

/// A registration file no database can store (U+0000 in a string or a key) is refused the same
/// way on both stores: 400 naming the field, nothing registered (PostgreSQL's `jsonb` used to
/// turn it into a 500 while SQLite stored it).
pub(crate) async fn a_registration_file_with_nul_is_a_400_on_every_store(app: &TestApp) {
    let owner = PrivateKeySigner::random();
    for file in [
        json!({ "name": "nul\u{0}inside" }),
        json!({ "nested": [{ "key\u{0}": 1 }] }),
    ] {
        let mut body = registration(7, &owner);
        body["registration_file"] = file;
        let reply = app
            .post("/api/v1/agents", Auth::Admin, &body)
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(reply["field"], "registration_file", "{reply}");
    }
    let registered = app
        .post("/api/v1/agents", Auth::Admin, &registration(7, &owner))
        .await
        .expect(201);
    assert_eq!(
        registered["agent_id"], 7,
        "nothing was half-registered before"
    );
}
