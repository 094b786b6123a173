//! The operators' audit functions on PostgreSQL (`detect_forward_cycles`,
//! `detect_extraction_loops`, migration V4) against kagami-core's graph rules: two independent
//! implementations of one rule, compared on random forward graphs recorded through
//! record-forward.
//!
//! What is compared, on the root's valid hops (what every rule is decided on) and on all of
//! its hops (the evidence of a settled loop included):
//!
//! - Cycles. `ForwardGraph::find_cycle` reports one cycle, the first its search meets; the SQL
//!   reports every elementary cycle once, starting at its smallest agent. They agree when the
//!   SQL finds no cycle exactly when core finds none; core's cycle, rotated to start at its
//!   smallest agent, is one of the SQL's rows (agents and receipts); every SQL row is a cycle
//!   of the stored hops (distinct agents, `receipts[i]` a hop from `agents[i]` to the next);
//!   and the agents on the SQL's cycles are exactly the agents core finds on a cycle (`a` is on
//!   one iff a hop `a → b` has `cycle_closed_by(a, b)`).
//! - Extraction loops: `ForwardGraph::extraction_loops` and the SQL's rows are equal, field by
//!   field and in order.
//!
//! Among valid hops both find nothing, always (the write path settles a loop as it closes);
//! the comparisons with teeth are those over all hops, where the settled loop's evidence is.

use std::collections::BTreeSet;

use kagami_core::{
    Cycle, ExtractionLoop, ForwardGraph,
    crypto::{Hash32, Uuid},
};
use kagami_store::{Agent, ReceiptRecord, Store};
use kagami_tests::TestPostgres;
use proptest::prelude::*;
use tokio_postgres::Client;

use crate::fixtures::*;

const AGENTS: u64 = 5;

/// What a destination commits to in its receipt.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Next {
    /// The next agent of its chain (none at the chain's end).
    Follow,
    /// Not to forward.
    Stop,
    /// This agent, whatever the chain does.
    To(u64),
}

/// A payment of one root: `payer` pays the first agent of each chain at hop 0, each agent of
/// a chain pays the next one a hop later. Agents repeat freely (a cycle, or an agent paid
/// twice); `order` interleaves the chains' hops (chain index per step). The write path decides
/// what becomes of each hop: recorded, settled as the loop it closes, or refused.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    payer: u64,
    chains: Vec<Vec<(u64, Next)>>,
    order: Vec<usize>,
}

pub(crate) fn payments() -> impl Strategy<Value = Payment> {
    let agent = 1..=AGENTS;
    let next = prop_oneof![
        8 => Just(Next::Follow),
        1 => Just(Next::Stop),
        1 => agent.clone().prop_map(Next::To),
    ];
    let chain = proptest::collection::vec((agent.clone(), next), 1..=6);
    (agent, proptest::collection::vec(chain, 1..=3))
        .prop_flat_map(|(payer, chains)| {
            let steps: Vec<usize> = chains
                .iter()
                .enumerate()
                .flat_map(|(c, chain)| std::iter::repeat_n(c, chain.len()))
                .collect();
            (Just(payer), Just(chains), Just(steps).prop_shuffle())
        })
        .prop_map(|(payer, chains, order)| Payment {
            payer,
            chains,
            order,
        })
}

/// Records `payment` on a root through record-forward (and its first chain on a second root,
/// so a function that looked beyond its root would see an agent paid twice), then checks the
/// audit functions against kagami-core on both roots, valid hops and all hops.
pub(crate) async fn run(db: &TestPostgres, payment: Payment) {
    let store = db.store();
    let mut agents: Vec<Agent> = Vec::new();
    for n in 1..=AGENTS {
        let a = agent(&store, n, "1000").await;
        published(&store, &a).await;
        agents.push(a);
    }
    let root = hash("detect-root");
    let other = hash("detect-other-root");
    let first: Vec<usize> = vec![0; payment.chains[0].len()];
    let mut nonce = 0;
    for (root, order) in [(other, &first), (root, &payment.order)] {
        let mut progress = vec![0usize; payment.chains.len()];
        for &c in order {
            let chain = &payment.chains[c];
            let i = progress[c];
            progress[c] += 1;
            let from = if i == 0 {
                payment.payer
            } else {
                chain[i - 1].0
            };
            let (to, next) = chain[i];
            let next = match next {
                Next::Follow => chain.get(i + 1).map(|(n, _)| *n),
                Next::Stop => None,
                Next::To(n) => Some(n),
            };
            let by = |n: u64| &agents[usize::try_from(n - 1).unwrap()];
            let manifest = store.manifests_of(by(to).uuid).await.unwrap()[0].clone();
            nonce += 1;
            let pair = receipt(
                root,
                u32::try_from(i).unwrap(),
                by(from),
                by(to),
                &manifest,
                next.map(by),
                nonce,
            );
            // Refused hops are part of the payment too: whatever is stored is the graph.
            let _ = store
                .record_forward(pair, t(i64::try_from(nonce).unwrap()), &policy())
                .await;
        }
    }
    let client = db.client().await;
    for root in [root, other] {
        for include_invalidated in [false, true] {
            agree(&store, &client, root, include_invalidated).await;
        }
    }
}

/// Checks the audit functions against kagami-core on `root`'s stored graph (see the module
/// documentation for what agreeing means).
async fn agree(store: &Store, client: &Client, root: Hash32, include_invalidated: bool) {
    let receipts = store.forward_trail(&root).await.unwrap().receipts;
    let edges = receipts
        .iter()
        .filter_map(|r| {
            if include_invalidated {
                r.receipt.edge()
            } else {
                ReceiptRecord::valid_edge(r)
            }
        })
        .collect();
    let graph = ForwardGraph::new(root, edges);
    let context = format!("root {root}, include_invalidated {include_invalidated}, {graph:?}");

    let cycles = detect_forward_cycles(client, root, include_invalidated).await;
    let found = graph.find_cycle();
    assert_eq!(cycles.is_empty(), found.is_none(), "{context}: {cycles:?}");
    if let Some(found) = found {
        let canonical = starting_at_smallest(&found);
        assert!(
            cycles.contains(&canonical),
            "{context}: core's cycle {canonical:?} is not among {cycles:?}"
        );
    }
    let mut on_sql_cycles = BTreeSet::new();
    for (i, cycle) in cycles.iter().enumerate() {
        assert_eq!(cycle, &starting_at_smallest(cycle), "{context}: {cycle:?}");
        assert!(!cycles[..i].contains(cycle), "{context}: twice {cycle:?}");
        let distinct: BTreeSet<_> = cycle.agents.iter().collect();
        assert_eq!(distinct.len(), cycle.agents.len(), "{context}: {cycle:?}");
        assert_eq!(cycle.receipts.len(), cycle.agents.len(), "{context}");
        for (k, receipt) in cycle.receipts.iter().enumerate() {
            let (from, to) = (cycle.agents[k], cycle.agents[(k + 1) % cycle.agents.len()]);
            assert!(
                graph
                    .edges()
                    .iter()
                    .any(|e| e.receipt == *receipt && e.from == from && e.to == to),
                "{context}: {cycle:?} has no hop {from} -> {to} with receipt {receipt}"
            );
        }
        on_sql_cycles.extend(cycle.agents.iter().copied());
    }
    let on_core_cycles: BTreeSet<Uuid> = graph
        .edges()
        .iter()
        .filter(|e| graph.cycle_closed_by(e.from, e.to).is_some())
        .map(|e| e.from)
        .collect();
    assert_eq!(on_sql_cycles, on_core_cycles, "{context}");

    let loops = detect_extraction_loops(client, root, include_invalidated).await;
    assert_eq!(loops, graph.extraction_loops(), "{context}");
    if !include_invalidated {
        // What operators are told: the write path never leaves a loop among valid hops.
        assert!(cycles.is_empty() && loops.is_empty(), "{context}");
    }
}

/// `cycle` rotated to start at its smallest agent, the form `detect_forward_cycles` reports.
fn starting_at_smallest(cycle: &Cycle) -> Cycle {
    let start = cycle
        .agents
        .iter()
        .enumerate()
        .min_by_key(|(_, a)| **a)
        .map_or(0, |(i, _)| i);
    let mut rotated = cycle.clone();
    rotated.agents.rotate_left(start);
    rotated.receipts.rotate_left(start);
    rotated
}

pub(crate) async fn detect_forward_cycles(
    client: &Client,
    root: Hash32,
    include_invalidated: bool,
) -> Vec<Cycle> {
    client
        .query(
            "SELECT agents, receipts, depth FROM detect_forward_cycles($1, $2)",
            &[&root.to_string(), &include_invalidated],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let cycle = Cycle {
                agents: row.get(0),
                receipts: hashes(row.get(1)),
            };
            assert_eq!(u32::try_from(row.get::<_, i32>(2)).unwrap(), cycle.depth());
            cycle
        })
        .collect()
}

pub(crate) async fn detect_extraction_loops(
    client: &Client,
    root: Hash32,
    include_invalidated: bool,
) -> Vec<ExtractionLoop> {
    client
        .query(
            "SELECT agent, sources, hops, receipts FROM detect_extraction_loops($1, $2)",
            &[&root.to_string(), &include_invalidated],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| ExtractionLoop {
            agent: row.get(0),
            sources: row.get(1),
            hops: row
                .get::<_, Vec<i32>>(2)
                .into_iter()
                .map(|h| u32::try_from(h).unwrap())
                .collect(),
            receipts: hashes(row.get(3)),
        })
        .collect()
}

fn hashes(texts: Vec<String>) -> Vec<Hash32> {
    texts.iter().map(|h| h.parse().unwrap()).collect()
}

/// `\df detect_*` after migrating: both functions, callable with the root alone.
pub(crate) async fn audit_functions_exist_after_migration(db: &TestPostgres) {
    let client = db.client().await;
    let functions: Vec<(String, String)> = client
        .query(
            "SELECT p.proname::text, pg_get_function_identity_arguments(p.oid) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = current_schema() AND p.proname LIKE 'detect\\_%' \
             ORDER BY p.proname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let arguments = "root_tx text, include_invalidated boolean".to_owned();
    assert_eq!(
        functions,
        [
            ("detect_extraction_loops".to_owned(), arguments.clone()),
            ("detect_forward_cycles".to_owned(), arguments),
        ]
    );
    let root = hash("nothing recorded");
    for sql in [
        "SELECT * FROM detect_forward_cycles($1)",
        "SELECT * FROM detect_extraction_loops($1)",
    ] {
        assert!(
            client
                .query(sql, &[&root.to_string()])
                .await
                .unwrap()
                .is_empty()
        );
        // Any case of hex digits is the same root; anything else is an error, not an empty
        // audit.
        let upper = format!("0x{}", root.to_string()[2..].to_uppercase());
        assert!(client.query(sql, &[&upper]).await.unwrap().is_empty());
        let err = client.query(sql, &[&"0x12"]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE),
            "{err:?}"
        );
    }
}

/// A → B → A settled through record-forward: no cycle among the valid hops, the settled one
/// (and A paid twice) among all hops, reported as an operator reads it.
pub(crate) async fn a_settled_cycle_is_evidence_not_a_valid_cycle(db: &TestPostgres) {
    let store = db.store();
    let p = agent(&store, 1, "1000").await;
    let a = agent(&store, 2, "1000").await;
    let b = agent(&store, 3, "1000").await;
    let (ma, mb) = (published(&store, &a).await, published(&store, &b).await);
    published(&store, &p).await;
    let root = hash("settled");
    for pair in [
        receipt(root, 0, &p, &a, &ma, Some(&b), 1),
        receipt(root, 1, &a, &b, &mb, Some(&a), 1),
        receipt(root, 2, &b, &a, &ma, None, 2),
    ] {
        store.record_forward(pair, now(), &policy()).await.unwrap();
    }
    let trail = store.forward_trail(&root).await.unwrap().receipts;
    let hash_of = |from: &Agent, to: &Agent| {
        trail
            .iter()
            .find(|r| r.receipt.source == from.uuid && r.receipt.dest == to.uuid)
            .unwrap()
            .receipt
            .receipt_hash
    };
    let client = db.client().await;
    assert!(detect_forward_cycles(&client, root, false).await.is_empty());
    assert!(
        detect_extraction_loops(&client, root, false)
            .await
            .is_empty()
    );
    let (ab, ba) = (hash_of(&a, &b), hash_of(&b, &a));
    let expected = if a.uuid < b.uuid {
        (vec![a.uuid, b.uuid], vec![ab, ba])
    } else {
        (vec![b.uuid, a.uuid], vec![ba, ab])
    };
    assert_eq!(
        detect_forward_cycles(&client, root, true).await,
        [Cycle {
            agents: expected.0,
            receipts: expected.1
        }]
    );
    assert_eq!(
        detect_extraction_loops(&client, root, true).await,
        [ExtractionLoop {
            agent: a.uuid,
            sources: vec![p.uuid, b.uuid],
            hops: vec![0, 2],
            receipts: vec![hash_of(&p, &a), ba],
        }]
    );
}
