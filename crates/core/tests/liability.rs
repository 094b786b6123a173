//! The liability rule as properties over random forward histories (PROTOCOL.md, "Liability").
//!
//! Each history is a list of hops that agents sign and later submit, in any interleaving. One
//! agent is honest: it signs an order only when verify-forward (`check_forward` on what is
//! recorded when it signs) says the hop is safe, and it signs at most one receipt per root.
//! Whatever the others sign, and however late anything is submitted, the honest agent is never
//! liable, and every liable agent signed the hop that closed the loop.

use kagami_core::{
    Edge, ForwardGraph, Policy, ProposedForward,
    crypto::{Hash32, NextHop, Signable, Uuid},
    decide::closes_loop,
};
use proptest::prelude::*;

const HONEST: u8 = 0;

fn agent(n: u8) -> Uuid {
    Uuid::from_u128(u128::from(n) + 1)
}

fn root() -> Hash32 {
    Hash32::from([0x42; 32])
}

/// One hop some agents sign: `from` pays `to` at `hop`; `to` commits to `next` (or none);
/// submitted `1 + delay` steps after it is signed.
#[derive(Debug, Clone)]
struct Hop {
    from: u8,
    to: u8,
    hop: u32,
    next: Option<u8>,
    delay: usize,
}

fn history() -> impl Strategy<Value = (u8, Vec<Hop>)> {
    (2u8..7).prop_flat_map(|n| {
        let hop = (0..n, 0..n, 0u32..5, proptest::option::of(0..n), 0usize..4).prop_map(
            |(from, to, hop, next, delay)| Hop {
                from,
                to,
                hop,
                next,
                delay,
            },
        );
        (Just(n), proptest::collection::vec(hop, 1..40))
    })
}

fn edge(index: usize, h: &Hop) -> Edge {
    let mut receipt = [0u8; 32];
    receipt[..8].copy_from_slice(&(index as u64).to_be_bytes());
    Edge {
        from: agent(h.from),
        to: agent(h.to),
        hop: h.hop,
        receipt: Hash32::from(receipt),
        next_hop: h.next.map(|n| {
            NextHop {
                root_tx: root(),
                to: agent(n),
            }
            .id()
        }),
    }
}

/// What happened to one history: every settlement's liable agents and closing hop.
struct Outcome {
    settlements: Vec<(Vec<Uuid>, Edge)>,
}

/// Plays `hops`: hop `i` is signed at step `i` (or refused by the honest agent) and
/// submitted at step `i + 1 + delay`; a submitted hop is recorded, refused, or closes a loop,
/// which settles the root (nothing is recorded after).
fn play(hops: &[Hop], policy: &Policy) -> Outcome {
    let mut graph = ForwardGraph::new(root(), Vec::new());
    let mut settled = false;
    let mut outcome = Outcome {
        settlements: Vec::new(),
    };
    let mut honest_receipts = 0;
    let mut pending: Vec<(usize, usize)> = Vec::new(); // (submit step, index)
    let last = hops.len() + 5;
    for step in 0..=last {
        // Submissions due now, in signing order.
        let mut due: Vec<usize> = pending
            .iter()
            .filter(|(at, _)| *at == step)
            .map(|(_, i)| *i)
            .collect();
        due.sort_unstable();
        for i in due {
            if settled {
                break;
            }
            let e = edge(i, &hops[i]);
            match closes_loop(&graph, &e, policy) {
                Ok(None) => graph = graph.with_edge(e),
                Ok(Some(detected)) => {
                    outcome.settlements.push((detected.liable, e));
                    settled = true;
                }
                Err(_) => {}
            }
        }
        // Signing hop `step`.
        if let Some(h) = hops.get(step) {
            let e = edge(step, h);
            let proposed = ProposedForward {
                from: e.from,
                to: e.to,
                hop: e.hop,
            };
            // The honest payer signs only what verify-forward calls safe now.
            if h.from == HONEST && graph.check_forward(proposed, policy).is_err() {
                continue;
            }
            // The honest destination acknowledges one payment per root, no more.
            if h.to == HONEST {
                if honest_receipts > 0 {
                    continue;
                }
                honest_receipts += 1;
            }
            pending.push((step + 1 + h.delay, step));
        }
    }
    outcome
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_honest_agent_is_never_liable((_, hops) in history()) {
        let outcome = play(&hops, &Policy::default());
        for (liable, _) in &outcome.settlements {
            prop_assert!(!liable.contains(&agent(HONEST)), "honest agent liable: {hops:?}");
        }
    }

    #[test]
    fn every_liable_agent_signed_the_closing_hop((_, hops) in history()) {
        let outcome = play(&hops, &Policy::default());
        for (liable, closing) in &outcome.settlements {
            prop_assert!(!liable.is_empty(), "a loop with nobody liable: {hops:?}");
            for agent in liable {
                // The payer signed its order, the destination its receipt.
                prop_assert!(*agent == closing.from || *agent == closing.to);
            }
        }
    }
}

#[test]
fn the_histories_do_settle_loops() {
    // Guard against a generator that never closes a loop (which would make the properties
    // vacuous): a plain cycle A -> B -> C -> A settles, with the closing payer liable.
    let hops = [
        Hop {
            from: 1,
            to: 2,
            hop: 0,
            next: Some(3),
            delay: 0,
        },
        Hop {
            from: 2,
            to: 3,
            hop: 1,
            next: Some(1),
            delay: 0,
        },
        Hop {
            from: 3,
            to: 1,
            hop: 2,
            next: None,
            delay: 0,
        },
    ];
    let outcome = play(&hops, &Policy::default());
    assert_eq!(outcome.settlements.len(), 1);
    assert_eq!(outcome.settlements[0].0, vec![agent(3)]);
    // The honest agent forwarding inside someone else's cycle is not liable: 1 -> 0 -> 2 -> 1.
    let framed = [
        Hop {
            from: 1,
            to: HONEST,
            hop: 0,
            next: Some(2),
            delay: 0,
        },
        Hop {
            from: HONEST,
            to: 2,
            hop: 1,
            next: Some(1),
            delay: 0,
        },
        Hop {
            from: 2,
            to: 1,
            hop: 2,
            next: None,
            delay: 0,
        },
    ];
    let outcome = play(&framed, &Policy::default());
    assert_eq!(outcome.settlements.len(), 1);
    assert_eq!(outcome.settlements[0].0, vec![agent(2)]);
    // Paid twice on one root: the agent that signed the second receipt is liable, not the
    // payers.
    let twice = [
        Hop {
            from: 1,
            to: 2,
            hop: 0,
            next: None,
            delay: 0,
        },
        Hop {
            from: 1,
            to: 3,
            hop: 0,
            next: Some(2),
            delay: 0,
        },
        Hop {
            from: 3,
            to: 2,
            hop: 1,
            next: None,
            delay: 0,
        },
    ];
    let outcome = play(&twice, &Policy::default());
    assert_eq!(outcome.settlements[0].0, vec![agent(2)]);
}

#[test]
fn random_histories_settle_often_enough_to_mean_something() {
    use proptest::{strategy::ValueTree, test_runner::TestRunner};
    let mut runner = TestRunner::deterministic();
    let strategy = history();
    let (mut settled, mut honest_in_loop) = (0, 0);
    for _ in 0..2000 {
        let (_, hops) = strategy.new_tree(&mut runner).unwrap().current();
        let outcome = play(&hops, &Policy::default());
        settled += outcome.settlements.len();
        // Loops the honest agent forwarded into (its edge recorded) but was not liable for.
        honest_in_loop += outcome
            .settlements
            .iter()
            .filter(|(_, closing)| closing.to == agent(HONEST) || closing.from == agent(HONEST))
            .count();
    }
    assert!(
        settled > 200,
        "only {settled} of 2000 histories settled a loop"
    );
    assert!(
        honest_in_loop > 10,
        "the honest agent took part in only {honest_in_loop} closing hops"
    );
}
