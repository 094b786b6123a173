//! The ledger's invariants over random sequences of operations, on a real store: whatever
//! is recorded, reported, disputed, incident-slashed or re-staked, in any order, every slash is
//! paid out exactly (Σ slashed = Σ bounties + Σ retained, in total and per cause), and no
//! agent's stake ever goes below zero.

use kagami_core::Usdc;
use kagami_store::{Agent, AttackType, Store};
use proptest::prelude::*;

use crate::fixtures::*;

const AGENTS: u64 = 4;

/// One operation; agents and roots are indices.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Record the hop `from → to` at `hop` on root `root` (`to` commits to `next`).
    Pay {
        root: u8,
        hop: u32,
        from: u64,
        to: u64,
        next: Option<u64>,
    },
    /// A watcher reports root `root` with the hops as evidence.
    Report {
        root: u8,
        hops: Vec<(u64, u64, u32)>,
    },
    /// An MEV incident against `attacker`.
    Mev { attacker: u64, extracted: u32 },
    /// `payer` and `first_hop` co-sign a commitment of `amount` USDC.
    Commit {
        payer: u64,
        first_hop: u64,
        amount: u32,
    },
    /// `agent` moves its endpoint (a dispute for every open commitment it co-signed).
    Move { agent: u64 },
    /// The admin mirrors a new on-chain stake.
    Stake { agent: u64, amount: u32 },
}

pub(crate) fn ops() -> impl Strategy<Value = Vec<Op>> {
    let agent = 1..=AGENTS;
    let op = prop_oneof![
        4 => (0u8..3, 0u32..4, agent.clone(), agent.clone(), proptest::option::of(agent.clone()))
            .prop_map(|(root, hop, from, to, next)| Op::Pay { root, hop, from, to, next }),
        1 => (0u8..3, proptest::collection::vec((agent.clone(), agent.clone(), 0u32..4), 1..4))
            .prop_map(|(root, hops)| Op::Report { root, hops }),
        1 => (agent.clone(), 0u32..2000).prop_map(|(attacker, extracted)| Op::Mev { attacker, extracted }),
        1 => (agent.clone(), agent.clone(), 10_000u32..2_000_000)
            .prop_map(|(payer, first_hop, amount)| Op::Commit { payer, first_hop, amount }),
        1 => agent.clone().prop_map(|agent| Op::Move { agent }),
        1 => (agent, 0u32..3000).prop_map(|(agent, amount)| Op::Stake { agent, amount }),
    ];
    proptest::collection::vec(op, 1..25)
}

/// Runs `ops` on `store`, checking the invariants after each one. Operations the rules
/// refuse are part of the sequence too: a refusal must leave the ledger as it was.
pub(crate) async fn run(store: Store, ops: Vec<Op>) {
    let mut agents: Vec<Agent> = Vec::new();
    for n in 1..=AGENTS {
        let a = agent(&store, n, "1000").await;
        published(&store, &a).await;
        agents.push(a);
    }
    let by = |n: u64| &agents[usize::try_from(n - 1).unwrap()];
    let mut manifests: Vec<_> = Vec::new();
    for a in &agents {
        manifests.push(store.manifests_of(a.uuid).await.unwrap()[0].clone());
    }
    let mut nonce = 1000;
    let mut endpoint_nonce = vec![1u64; usize::try_from(AGENTS).unwrap()];
    for (step, op) in ops.into_iter().enumerate() {
        let at = t(i64::try_from(step).unwrap() * 30);
        nonce += 1;
        let root = |r: u8| hash(&format!("ledger-root-{r}"));
        let manifest_of = |n: u64| manifests[usize::try_from(n - 1).unwrap()].clone();
        let _ = match op {
            Op::Pay {
                root: r,
                hop,
                from,
                to,
                next,
            } => store
                .record_forward(
                    receipt(
                        root(r),
                        hop,
                        by(from),
                        by(to),
                        &manifest_of(to),
                        next.map(by),
                        nonce,
                    ),
                    at,
                    &policy(),
                )
                .await
                .map(drop),
            Op::Report { root: r, hops } => {
                let evidence = hops
                    .iter()
                    .enumerate()
                    .map(|(i, (from, to, hop))| {
                        receipt(
                            root(r),
                            *hop,
                            by(*from),
                            by(*to),
                            &manifest_of(*to),
                            None,
                            nonce * 10 + i as u64,
                        )
                    })
                    .collect();
                store
                    .report_cycle(report(root(r), evidence), at, &policy())
                    .await
                    .map(drop)
            }
            Op::Mev {
                attacker,
                extracted,
            } => store
                .record_mev_incident(
                    mev(
                        by(attacker),
                        AttackType::Sandwich,
                        &extracted.to_string(),
                        nonce,
                    ),
                    at,
                )
                .await
                .map(drop),
            Op::Commit {
                payer,
                first_hop,
                amount,
            } => store
                .create_commitment(
                    commitment(
                        by(payer),
                        by(first_hop),
                        &format!("ledger-commit-{nonce}"),
                        &amount.to_string(),
                        at.add_seconds(3600),
                    ),
                    at,
                    &policy(),
                )
                .await
                .map(drop),
            Op::Move { agent: n } => {
                let i = usize::try_from(n - 1).unwrap();
                endpoint_nonce[i] += 1;
                let m = manifest(
                    by(n),
                    endpoint_nonce[i],
                    &format!("https://moved-{nonce}.example/x402"),
                    at.add_seconds(15),
                    t(20 * 3600),
                );
                store.publish_manifest(m, at, &policy()).await.map(drop)
            }
            Op::Stake { agent: n, amount } => store
                .set_stake(by(n).uuid, usdc(&amount.to_string()), at)
                .await
                .map(drop),
        };
        // Disputes fall due as time passes; evaluate them as the sweep would.
        for a in &agents {
            store.touch_agent(a.uuid, at).await.unwrap();
        }
        check(&store, &agents, at).await;
    }
}

async fn check(store: &Store, agents: &[Agent], at: kagami_core::crypto::Timestamp) {
    let (totals, _) = store.ledger(0, None).await.unwrap();
    assert!(totals.balanced(), "the ledger does not balance: {totals:?}");
    let mut slashed = Usdc::ZERO;
    for a in agents {
        let stake = store.stake(a.uuid, at).await.unwrap().unwrap();
        assert!(
            stake.slashed <= stake.staked,
            "stake below zero: {stake:?} of {}",
            a.uuid
        );
        let own: Usdc = store
            .slashes_of(a.uuid)
            .await
            .unwrap()
            .iter()
            .fold(Usdc::ZERO, |sum, s| sum.checked_add(s.amount).unwrap());
        assert_eq!(
            own, stake.slashed,
            "the agent's slashes are its slashed amount"
        );
        slashed = slashed.checked_add(own).unwrap();
    }
    assert_eq!(
        totals.slashed,
        slashed.into(),
        "the ledger holds every slash"
    );
}
