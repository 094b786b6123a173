//! A PostgreSQL connection cut in the middle of a transaction, for every write that moves
//! money: the request answers 503 `store_unavailable` (not 500), nothing of it is committed,
//! and the same request sent again succeeds — a client may always retry a 503.
//!
//! The server's pool connects through [`kagami_tests::Proxy`], which reads the PostgreSQL
//! protocol and drops the connection of the next transaction at a chosen point
//! ([`Cut`]): right after `BEGIN`, a few statements in, or just before `COMMIT`, when every
//! row of the write has reached the server and only the commit is missing. Each cut is
//! checked straight in the database: the same counts of rows and states as before the
//! request, and no partial state.

use std::time::Duration;

use kagami_core::crypto::{PrivateKeySigner, Timestamp};
use kagami_tests::{Cut, Direct, Proxy, TestPostgres, assert_ledger_invariants};
use serde_json::json;

use crate::{
    app::{Auth, Reply, TestApp},
    fixtures::*,
    outage::proxied,
};

/// Where each write is cut, in turn.
const CUTS: [Cut; 3] = [
    Cut::AfterStatements(0),
    Cut::AfterStatements(4),
    Cut::BeforeCommit,
];

/// Sends `write` once per point of [`CUTS`] with that cut armed, asserting each time that
/// the cut fell inside the request's transaction, that it answered 503 in the JSON error
/// envelope, and that the database shows nothing of it; then sends it once more, untouched,
/// and returns that answer.
async fn cut_then_retry<F, Fut>(proxy: &Proxy, direct: &Direct, what: &str, write: F) -> Reply
where
    F: Fn() -> Fut,
    Fut: Future<Output = Reply>,
{
    for cut in CUTS {
        let before = direct.snapshot().await;
        let cuts = proxy.cuts();
        proxy.cut_next_transaction(cut);
        let reply = write().await;
        assert_eq!(
            proxy.cuts(),
            cuts + 1,
            "{what}: the cut {cut:?} fell inside the request's transaction; answer: {reply:?}"
        );
        reply.expect_error(503, "store_unavailable");
        assert_eq!(
            direct.snapshot().await,
            before,
            "{what}, cut {cut:?}: nothing is committed"
        );
        direct.assert_no_partial_state().await;
    }
    write().await
}

pub(crate) async fn a_connection_cut_inside_a_transaction_answers_503_and_commits_nothing() {
    let Some(db) = TestPostgres::new().await else {
        return;
    };
    let (proxy, store) = proxied(&db).await;
    // No background writer (the dispute sweep, the log's sequencer) may start the
    // transaction the proxy cuts.
    let app = TestApp::spawn_with(store.clone(), |config| {
        config.dispute_sweep_interval = Duration::ZERO;
        config.log_interval = Duration::ZERO;
    })
    .await;
    let direct = db.direct();

    // Publish: the manifest, under the agent's lock.
    let a = register(&app, 1, "1000").await;
    let ma = first_manifest(&a);
    cut_then_retry(&proxy, &direct, "publish", || publish(&app, &ma))
        .await
        .expect(201);
    let (b, mb) = ready_agent(&app, 2, "1000").await;

    // An accepted hop: the receipt and the stake lock on its destination.
    let paid = root("cut-cycle");
    let ab = pair(paid, 0, &a, &b, &mb, Some(&a), 1);
    cut_then_retry(&proxy, &direct, "record-forward", || record(&app, &ab))
        .await
        .expect(201);
    // The hop closing the cycle: the closing receipt, the invalidated ones, the settlement,
    // its slashes and ledger lines, the released locks.
    let ba = pair(paid, 1, &b, &a, &ma, None, 1);
    cut_then_retry(&proxy, &direct, "record-forward closing a cycle", || {
        record(&app, &ba)
    })
    .await
    .expect_error(409, "circular_dependency");

    // A watcher's report: the evidence, the settlement, the slashes, the bounty.
    let reported = root("cut-report");
    let e1 = pair(reported, 0, &a, &b, &mb, Some(&a), 2);
    let e2 = pair(reported, 1, &b, &a, &ma, None, 2);
    let watcher = PrivateKeySigner::random();
    let report = cycle_report(reported, &watcher, &watcher, &[&e1, &e2]);
    let settled = cut_then_retry(&proxy, &direct, "report-cycle", || {
        app.post(
            "/api/v1/agents/manifests/report-cycle",
            Auth::Client,
            &report,
        )
    })
    .await
    .expect(200);
    assert_ne!(settled["bounty_usdc"], "0.000000", "{settled}");

    // A commitment through its states.
    let c = commitment(
        root("cut-commitment"),
        &a,
        &b,
        "10000.000000",
        from_now(300),
    );
    let body = commitment_body(&c, &a.hot, &b.hot);
    let created = cut_then_retry(&proxy, &direct, "commitment create", || {
        app.post(
            "/api/v1/agents/manifests/onchain-commitment",
            Auth::Client,
            &body,
        )
    })
    .await
    .expect(201);
    let id = created["commitment_id"].as_str().unwrap();
    let onchain = json!({ "onchain_tx_hash": root("cut-onchain").to_string() });
    let confirm = format!("/api/v1/commitments/{id}/confirm");
    cut_then_retry(&proxy, &direct, "commitment confirm", || {
        app.post(&confirm, Auth::Admin, &onchain)
    })
    .await
    .expect(200);
    let settle = format!("/api/v1/commitments/{id}/settle");
    let no_body = json!({});
    let settled = cut_then_retry(&proxy, &direct, "commitment settle", || {
        app.post(&settle, Auth::Admin, &no_body)
    })
    .await
    .expect(200);
    assert_eq!(settled["status"], "settled");

    // An MEV incident: the incident, the attacker's slash, its ledger line.
    let attack = kagami_tests::signed_transaction(&b.hot, 1);
    let incident = mev_incident(&b, "10.000000", &attack);
    cut_then_retry(&proxy, &direct, "MEV incident", || {
        app.post("/api/v1/mev/incidents", Auth::Admin, &incident)
    })
    .await
    .expect(201);

    direct.assert_no_partial_state().await;
    let at = Timestamp::from_unix(now()).unwrap();
    assert_ledger_invariants(&store, &[a.uuid, b.uuid], at).await;
    ledger(&app).await;
    assert_eq!(proxy.cuts(), 8 * CUTS.len());

    app.stop().await;
    store.close();
    db.cleanup().await;
}
