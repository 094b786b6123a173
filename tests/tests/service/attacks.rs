//! The adversary's suite: each test is an attack on the money rules, made the way an attacker
//! would — holding its own keys, a client API key and any number of agents of its own,
//! retrying, racing and replaying, but unable to forge a signature — and asserts that it fails:
//! the victim's stake is untouched, the ledger balances, and the attacker gained nothing.
//! (PROTOCOL.md, "Liability": no agent loses stake, and no bounty is paid, except on evidence
//! carrying a valid signature of every agent that loses money.)

use std::time::Duration;

use kagami_api::ApiConfig;
use kagami_core::crypto::{ForwardOrder, PrivateKeySigner};
use serde_json::{Value, json};

use crate::{
    app::{Auth, TestApp},
    fixtures::*,
};

/// What an agent has: (staked, slashed, available).
type Stake = (String, String, String);

fn untouched(stake: &str) -> Stake {
    (usdc(stake), "0.000000".to_owned(), usdc(stake))
}

/// The ledger is empty: nothing was slashed, nothing paid.
async fn nothing_moved(app: &TestApp) {
    let ledger = ledger(app).await;
    assert_eq!(ledger["total_slashed_usdc"], "0.000000", "{ledger}");
    assert_eq!(ledger["total_bounties_usdc"], "0.000000", "{ledger}");
    assert_eq!(ledger["entries"], json!([]), "{ledger}");
}

/// Bounties paid to `address` so far.
async fn bounties_to(app: &TestApp, address: &str) -> Vec<String> {
    ledger(app).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "bounty" && e["reporter_address"] == address)
        .map(|e| e["amount_usdc"].as_str().unwrap().to_owned())
        .collect()
}

/// A hop "`from` → `to`" that `forger` signs entirely by itself: the order in `from`'s name
/// and the receipt, both with `forger`'s key.
fn forged(
    root: kagami_core::crypto::Hash32,
    hop: u32,
    from: &Agent,
    to: &Agent,
    to_manifest: &SignedManifest,
    receipt_nonce: u64,
    forger: &PrivateKeySigner,
) -> SignedPair {
    SignedPair::sign(
        order(root, hop, from, to, to_manifest, "1.000000"),
        forger,
        None,
        receipt_nonce,
        forger,
    )
}

/// Attack 1, cycle framing. B honestly records A→B (hop 0, no next hop). A then signs, with
/// its own keys, a hop "B→A, hop 1" and submits it — as a record and as report evidence —
/// hoping to have B slashed for a cycle. B signed no order to A: nothing happens to B.
pub(crate) async fn cycle_framing_without_the_framed_agents_order_fails(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let r = root("attack-1");
    recorded(app, &pair(r, 0, &a, &b, &mb, None, 1)).await;
    let b_before = stake_of(app, &b).await;

    for forger in [&a.hot, &a.owner] {
        let framing = forged(r, 1, &b, &a, &ma, order_nonce(), forger);
        let body = record(app, &framing)
            .await
            .expect_error(400, "invalid_signature");
        assert_eq!(body["field"], "order.signature", "{body}");
        // The same forgery as report-cycle evidence counts for nothing either.
        let watcher = PrivateKeySigner::random();
        let body = app
            .post(
                "/api/v1/agents/manifests/report-cycle",
                Auth::Client,
                &cycle_report(r, &watcher, &watcher, &[&framing]),
            )
            .await
            .expect_error(400, "invalid_evidence");
        assert_eq!(body["field"], "evidence[0].order.signature", "{body}");
    }
    // A v1 receipt alone (what v1 accepted) is not a hop at all.
    let v1 = forged(r, 1, &b, &a, &ma, order_nonce(), &a.hot);
    let mut v1_body = v1.receipt_body();
    v1_body.as_object_mut().unwrap().remove("order_hash");
    app.post(
        "/api/v1/agents/manifests/record-forward",
        Auth::Client,
        &v1_body,
    )
    .await
    .expect_error(400, "order_required");

    assert_eq!(stake_of(app, &b).await, b_before);
    assert_eq!(stake_of(app, &a).await, untouched("1000"));
    assert_eq!(trail(app, r).await["receipts"].as_array().unwrap().len(), 1);
    nothing_moved(app).await;
}

/// Attack 1, the chain variant: A pays honest B, B forwards (as it committed) to C, and C —
/// A's accomplice — pays A, closing A→B→C→A. B signed an order inside the cycle, but a safe
/// one: only C, who signed the order that closed it, is liable.
pub(crate) async fn an_honest_forwarder_routed_into_a_cycle_is_not_liable(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let (c, mc) = ready_agent(app, 3, "1000").await;
    let r = root("attack-1-chain");
    recorded(app, &pair(r, 0, &a, &b, &mb, Some(&c), 1)).await;
    // B checks before paying, as an honest agent does: safe.
    assert_eq!(verify(app, r, &b, &c, &mc).await["safe"], true);
    recorded(app, &pair(r, 1, &b, &c, &mc, Some(&a), 1)).await;
    let closing = pair(r, 2, &c, &a, &ma, None, 1);
    let body = record(app, &closing)
        .await
        .expect_error(409, "circular_dependency");
    assert_eq!(body["liable_agents"], json!([c.uuid.to_string()]), "{body}");

    assert_eq!(stake_of(app, &b).await, untouched("1000"));
    assert_eq!(stake_of(app, &a).await, untouched("1000"));
    let (_, c_slashed, _) = stake_of(app, &c).await;
    assert_ne!(c_slashed, "0.000000");
    let ledger = ledger(app).await;
    assert_eq!(ledger["total_slashed_usdc"], c_slashed.as_str());
    assert_eq!(ledger["total_retained_usdc"], c_slashed.as_str());
}

/// Attack 2, extraction framing with no prior contact: A records, on a fresh root, two hops
/// "V→A, hop 0" whose orders it signed in V's name, hoping V is slashed for an extraction
/// loop. Repeated on fresh roots. V signed nothing: nothing happens to V.
pub(crate) async fn extraction_framing_without_the_victims_orders_fails(app: &TestApp) {
    let (v, _) = ready_agent(app, 1, "1000").await;
    let (a, ma) = ready_agent(app, 2, "1000").await;
    for round in 0..3 {
        let r = root(&format!("attack-2-{round}"));
        for n in 0..2 {
            let mut framing = forged(r, 0, &v, &a, &ma, 100 + round * 2 + n, &a.hot);
            // The receipt is A's own, legitimately signed; only the order is forged.
            framing = framing.receipt_signed_by(&a.hot);
            let body = record(app, &framing)
                .await
                .expect_error(400, "invalid_signature");
            assert_eq!(body["field"], "order.signature", "{body}");
        }
        assert!(
            trail(app, r).await["receipts"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(stake_of(app, &v).await, untouched("1000"));
    nothing_moved(app).await;
}

/// The extraction rule the framing could not trigger, applied to what was signed: P pays X
/// and Y at hop 0, Y forwards to X, and X signs a second receipt of the one root payment.
/// X is liable; the payers P and Y, who each signed one order, are not.
pub(crate) async fn only_the_agent_that_signed_a_second_receipt_is_liable(app: &TestApp) {
    let (p, _) = ready_agent(app, 1, "1000").await;
    let (x, mx) = ready_agent(app, 2, "1000").await;
    let (y, my) = ready_agent(app, 3, "1000").await;
    let r = root("extraction");
    recorded(app, &pair(r, 0, &p, &x, &mx, None, 1)).await;
    recorded(app, &pair(r, 0, &p, &y, &my, Some(&x), 1)).await;
    let body = record(app, &pair(r, 1, &y, &x, &mx, None, 2))
        .await
        .expect_error(409, "extraction_loop_detected");
    assert_eq!(body["liable_agents"], json!([x.uuid.to_string()]), "{body}");
    assert_eq!(stake_of(app, &p).await, untouched("1000"));
    assert_eq!(stake_of(app, &y).await, untouched("1000"));
    assert_ne!(stake_of(app, &x).await.1, "0.000000");
    ledger(app).await;
}

/// Attack 3, bounty minting: a report whose only evidence is a self-forward A→A that A signed
/// (v1 paid a bounty larger than the slash, on every fresh root). Then the real thing with an
/// accomplice: a loop A2 closes, reported by A's owner — the bounty comes out of A2's slash, so
/// the attacker's agents lose at least what its reporter earns; reported by A2's own key, it
/// earns nothing.
pub(crate) async fn bounties_never_exceed_what_others_lost(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (a2, ma2) = ready_agent(app, 2, "1000").await;
    for round in 0..3 {
        let r = root(&format!("attack-3-self-{round}"));
        let self_forward = SignedPair::sign(
            order(r, 0, &a, &a, &ma, "1.000000"),
            &a.hot,
            None,
            200 + round,
            &a.hot,
        );
        let body = app
            .post(
                "/api/v1/agents/manifests/report-cycle",
                Auth::Client,
                &cycle_report(r, &a.owner, &a.owner, &[&self_forward]),
            )
            .await
            .expect_error(400, "invalid_evidence");
        assert!(
            body["message"].as_str().unwrap().contains("itself"),
            "{body}"
        );
    }
    nothing_moved(app).await;

    // A real loop among the attacker's own agents: A pays A2, A2 pays A back.
    let mut slashed_total = 0i64;
    for (round, reporter) in [(0, &a.owner), (1, &a2.owner), (2, &a2.hot)].into_iter() {
        let r = root(&format!("attack-3-loop-{round}"));
        let there = pair(r, 0, &a, &a2, &ma2, Some(&a), 300 + round);
        let back = pair(r, 1, &a2, &a, &ma, None, 300 + round);
        let body = app
            .post(
                "/api/v1/agents/manifests/report-cycle",
                Auth::Client,
                &cycle_report(r, reporter, reporter, &[&there, &back]),
            )
            .await
            .expect(200);
        assert_eq!(
            body["liable_agents"],
            json!([a2.uuid.to_string()]),
            "{body}"
        );
        let bounty: f64 = body["bounty_usdc"].as_str().unwrap().parse().unwrap();
        let slashed: f64 = body["slashed_usdc"].as_str().unwrap().parse().unwrap();
        assert!(
            bounty <= slashed,
            "bounty {bounty} above the slash {slashed}"
        );
        if reporter.address() != a.owner.address() {
            assert_eq!(
                body["bounty_usdc"], "0.000000",
                "a liable agent's key earns nothing"
            );
        }
        slashed_total += micros(body["slashed_usdc"].as_str().unwrap());
    }
    // The attacker's agents lost at least what its reporters earned.
    let mut earned = 0i64;
    for key in [&a.owner, &a2.owner, &a2.hot] {
        earned += bounties_to(app, &address(key))
            .await
            .iter()
            .map(|b| micros(b))
            .sum::<i64>();
    }
    let (_, a2_slashed, _) = stake_of(app, &a2).await;
    assert_eq!(micros(&a2_slashed), slashed_total);
    assert!(
        earned <= slashed_total,
        "minted: earned {earned}, lost {slashed_total}"
    );
    assert_eq!(stake_of(app, &a).await, untouched("1000"));
}

fn micros(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 1_000_000 + fraction.parse::<i64>().unwrap()
}

/// Attack 4, commitment griefing: with only a client key, create huge commitments naming V as
/// first hop (signed by the attacker in V's place), then wait for V to change its endpoint.
/// V co-signed nothing: it is never disputed.
pub(crate) async fn commitments_the_first_hop_did_not_sign_cannot_cost_it(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (v, _) = ready_agent(app, 2, "1000").await;
    for round in 0..10 {
        let c = commitment(
            root(&format!("attack-4-{round}")),
            &a,
            &v,
            "1000000000.000000",
            from_now(3600),
        );
        let body = app
            .post(
                "/api/v1/agents/manifests/onchain-commitment",
                Auth::Client,
                &commitment_body(&c, &a.owner, &a.hot),
            )
            .await
            .expect_error(400, "invalid_signature");
        assert_eq!(body["field"], "first_hop_signature", "{body}");
    }
    // V moves its endpoint, as agents do.
    let moved = manifest(
        &v,
        2,
        "https://v-moved.example/x402",
        from_now(1),
        from_now(7200),
    );
    let body = published(app, &moved).await;
    assert_eq!(body["disputed_commitments"], json!([]), "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stake_of(app, &v).await, untouched("1000"));
    nothing_moved(app).await;
}

/// What a commitment V did co-sign can cost it when V changes its routing during the lock:
/// once per commitment, and at most half its available stake per change, however large the
/// commitments.
pub(crate) async fn a_routing_change_costs_at_most_half_the_available_stake(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (v, _) = ready_agent(app, 2, "1000").await;
    for round in 0..3 {
        let c = commitment(
            root(&format!("cap-{round}")),
            &a,
            &v,
            "1000000000.000000",
            from_now(3600),
        );
        app.post(
            "/api/v1/agents/manifests/onchain-commitment",
            Auth::Client,
            &commitment_body(&c, &a.owner, &v.owner),
        )
        .await
        .expect(201);
    }
    let moved = manifest(
        &v,
        2,
        "https://v-moved.example/x402",
        from_now(1),
        from_now(7200),
    );
    published(app, &moved).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reading the agent settles the disputes that fell due.
    let (_, slashed, available) = stake_of(app, &v).await;
    assert_eq!(
        (slashed.as_str(), available.as_str()),
        ("500.000000", "500.000000")
    );
    // Evaluating again disputes nothing twice.
    assert_eq!(stake_of(app, &v).await.1, "500.000000");
    let ledger = ledger(app).await;
    assert_eq!(ledger["total_slashed_usdc"], "500.000000");
    assert_eq!(ledger["total_retained_usdc"], "500.000000");
}

/// Shortens the activation delay (so routing changes take effect within a test) and sweeps
/// disputes often.
pub(crate) fn fast_routing_changes(config: &mut ApiConfig) {
    config.policy.activation_delay_seconds = 1;
    config.dispute_sweep_interval = Duration::from_millis(300);
}

/// Attack 5, dispute bypass: (a) revoke the manifest a commitment holds, then publish a new
/// endpoint — the flip is measured against the revoked manifest and disputes the commitment;
/// (b) a manifest published before the commitment with a later `valid_from` takes effect
/// during the lock — the background sweep disputes it when it does, though no request
/// touches the agent.
pub(crate) async fn revoking_first_or_scheduling_ahead_does_not_escape_a_dispute(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (v, mv) = ready_agent(app, 2, "1000").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // (a) revoke, then publish elsewhere.
    let c = commitment(root("attack-5a"), &a, &v, "10000.000000", from_now(3600));
    app.post(
        "/api/v1/agents/manifests/onchain-commitment",
        Auth::Client,
        &commitment_body(&c, &a.owner, &v.hot),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/agents/manifests/revoke",
        Auth::Client,
        &revocation(&v, &mv, &v.owner),
    )
    .await
    .expect(200);
    let elsewhere = manifest(
        &v,
        2,
        "https://v-elsewhere.example/x402",
        from_now(0),
        from_now(7200),
    );
    let body = published(app, &elsewhere).await;
    assert_eq!(body["flip"]["endpoint_changed"], true, "{body}");
    assert_eq!(
        body["disputed_commitments"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    let (_, slashed, _) = stake_of(app, &v).await;
    assert_eq!(slashed, "500.000000");

    // (b) a second agent schedules a new endpoint, then co-signs a commitment on the old one.
    let (w, _) = ready_agent(app, 3, "1000").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let scheduled = manifest(
        &w,
        2,
        "https://w-later.example/x402",
        from_now(3),
        from_now(7200),
    );
    let body = published(app, &scheduled).await;
    assert_eq!(body["status"], "pending", "{body}");
    let c = commitment(root("attack-5b"), &a, &w, "10000.000000", from_now(3600));
    app.post(
        "/api/v1/agents/manifests/onchain-commitment",
        Auth::Client,
        &commitment_body(&c, &a.owner, &w.owner),
    )
    .await
    .expect(201);
    // Nothing touches W; the sweep finds the dispute once the new manifest is in force.
    let mut disputed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ledger = ledger(app).await;
        disputed = ledger["entries"].as_array().unwrap().iter().any(|e| {
            e["entry"] == "slash"
                && e["agent_uuid"] == w.uuid.to_string()
                && e["cause"] == "commitment"
        });
        if disputed {
            break;
        }
    }
    assert!(disputed, "the scheduled routing change was never disputed");
    assert_eq!(stake_of(app, &w).await.1, "500.000000");
}

/// Attack 6, check-then-act races: a revocation and a record of a pair citing the revoked
/// manifest, sent together, many times; a suspension and a publication likewise. Every pair
/// of answers is one of the two serial outcomes, never both successes in the wrong order and
/// never a 500. (The forced interleavings are in the store suite's race tests.)
pub(crate) async fn racing_revocations_and_suspensions_serialize(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    for round in 0..6u64 {
        let (b, mb) = ready_agent(app, 10 + round, "1000").await;
        let r = root(&format!("attack-6-{round}"));
        let p = pair(r, 0, &a, &b, &mb, None, 1);
        let revoke = revocation(&b, &mb, &b.owner);
        let (recorded, revoked) = tokio::join!(
            record(app, &p),
            app.post("/api/v1/agents/manifests/revoke", Auth::Client, &revoke)
        );
        revoked.expect(200);
        let receipts = trail(app, r).await["receipts"].as_array().unwrap().len();
        match recorded.status.as_u16() {
            201 => assert_eq!(receipts, 1),
            _ => {
                recorded.expect_error(422, "manifest_not_effective");
                assert_eq!(receipts, 0);
            }
        }
        // Suspension against publication.
        let next = manifest(&b, 2, &endpoint(&b), from_now(60), from_now(7200));
        let suspend = app
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/agents/{}", b.uuid),
                Auth::Admin,
            )
            .json(&json!({ "status": "suspended" }));
        let (published, suspended) = tokio::join!(publish(app, &next), app.send(suspend));
        suspended.expect(200);
        match published.status.as_u16() {
            201 => {}
            _ => {
                published.expect_error(422, "agent_not_active");
            }
        }
    }
    ledger(app).await;
}

/// Attack 7, concurrent duplicates: sixteen identical posts, at once, of the pair that closes
/// a cycle. The loop is settled once, and every answer is the settlement's 409, identical.
pub(crate) async fn concurrent_duplicates_of_a_closing_pair_all_get_the_settlement(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let r = root("attack-7");
    recorded(app, &pair(r, 0, &a, &b, &mb, Some(&a), 1)).await;
    let closing = pair(r, 1, &b, &a, &ma, None, 1);
    let answers = futures::future::join_all((0..16).map(|_| record(app, &closing))).await;
    let first = answers[0].expect_error(409, "circular_dependency");
    for answer in &answers {
        assert_eq!(answer.expect_error(409, "circular_dependency"), first);
    }
    let trail = trail(app, r).await;
    assert_eq!(trail["settlement"]["settlement_id"], first["settlement_id"]);
    assert_eq!(trail["receipts"].as_array().unwrap().len(), 2);
    let ledger = ledger(app).await;
    let slashes = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "slash")
        .count();
    assert_eq!(slashes, 1, "{ledger}");
}

/// MEV incidents (admin): slashing needs a transaction the attacker signed; a retry of the
/// same incident never slashes twice; the same transaction with other fields conflicts.
pub(crate) async fn mev_incidents_need_the_attackers_transaction_and_slash_once(app: &TestApp) {
    let (v, _) = ready_agent(app, 1, "1000").await;
    let (m, _) = ready_agent(app, 2, "1000").await;
    // Someone else's transaction named as V's.
    let foreign = kagami_tests::signed_transaction(&m.owner, 1);
    let body = app
        .post(
            "/api/v1/mev/incidents",
            Auth::Admin,
            &mev_incident(&v, "100.000000", &foreign),
        )
        .await
        .expect_error(400, "invalid_signature");
    assert_eq!(body["field"], "attack_tx", "{body}");
    assert_eq!(stake_of(app, &v).await, untouched("1000"));
    // M's own transaction, reported sixteen times at once: one incident, one slash.
    let own = kagami_tests::signed_transaction(&m.hot, 7);
    let incident = mev_incident(&m, "100.000000", &own);
    let answers = futures::future::join_all(
        (0..16).map(|_| app.post("/api/v1/mev/incidents", Auth::Admin, &incident)),
    )
    .await;
    let created: Vec<&_> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 201)
        .collect();
    assert_eq!(created.len(), 1, "exactly one report creates the incident");
    let original = created[0].json();
    for answer in &answers {
        let status = answer.status.as_u16();
        assert!(status == 201 || status == 200, "{}", answer.text);
        assert_eq!(answer.json(), original);
    }
    assert_eq!(original["attack_tx_hash"], own.hash.to_string());
    assert_eq!(original["attack_signer"], address(&m.hot));
    assert_eq!(stake_of(app, &m).await.1, "200.000000");
    // The same transaction with another extracted value is another claim: refused.
    let mut changed = incident.clone();
    changed["extracted_value_usdc"] = Value::from("300.000000");
    app.post("/api/v1/mev/incidents", Auth::Admin, &changed)
        .await
        .expect_error(409, "conflict");
    assert_eq!(stake_of(app, &m).await.1, "200.000000");
    ledger(app).await;
}

/// Orders in another agent's name cannot move its money in any way: a forged order cannot
/// open a hop whose later receipt would cost the named payer (the hop-0 payer of a root is
/// whoever signed the first order).
pub(crate) async fn a_forged_root_order_cannot_make_anyone_the_root_payer(app: &TestApp) {
    let (v, _) = ready_agent(app, 1, "1000").await;
    let (a, ma) = ready_agent(app, 2, "1000").await;
    let (b, mb) = ready_agent(app, 3, "1000").await;
    let r = root("forged-root");
    let order_as_v: ForwardOrder = order(r, 0, &v, &b, &mb, "5.000000");
    let forged_pair = SignedPair::sign(order_as_v, &a.owner, Some(next_hop(r, &a)), 1, &b.hot);
    record(app, &forged_pair)
        .await
        .expect_error(400, "invalid_signature");
    // With the root still unpaid, A's own first order makes A the root payer, not V.
    recorded(app, &pair(r, 0, &a, &b, &mb, Some(&a), 2)).await;
    let body = record(app, &pair(r, 1, &b, &a, &ma, None, 3))
        .await
        .expect_error(409, "circular_dependency");
    assert_eq!(body["liable_agents"], json!([b.uuid.to_string()]));
    assert_eq!(stake_of(app, &v).await, untouched("1000"));
}
