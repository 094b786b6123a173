//! Bounded work per request (issue 12): every list is read a page at a time with a hard
//! maximum, public reads never load an agent's whole manifest history, report-cycle evidence
//! has a maximum item count, and aggregates of money are exact however large.

use kagami_api::ApiConfig;
use serde_json::{Value, json};

use crate::{
    app::{Auth, Reply, TestApp},
    fixtures::*,
};

/// Replacements may take effect at once, so a test can publish a long history quickly.
pub(crate) fn no_activation_delay(config: &mut ApiConfig) {
    config.policy.activation_delay_seconds = 0;
}

/// The `rel="next"` target of a reply's `Link` header, if any.
fn next_of(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    let (target, params) = link.split_once(';')?;
    assert_eq!(params.trim(), r#"rel="next""#, "{link}");
    Some(
        target
            .trim()
            .strip_prefix('<')?
            .strip_suffix('>')?
            .to_owned(),
    )
}

/// Follows `first` and every `next` link after it; returns each page's body and how many pages
/// there were.
async fn walk(app: &TestApp, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    loop {
        let reply = app.get(&path).await;
        pages.push(reply.expect(200));
        match next_of(&reply) {
            Some(next) => {
                assert_ne!(next, path, "a next link must move forward");
                path = next;
            }
            None => return pages,
        }
        assert!(pages.len() < 1000, "the walk does not end");
    }
}

/// An agent with a history of 105 manifests (more than one default page of 100): nonces
/// 1..=103 in force from now on (each superseding the one before), 104 pending; then 103
/// revoked, which puts 102 back in force.
async fn long_history(app: &TestApp) -> (Agent, Vec<SignedManifest>) {
    let agent = register(app, 1, "1000").await;
    let mut manifests = Vec::new();
    for nonce in 1..=103 {
        let m = manifest(
            &agent,
            nonce,
            &format!("https://agent-1.example/{nonce}"),
            from_now(0),
            from_now(20 * 3600),
        );
        published(app, &m).await;
        manifests.push(m);
    }
    let pending = manifest(
        &agent,
        104,
        "https://agent-1.example/104",
        from_now(3600),
        from_now(20 * 3600),
    );
    published(app, &pending).await;
    manifests.push(pending);
    app.post(
        "/api/v1/agents/manifests/revoke",
        Auth::Client,
        &revocation(&agent, &manifests[102], &agent.owner),
    )
    .await
    .expect(200);
    (agent, manifests)
}

/// The status each manifest of [`long_history`] has now, by nonce.
fn expected_status(nonce: u64) -> &'static str {
    match nonce {
        104 => "pending",
        103 => "revoked",
        102 => "active",
        _ => "superseded",
    }
}

/// The manifests list is read a page at a time, highest nonce first: following the `Link`
/// headers visits every manifest exactly once, in order, each with the status it has among
/// the whole history; the last page has no `Link`.
pub(crate) async fn manifest_pages_walk_the_whole_history_once_in_order(app: &TestApp) {
    let (agent, _) = long_history(app).await;
    let list = format!("/api/v1/agents/{}/manifests", agent.uuid);
    // The default page is 100 and says where the rest is.
    let first = app.get(&list).await;
    assert_eq!(first.expect(200).as_array().unwrap().len(), 100);
    let next = next_of(&first).expect("a second page");
    let nonce_100 = first.expect(200)[99]["nonce"].as_u64().unwrap();
    assert_eq!(next, format!("{list}?limit=100&before_nonce={nonce_100}"));

    for limit in [1, 7, 100, 1000] {
        let pages = walk(app, &format!("{list}?limit={limit}")).await;
        assert_eq!(pages.len(), 104_usize.div_ceil(limit), "limit {limit}");
        let all: Vec<&Value> = pages
            .iter()
            .flat_map(|p| p.as_array().unwrap().iter())
            .collect();
        let nonces: Vec<u64> = all.iter().map(|m| m["nonce"].as_u64().unwrap()).collect();
        assert_eq!(nonces, (1..=104).rev().collect::<Vec<_>>(), "limit {limit}");
        for m in &all {
            let nonce = m["nonce"].as_u64().unwrap();
            assert_eq!(m["status"], expected_status(nonce), "nonce {nonce}: {m}");
        }
        assert!(pages.iter().all(|p| p.as_array().unwrap().len() <= limit));
    }
    // A cursor past the end: an empty page, no link.
    let end = app.get(&format!("{list}?before_nonce=1")).await;
    assert_eq!(end.expect(200), json!([]));
    assert_eq!(next_of(&end), None);
}

/// verify-forward and `GET /api/v1/manifests/{hash}` read the manifest shown and the one in
/// force, not the history: with a history longer than a page, every status is still exact.
pub(crate) async fn a_history_longer_than_a_page_still_verifies_exactly(app: &TestApp) {
    let (agent, manifests) = long_history(app).await;
    let (payer, _) = ready_agent(app, 2, "1000").await;
    let r = root("long-history");
    for m in &manifests {
        let nonce = m.fields.nonce;
        let shown = app
            .get(&format!("/api/v1/manifests/{}", m.hash()))
            .await
            .expect(200);
        assert_eq!(shown["status"], expected_status(nonce), "nonce {nonce}");
        let verdict = verify(app, r, &payer, &agent, m).await;
        if nonce == 102 {
            assert_eq!(verdict["safe"], true, "{verdict}");
            assert_eq!(verdict["manifest_hash"], m.hash().to_string(), "{verdict}");
        } else {
            assert_eq!(verdict["safe"], false, "nonce {nonce}: {verdict}");
            assert_eq!(verdict["reason"], "manifest_not_effective", "{verdict}");
            assert_eq!(
                verdict["manifest_status"],
                expected_status(nonce),
                "nonce {nonce}: {verdict}"
            );
        }
    }
    // The agent's effective manifest, from the details endpoint.
    let d = details(app, &agent).await;
    assert_eq!(d["effective_manifest"]["nonce"], 102, "{d}");
    assert_eq!(d["effective_manifest"]["status"], "active", "{d}");
}

/// Every page size and cursor is checked: out of range or malformed is a 400 `invalid_field`
/// naming the parameter, on every list.
pub(crate) async fn page_limits_and_cursors_are_typed_400s(app: &TestApp) {
    let (agent, _) = ready_agent(app, 1, "1000").await;
    let manifests = format!("/api/v1/agents/{}/manifests", agent.uuid);
    let trail = format!("/api/v1/forwards/{}", root("limits"));
    for list in [manifests.as_str(), trail.as_str(), "/api/v1/ledger"] {
        for bad in ["1001", "4294967296", "-1", "ten", ""] {
            let body = app
                .get(&format!("{list}?limit={bad}"))
                .await
                .expect_error(400, "invalid_field");
            assert_eq!(body["field"], "limit", "{list} limit={bad}: {body}");
        }
        app.get(&format!("{list}?limit=1000")).await.expect(200);
    }
    for list in [manifests.as_str(), trail.as_str()] {
        let body = app
            .get(&format!("{list}?limit=0"))
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(body["field"], "limit", "{body}");
    }
    // The ledger keeps its v1 `limit=0`: the totals alone.
    let totals = app.get("/api/v1/ledger?limit=0").await.expect(200);
    assert_eq!(totals["entries"], json!([]));

    for bad in ["x", "-1", "9223372036854775808", "1.5"] {
        let body = app
            .get(&format!("{manifests}?before_nonce={bad}"))
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(body["field"], "before_nonce", "{bad}: {body}");
    }
    for list in [trail.as_str(), "/api/v1/ledger"] {
        let body = app
            .get(&format!("{list}?after=not-a-uuid"))
            .await
            .expect_error(400, "invalid_field");
        assert_eq!(body["field"], "after", "{list}: {body}");
    }
    // A list's cursor is its own.
    let body = app
        .get(&format!("{manifests}?after={}", agent.uuid))
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "after", "{body}");
    let body = app
        .get(&format!("{trail}?before_nonce=3"))
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "before_nonce", "{body}");
}

/// A payment's trail is read a page at a time in (hop, recording) order; every page carries
/// the settlement; following the links visits each receipt once.
pub(crate) async fn trail_pages_walk_every_receipt_once(app: &TestApp) {
    let (a, ma) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let (c, mc) = ready_agent(app, 3, "1000").await;
    let (d, md) = ready_agent(app, 4, "1000").await;
    let r = root("paged-trail");
    recorded(app, &pair(r, 0, &a, &b, &mb, Some(&c), 1)).await;
    recorded(app, &pair(r, 1, &b, &c, &mc, Some(&d), 1)).await;
    recorded(app, &pair(r, 2, &c, &d, &md, Some(&a), 1)).await;
    // D pays A back: a loop, settled; four receipts in all.
    record(app, &pair(r, 3, &d, &a, &ma, None, 1))
        .await
        .expect_error(409, "circular_dependency");
    let whole = trail(app, r).await;
    let receipts = whole["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 4, "{whole}");
    assert!(whole["settlement"].is_object(), "{whole}");
    for limit in [1_usize, 3, 4] {
        let pages = walk(app, &format!("/api/v1/forwards/{r}?limit={limit}")).await;
        assert_eq!(pages.len(), 4_usize.div_ceil(limit), "limit {limit}");
        let walked: Vec<&Value> = pages
            .iter()
            .flat_map(|p| p["receipts"].as_array().unwrap().iter())
            .collect();
        assert_eq!(walked, receipts.iter().collect::<Vec<_>>(), "limit {limit}");
        for page in &pages {
            assert_eq!(page["root_tx_hash"], r.to_string());
            assert_eq!(page["settlement"], whole["settlement"]);
        }
    }
    let hops: Vec<u64> = receipts
        .iter()
        .map(|r| r["hop"].as_u64().unwrap())
        .collect();
    assert_eq!(hops, [0, 1, 2, 3]);
}

/// Three MEV incidents by agents staked `stake`, each extracting `extracted`: six ledger lines.
async fn incidents(app: &TestApp, stake: &str, extracted: &str, first_id: u64) -> Vec<Agent> {
    let mut attackers = Vec::new();
    for i in 0..3 {
        let (m, _) = ready_agent(app, first_id + i, stake).await;
        let tx = kagami_tests::signed_transaction(&m.hot, i + 1);
        app.post(
            "/api/v1/mev/incidents",
            Auth::Admin,
            &mev_incident(&m, extracted, &tx),
        )
        .await
        .expect(201);
        attackers.push(m);
    }
    attackers
}

/// The ledger is read a page at a time, newest first; following the links visits each line
/// once, in the order of the one-page listing.
pub(crate) async fn ledger_pages_walk_every_line_once(app: &TestApp) {
    incidents(app, "1000", "10.000000", 1).await;
    let whole = ledger(app).await;
    let lines = whole["entries"].as_array().unwrap();
    assert_eq!(lines.len(), 6, "{whole}");
    for limit in [1_usize, 4, 6] {
        let pages = walk(app, &format!("/api/v1/ledger?limit={limit}")).await;
        assert_eq!(pages.len(), 6_usize.div_ceil(limit), "limit {limit}");
        let walked: Vec<&Value> = pages
            .iter()
            .flat_map(|p| p["entries"].as_array().unwrap().iter())
            .collect();
        assert_eq!(walked, lines.iter().collect::<Vec<_>>(), "limit {limit}");
        for page in &pages {
            assert_eq!(page["total_slashed_usdc"], whole["total_slashed_usdc"]);
            assert_eq!(page["balanced"], true);
        }
    }
}

/// Totals beyond `i64::MAX` micro-USDC (≈ 9.22 trillion USDC) are exact: the MEV summary and
/// the ledger answer 200 with the exact decimal sums, through the real write path (three
/// attackers each staked 3.1 trillion USDC, each extracting 3.1 trillion and slashed 3.1
/// trillion). Runs on the embedded store only, whose `sum()` is the one that overflows: the
/// process-wide slash counter (u64 micro-USDC, 1.8e13 USDC) has room for one such run.
pub(crate) async fn aggregates_beyond_i64_are_exact(app: &TestApp) {
    let each = "3100000000000";
    incidents(app, each, &usdc(each), 1).await;
    let summary = app.get("/api/v1/mev/summary").await.expect(200);
    assert_eq!(summary["total_incidents"], 3, "{summary}");
    assert_eq!(
        summary["total_extracted_usdc"], "9300000000000.000000",
        "{summary}"
    );
    assert_eq!(
        summary["total_slashed_usdc"], "9300000000000.000000",
        "{summary}"
    );
    assert_eq!(summary["attack_types"][0]["attack_type"], "frontrun");
    assert_eq!(
        summary["attack_types"][0]["extracted_usdc"],
        "9300000000000.000000"
    );
    let ledger = ledger(app).await;
    assert_eq!(ledger["total_slashed_usdc"], "9300000000000.000000");
    assert_eq!(ledger["total_retained_usdc"], "9300000000000.000000");
    assert_eq!(ledger["total_bounties_usdc"], "0.000000");
}

/// A cycle report carries at most 32 evidence items: more is a 400 naming `evidence`, before
/// any signature is recovered.
pub(crate) async fn report_cycle_evidence_has_a_maximum(app: &TestApp) {
    let (a, _) = ready_agent(app, 1, "1000").await;
    let (b, mb) = ready_agent(app, 2, "1000").await;
    let r = root("too-much-evidence");
    let hop = pair(r, 0, &a, &b, &mb, None, 1);
    let reporter = kagami_core::crypto::PrivateKeySigner::random();
    let items: Vec<&SignedPair> = std::iter::repeat_n(&hop, 33).collect();
    let body = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &cycle_report(r, &reporter, &reporter, &items),
        )
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(body["field"], "evidence", "{body}");
    assert!(body["message"].as_str().unwrap().contains("32"), "{body}");
    // At the maximum, the count is accepted and the evidence itself examined.
    let at_max = app
        .post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &cycle_report(r, &reporter, &reporter, &items[..32]),
        )
        .await;
    let body: Value = serde_json::from_str(&at_max.text).unwrap();
    assert_ne!(body["field"], "evidence", "{body}");
}
