//! The whole story, over HTTP: agents register and stake, publish manifests, one flips its
//! endpoint, a payment is forwarded A→B→C with next-hop commitments, the forward that would
//! close the cycle is refused by verify-forward and settled when recorded anyway, and on a
//! second payment a watcher proves the cycle nobody recorded and earns the bounty.

use std::time::{Duration, Instant};

use kagami_core::crypto::{PrivateKeySigner, Timestamp};
use serde_json::Value;

use crate::{
    app::{Auth, TestApp, sample},
    fixtures::*,
};

pub(crate) async fn the_whole_story_from_registration_to_settlement_and_bounty(app: &TestApp) {
    // ---- agents and stakes ------------------------------------------------------------
    let a = register(app, 1, "1000").await;
    let b = register(app, 2, "2000").await;
    let c = register(app, 3, "4000").await;
    let d = register(app, 4, "500").await;
    let stake = details(app, &b).await["stake"].clone();
    assert_eq!(stake["tier"], "silver", "{stake}");
    assert_eq!(details(app, &d).await["stake"]["tier"], "bronze");

    // ---- manifests, a replay, a flip ---------------------------------------------------
    let ma = first_manifest(&a);
    let mb = first_manifest(&b);
    let mc = first_manifest(&c);
    let md = first_manifest(&d);
    let mut bodies = Vec::new();
    for m in [&ma, &mb, &mc, &md] {
        let body = published(app, m).await;
        assert_eq!(
            (&body["status"], &body["flip"]),
            (&Value::from("active"), &Value::Null),
            "{body}"
        );
        bodies.push(body);
    }
    let first = bodies.swap_remove(0);
    let replay = publish(app, &ma).await.expect(200);
    assert_eq!(
        replay, first,
        "the identical manifest again answers the same record"
    );
    let effective = details(app, &a).await["effective_manifest"].clone();
    assert_eq!(effective["manifest_hash"], ma.hash().to_string());
    assert_eq!(effective["manifest_id"], first["manifest_id"]);
    assert_eq!(effective["status"], "active");

    // D moves its endpoint: a replacement, announced now to take effect in an hour (no
    // sooner than the activation delay allows), so D's current manifest stays in force.
    let moved = manifest(
        &d,
        2,
        "https://moved.example/x402",
        from_now(3600),
        from_now(3600 + 20 * 3600),
    );
    let flip_body = published(app, &moved).await;
    assert_eq!(flip_body["status"], "pending", "{flip_body}");
    let flip = &flip_body["flip"];
    assert_eq!(flip["endpoint_changed"], true, "{flip_body}");
    assert_eq!(flip["pubkey_changed"], false);
    let delta = flip["time_delta_seconds"].as_i64().unwrap();
    assert!((0..60).contains(&delta), "{flip_body}");
    // +50 endpoint changed, +20 replaced within a minute.
    assert_eq!(flip["suspicion_score"], 70);
    let listed = app
        .get(&format!("/api/v1/agents/{}/manifests", d.uuid))
        .await
        .expect(200);
    let statuses: Vec<(u64, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["nonce"].as_u64().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(2, "pending"), (1, "active")]);
    let single = app
        .get(&format!("/api/v1/manifests/{}", moved.hash()))
        .await
        .expect(200);
    assert_eq!(
        (&single["status"], &single["endpoint_uri"]),
        (
            &Value::from("pending"),
            &Value::from("https://moved.example/x402")
        )
    );
    let flips = flip_metrics_eventually(app, &d).await;
    assert_eq!(flips["total_flips"], 1, "{flips}");
    assert_eq!(flips["rapid_flips_1min"], 1);
    assert_eq!(flips["endpoint_changes"], 1);
    assert_eq!(flips["high_suspicion_flips"], 1);
    assert_eq!(flips["avg_suspicion_score"].as_f64(), Some(70.0));
    assert!(
        flips["last_flip_at"]
            .as_str()
            .is_some_and(|t| t.parse::<Timestamp>().is_ok()),
        "{flips}"
    );
    let metrics = app.metrics().await;
    let d_label = format!("agent_uuid=\"{}\"", d.label());
    assert_eq!(
        sample(&metrics, "forward_path_churn_total", &d_label),
        Some(1.0),
        "churn of D"
    );
    assert_eq!(
        sample(&metrics, "forward_path_suspicious_flips_total", &d_label),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "forward_path_churn_total",
            &format!("agent_uuid=\"{}\"", a.label())
        ),
        None,
        "A never flipped"
    );

    // ---- the first payment: A → B → C, then C → A would close a cycle ------------------
    let root1 = root("story-1");
    let verdict = verify(app, root1, &a, &b, &mb).await;
    assert_eq!(verdict["safe"], true, "{verdict}");
    assert_eq!(verdict["manifest_hash"], mb.hash().to_string());
    assert_eq!(verdict["manifest_nonce"], 1);
    assert_eq!(verdict["endpoint_uri"], endpoint(&b));
    assert_eq!(verdict["pubkey"], address(&b.hot));
    assert_eq!(verdict["hop"], 0);
    assert_eq!(verdict["valid_until"], mb.fields.valid_until.to_string());
    assert!(
        verdict["verified_at"]
            .as_str()
            .is_some_and(|t| t.parse::<Timestamp>().is_ok())
    );
    assert!(verdict.get("reason").is_none(), "{verdict}");

    let ab = pair(root1, 0, &a, &b, &mb, Some(&c), 1);
    let ab_body = recorded(app, &ab).await;
    assert_eq!(ab_body["computational_cost_usdc"], "0.005000");
    let ab_replay = record(app, &ab).await.expect(200);
    assert_eq!(
        ab_replay, ab_body,
        "the identical receipt again answers the same record"
    );

    let verdict = verify(app, root1, &b, &c, &mc).await;
    assert_eq!(
        (&verdict["safe"], &verdict["hop"]),
        (&Value::from(true), &Value::from(1)),
        "{verdict}"
    );
    let bc = pair(root1, 1, &b, &c, &mc, Some(&a), 1);
    let bc_body = recorded(app, &bc).await;
    assert_eq!(bc_body["computational_cost_usdc"], "0.005750");
    // Each destination has the per-hop minimum locked for this payment.
    let b_stake = details(app, &b).await["stake"].clone();
    assert_eq!(
        (&b_stake["locked_usdc"], &b_stake["available_usdc"]),
        (&Value::from("100.000000"), &Value::from("1900.000000"))
    );

    let verdict = verify(app, root1, &c, &a, &ma).await;
    assert_eq!(verdict["safe"], false, "{verdict}");
    assert_eq!(verdict["reason"], "would_create_cycle");
    assert_eq!(sorted(&verdict["cycle_agents"]), uuids(&[&a, &b, &c]));
    assert_eq!(verdict["cycle_depth"], 3);
    assert_eq!(verdict["hop"], 2);

    // ---- recording it anyway: stored as evidence, settled at once ----------------------
    let before = app.metrics().await;
    let ca = pair(root1, 2, &c, &a, &ma, None, 1);
    let settled = record(app, &ca)
        .await
        .expect_error(409, "circular_dependency");
    let settlement_id = settled["settlement_id"].as_str().unwrap().to_owned();
    assert_eq!(sorted(&settled["cycle_agents"]), uuids(&[&a, &b, &c]));
    assert_eq!(settled["cycle_depth"], 3);
    // Only C, the payer of the closing hop, signed into the cycle (PROTOCOL.md 12.3): it
    // loses 30 % (10 % per cycle agent) of its available stake. A, the root payer, and B,
    // which forwarded as its receipt committed, lose nothing.
    assert_eq!(settled["liable_agents"], serde_json::json!([c.label()]));
    assert_eq!(settled["slashed_usdc"], "1200.000000");
    let invalid = sorted(&settled["invalid_receipts"]);
    for r in [&ab, &bc] {
        assert!(invalid.contains(&r.hash().to_string()), "{settled}");
    }
    assert_eq!(settled["receipt_hash"], ca.hash().to_string());

    let trail1 = trail(app, root1).await;
    assert_eq!(trail1["root_tx_hash"], root1.to_string());
    let receipts = trail1["receipts"].as_array().unwrap();
    let hops: Vec<u64> = receipts
        .iter()
        .map(|r| r["hop"].as_u64().unwrap())
        .collect();
    assert_eq!(hops, [0, 1, 2], "{trail1}");
    for (r, signed) in receipts.iter().zip([&ab, &bc, &ca]) {
        assert_eq!(r["receipt_hash"], signed.hash().to_string());
        assert_eq!(r["signature"], signed.receipt_signature.to_string());
        assert_eq!(
            r["is_valid"], false,
            "every receipt of the cycle is invalidated: {r}"
        );
        assert_eq!(r["invalidation_reason"], "cycle_detected");
        assert!(r["invalidated_at"].is_string(), "{r}");
    }
    assert_eq!(
        receipts[0]["next_hop_hash"],
        next_hop(root1, &c).to_string()
    );
    assert_eq!(
        receipts[1]["next_hop_hash"],
        next_hop(root1, &a).to_string()
    );
    assert_eq!(receipts[2]["next_hop_hash"], Value::Null);
    let s = &trail1["settlement"];
    assert_eq!(s["settlement_id"], settlement_id.as_str());
    assert_eq!(s["kind"], "cycle");
    assert_eq!(s["cycle_depth"], 3);
    assert_eq!(s["total_slashed_usdc"], "1200.000000");
    assert_eq!(
        (&s["reporter_address"], &s["bounty_usdc"]),
        (&Value::Null, &Value::Null),
        "recorded, not reported: {s}"
    );
    assert_eq!(s["status"], "provisional");
    assert_eq!(slashes(s), expected_slashes(&[(&c, "1200.000000")]));

    for (agent, staked, slashed, available, tier) in [
        (&a, "1000.000000", "0.000000", "1000.000000", "silver"),
        (&b, "2000.000000", "0.000000", "2000.000000", "silver"),
        (&c, "4000.000000", "1200.000000", "2800.000000", "silver"),
        (&d, "500.000000", "0.000000", "500.000000", "bronze"),
    ] {
        let stake = details(app, agent).await["stake"].clone();
        assert_eq!(stake["staked_usdc"], staked, "{stake}");
        assert_eq!(stake["slashed_usdc"], slashed, "{stake}");
        // The settlement released the payment's locks.
        assert_eq!(stake["locked_usdc"], "0.000000", "{stake}");
        assert_eq!(stake["available_usdc"], available, "{stake}");
        assert_eq!(stake["tier"], tier, "{stake}");
    }

    let after = app.metrics().await;
    let delta = |name: &str| {
        sample(&after, name, "").unwrap_or(0.0) - sample(&before, name, "").unwrap_or(0.0)
    };
    // Other tests of this process settle too: the counters grew by at least this settlement.
    assert!(
        delta("kagami_settlements_total") >= 1.0,
        "settlements counter did not grow"
    );
    assert!(
        delta("kagami_slashed_usdc_total") >= 1_200_000_000.0,
        "slashed micro-USDC counter did not grow by 1200 USDC"
    );

    // A settled payment is over: nothing more is safe, reported or recorded on it.
    let verdict = verify(app, root1, &a, &d, &md).await;
    assert_eq!(
        (&verdict["safe"], &verdict["reason"]),
        (&Value::from(false), &Value::from("already_settled")),
        "{verdict}"
    );
    assert_eq!(verdict["settlement_id"], settlement_id.as_str());
    let watcher = PrivateKeySigner::random();
    let report = cycle_report(root1, &watcher, &watcher, &[]);
    let again = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &report,
        )
        .await;
    assert_eq!(
        again.expect_error(409, "already_settled")["settlement_id"],
        settlement_id.as_str()
    );
    let late = pair(root1, 0, &b, &d, &md, None, 1);
    let late_body = record(app, &late)
        .await
        .expect_error(409, "already_settled");
    assert_eq!(late_body["settlement_id"], settlement_id.as_str());
    assert_eq!(
        trail(app, root1).await["receipts"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing recorded into a settled root"
    );

    // ---- the second payment: nobody records the closing receipt; a watcher reports it --
    let root2 = root("story-2");
    recorded(app, &pair(root2, 0, &a, &b, &mb, Some(&c), 2)).await;
    recorded(app, &pair(root2, 1, &b, &c, &mc, Some(&a), 2)).await;
    let closing = pair(root2, 2, &c, &a, &ma, None, 2);
    let watcher = PrivateKeySigner::random();

    // A copied report (the watcher's signature, someone else's address) earns nothing.
    let thief = PrivateKeySigner::random();
    let copied = cycle_report(root2, &thief, &watcher, &[&closing]);
    app.post(
        "/api/v1/agents/manifests/report-cycle",
        Auth::Client,
        &copied,
    )
    .await
    .expect_error(400, "invalid_signature");
    // Evidence with a forged signature is refused, naming the item.
    let forged = closing.receipt_signed_by(&thief);
    let forged_report = cycle_report(root2, &watcher, &watcher, &[&forged]);
    let refused = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &forged_report,
        )
        .await;
    let refused = refused.expect_error(400, "invalid_evidence");
    assert_eq!(refused["evidence_index"], 0, "{refused}");
    assert!(
        refused["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("evidence[0].")),
        "{refused}"
    );
    // Evidence of another payment is refused, naming the item's field.
    let elsewhere = cycle_report(root2, &watcher, &watcher, &[&ab]);
    let refused = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &elsewhere,
        )
        .await
        .expect_error(400, "invalid_evidence");
    assert_eq!(
        refused["field"], "evidence[0].receipt.root_tx_hash",
        "{refused}"
    );
    // Without the closing receipt there is no cycle.
    let empty = cycle_report(root2, &watcher, &watcher, &[]);
    app.post(
        "/api/v1/agents/manifests/report-cycle",
        Auth::Client,
        &empty,
    )
    .await
    .expect_error(422, "no_cycle");
    assert_eq!(
        trail(app, root2).await["settlement"],
        Value::Null,
        "rejected reports settle nothing"
    );

    let before = app.metrics().await;
    let report = cycle_report(root2, &watcher, &watcher, &[&closing]);
    let reported = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &report,
        )
        .await
        .expect(200);
    assert_eq!(reported["reported"], true);
    assert_eq!(sorted(&reported["cycle_agents"]), uuids(&[&a, &b, &c]));
    assert_eq!(reported["cycle_depth"], 3);
    // C again, alone: 30 % of what it has left after the first settlement, 2800.
    assert_eq!(reported["slashed_usdc"], "840.000000");
    // min(1000, 50 + 25 × 3 + 10 % × 840, 840) = 125 + 84: paid out of C's slash.
    assert_eq!(reported["bounty_usdc"], "209.000000");
    let report_settlement = reported["settlement_id"].as_str().unwrap().to_owned();
    assert_ne!(report_settlement, settlement_id);

    let trail2 = trail(app, root2).await;
    let receipts = trail2["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3, "the evidence is stored: {trail2}");
    assert_eq!(receipts[2]["receipt_hash"], closing.hash().to_string());
    assert!(
        receipts
            .iter()
            .all(|r| r["is_valid"] == false && r["invalidation_reason"] == "cycle_detected"),
        "{trail2}"
    );
    let s = &trail2["settlement"];
    assert_eq!(s["settlement_id"], report_settlement.as_str());
    assert_eq!(s["reporter_address"], address(&watcher));
    assert_eq!(s["bounty_usdc"], "209.000000");
    assert_eq!(s["total_slashed_usdc"], "840.000000");
    assert_eq!(slashes(s), expected_slashes(&[(&c, "840.000000")]));
    assert_eq!(
        details(app, &c).await["stake"]["slashed_usdc"],
        "2040.000000"
    );

    let after = app.metrics().await;
    let reporter_label = format!("reporter=\"{}\"", address(&watcher));
    assert_eq!(
        sample(&after, "cycle_reports_total", &reporter_label),
        Some(1.0)
    );
    let grew = sample(&after, "kagami_slashed_usdc_total", "").unwrap_or(0.0)
        - sample(&before, "kagami_slashed_usdc_total", "").unwrap_or(0.0);
    assert!(grew >= 840_000_000.0);

    // Every slash is accounted for: 1200 retained, 840 = 209 to the watcher + 631 retained.
    let ledger = ledger(app).await;
    let entries = ledger["entries"].as_array().unwrap();
    let bounty = entries
        .iter()
        .find(|e| e["entry"] == "bounty" && e["cause_id"] == report_settlement.as_str())
        .unwrap_or_else(|| panic!("no bounty entry: {ledger}"));
    assert_eq!(bounty["reporter_address"], address(&watcher));
    assert_eq!(bounty["amount_usdc"], "209.000000");
    let retained = entries
        .iter()
        .find(|e| e["entry"] == "retained" && e["cause_id"] == report_settlement.as_str())
        .unwrap_or_else(|| panic!("no retained entry: {ledger}"));
    assert_eq!(retained["amount_usdc"], "631.000000");

    let again = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &report,
        )
        .await;
    assert_eq!(
        again.expect_error(409, "already_settled")["settlement_id"],
        report_settlement.as_str()
    );
}

/// The settlement's slashes as sorted `(agent, amount)` pairs.
fn slashes(settlement: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = settlement["slashes"]
        .as_array()
        .unwrap_or_else(|| panic!("no slashes in {settlement}"))
        .iter()
        .map(|s| {
            assert_eq!(s["reason"], "cycle_detected", "{s}");
            (
                s["agent_uuid"].as_str().unwrap().to_owned(),
                s["amount_usdc"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// `(agent, amount)` pairs, sorted like [`slashes`].
fn expected_slashes(expected: &[(&Agent, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = expected
        .iter()
        .map(|(a, amount)| (a.label(), (*amount).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

/// The agent's flip metrics, waiting for the background refresh (PostgreSQL's materialized
/// view; SQLite computes them directly) to show a flip.
async fn flip_metrics_eventually(app: &TestApp, agent: &Agent) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = app
            .get(&format!(
                "/api/v1/agents/manifests/{}/flip-metrics",
                agent.uuid
            ))
            .await
            .expect(200);
        assert_eq!(body["agent_uuid"], agent.label());
        assert!(
            body["as_of"]
                .as_str()
                .is_some_and(|t| t.parse::<Timestamp>().is_ok()),
            "{body}"
        );
        if body["total_flips"] != 0 || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client that retries the request which closed a cycle (say, after a timeout) must learn
/// the same outcome again — the loop and its settlement — not a plain "recorded" that reads
/// like the receipt was accepted.
pub(crate) async fn replaying_a_cycle_closing_receipt_answers_the_settlement_again(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let root = root("replayed-cycle");
    recorded(app, &pair(root, 0, &a, &b, &mb, Some(&a), 1)).await;
    let closing = pair(root, 1, &b, &a, &ma, None, 1);
    let first = record(app, &closing)
        .await
        .expect_error(409, "circular_dependency");
    let stake = details(app, &a).await["stake"]["slashed_usdc"].clone();
    let again = record(app, &closing)
        .await
        .expect_error(409, "circular_dependency");
    assert_eq!(again["settlement_id"], first["settlement_id"], "{again}");
    assert_eq!(again["receipt_hash"], first["receipt_hash"]);
    assert_eq!(
        details(app, &a).await["stake"]["slashed_usdc"],
        stake,
        "a replay settles nothing twice"
    );
}
