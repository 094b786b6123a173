//! Decisions of the write use cases, as pure functions over state the store loaded inside
//! its transaction. Both store backends call these, so the rules exist once.

use kagami_crypto::sha256;
use kagami_crypto::{Hash32, Uuid};
use serde::Serialize;

use crate::{
    Edge, ForwardGraph, ForwardViolation, Policy, ProposedForward, StakeAccount, Usdc,
    wire::ErrorCode,
};

/// What closed the loop a settlement settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopKind {
    /// A directed cycle (A→B→…→A).
    Cycle,
    /// An agent paid twice by the same root payment.
    ExtractionLoop,
}

impl LoopKind {
    /// The kind's stored and wire name (a settlement's `kind`): `cycle`, `extraction_loop`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cycle => "cycle",
            Self::ExtractionLoop => "extraction_loop",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Cycle, Self::ExtractionLoop]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }

    /// Why the loop's receipts were invalidated and its agents slashed:
    /// `cycle_detected`, `extraction_loop_detected`.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Cycle => "cycle_detected",
            Self::ExtractionLoop => "extraction_loop_detected",
        }
    }

    /// Parses [`Self::reason`].
    pub fn parse_reason(s: &str) -> Option<Self> {
        [Self::Cycle, Self::ExtractionLoop]
            .into_iter()
            .find(|kind| kind.reason() == s)
    }

    /// The code answered when a recorded receipt closed a loop of this kind.
    pub const fn error_code(self) -> ErrorCode {
        match self {
            Self::Cycle => ErrorCode::CircularDependency,
            Self::ExtractionLoop => ErrorCode::ExtractionLoopDetected,
        }
    }
}

/// A loop closed by recording one hop: its agents, the receipts that are its evidence, and
/// the agents liable for it (see [`DetectedLoop::closed_by`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedLoop {
    /// Cycle or extraction loop.
    pub kind: LoopKind,
    /// The agents of the loop, each once: a cycle's agents in path order, or an extraction
    /// loop's payers followed by the agent paid twice.
    pub agents: Vec<Uuid>,
    /// The agents slashed, each once (a subset of `agents`).
    pub liable: Vec<Uuid>,
    /// The hops involved (extraction loops; empty for cycles).
    pub hops: Vec<u32>,
    /// The receipts to invalidate: the loop's, the closing one last.
    pub receipts: Vec<Hash32>,
}

impl DetectedLoop {
    /// Number of agents in the loop (a cycle's depth).
    pub fn depth(&self) -> u32 {
        u32::try_from(self.agents.len()).unwrap_or(u32::MAX)
    }

    /// The loop that recording `edge` into `graph` (the root's recorded hops) closes, if any,
    /// with the agents liable for it — the liability rule of PROTOCOL.md, section 12:
    ///
    /// - the payer of `edge` when it closes a cycle (the destination already reaches the
    ///   payer): it signed an order into a loop that was already recorded, which its
    ///   verify-forward would have shown it;
    /// - the destination of `edge` when it was already paid by this root (an extraction
    ///   loop, or a cycle back into an agent that was paid before): it signed a second
    ///   receipt of one root payment.
    ///
    /// Nobody else on the loop is liable: each of them signed one order and one receipt, both
    /// safe when signed, and a loop closed later by others is not their doing. An edge into
    /// the root payer closes a cycle (the root payer reaches every recorded agent); the root
    /// payer signed one receipt and is not liable for it.
    pub fn closed_by(graph: &ForwardGraph, edge: &Edge) -> Option<Self> {
        let incoming: Vec<&Edge> = graph.edges().iter().filter(|e| e.to == edge.to).collect();
        let already_paid = !incoming.is_empty();
        let cycle = graph.cycle_closed_by(edge.from, edge.to);
        let mut liable = Vec::with_capacity(2);
        if cycle.is_some() {
            liable.push(edge.from);
        }
        if already_paid && !liable.contains(&edge.to) {
            liable.push(edge.to);
        }
        if let Some(cycle) = cycle {
            let mut receipts = cycle.receipts;
            receipts.push(edge.receipt);
            return Some(Self {
                kind: LoopKind::Cycle,
                agents: cycle.agents,
                liable,
                hops: Vec::new(),
                receipts,
            });
        }
        if !already_paid {
            return None;
        }
        let mut agents: Vec<Uuid> = Vec::new();
        for agent in incoming.iter().map(|e| e.from).chain([edge.from, edge.to]) {
            if !agents.contains(&agent) {
                agents.push(agent);
            }
        }
        Some(Self {
            kind: LoopKind::ExtractionLoop,
            agents,
            liable,
            hops: incoming.iter().map(|e| e.hop).chain([edge.hop]).collect(),
            receipts: incoming
                .iter()
                .map(|e| e.receipt)
                .chain([edge.receipt])
                .collect(),
        })
    }
}

/// Why a receipt cannot be recorded (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRejection {
    /// A forward rule other than a loop refused it.
    #[error(transparent)]
    Forward(ForwardViolation),
    /// The destination has too little available stake to lock for this hop.
    #[error("destination has {available} USDC available, {required} USDC required per hop")]
    InsufficientStake {
        /// Its available stake.
        available: Usdc,
        /// The policy's minimum per hop.
        required: Usdc,
    },
}

/// What recording a receipt does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordDecision {
    /// Store it as valid and lock `lock` of the destination's stake for this root.
    Accept {
        /// The amount to lock.
        lock: Usdc,
    },
    /// Store it as evidence and settle the loop it closes.
    Settle(DetectedLoop),
}

/// What recording `edge` into the root's recorded hops `graph` means under the forward
/// rules (`ForwardGraph::check_forward`): `Ok(None)` for a safe hop, `Ok(Some(loop))` for the
/// loop it closes (which is settled, not refused), and every other violation refuses it —
/// a self-forward, in particular, is refused, never a "loop" of one agent.
///
/// # Errors
/// The [`ForwardViolation`] that refuses the hop.
pub fn closes_loop(
    graph: &ForwardGraph,
    edge: &Edge,
    policy: &Policy,
) -> Result<Option<DetectedLoop>, ForwardViolation> {
    let proposed = ProposedForward {
        from: edge.from,
        to: edge.to,
        hop: edge.hop,
    };
    match graph.check_forward(proposed, policy) {
        Ok(()) => Ok(None),
        Err(ForwardViolation::WouldCreateCycle(_) | ForwardViolation::WouldExtract(_)) => {
            Ok(DetectedLoop::closed_by(graph, edge))
        }
        Err(other) => Err(other),
    }
}

/// The part of [`decide_record`] that needs no stake: the loop `edge` closes, if any (settled
/// whatever the stake), or the violation that refuses it. A store reads (and locks) the
/// destination's stake only when this finds no loop.
///
/// # Errors
/// [`RecordRejection::Forward`] when nothing may be stored.
pub fn record_settles(
    graph: &ForwardGraph,
    edge: &Edge,
    policy: &Policy,
) -> Result<Option<DetectedLoop>, RecordRejection> {
    closes_loop(graph, edge, policy).map_err(RecordRejection::Forward)
}

/// Decides what recording `edge` into the root's recorded hops `graph` does: a loop it closes
/// is settled whatever the stake ([`record_settles`]); other violations reject; then the
/// destination must have `min_stake_per_hop` available (its locks on this root excluded).
///
/// # Errors
/// [`RecordRejection`] when nothing may be stored.
pub fn decide_record(
    graph: &ForwardGraph,
    edge: &Edge,
    destination: &StakeAccount,
    policy: &Policy,
) -> Result<RecordDecision, RecordRejection> {
    if let Some(detected) = record_settles(graph, edge, policy)? {
        return Ok(RecordDecision::Settle(detected));
    }
    let available = destination.available();
    if available < policy.min_stake_per_hop {
        return Err(RecordRejection::InsufficientStake {
            available,
            required: policy.min_stake_per_hop,
        });
    }
    Ok(RecordDecision::Accept {
        lock: policy.min_stake_per_hop,
    })
}

/// The slash for flipping endpoint during a commitment's time lock:
/// `min(50 % of available stake, committed amount)`.
pub fn commitment_dispute_slash(amount: Usdc, account: &StakeAccount) -> Usdc {
    account.available().mul_div_floor(1, 2).min(amount)
}

/// The id of a flip: SHA-256 over the old and the new manifest ids (32 bytes each).
pub fn flip_hash(old: &Hash32, new: &Hash32) -> Hash32 {
    Hash32::from(sha256(&[old.as_bytes(), new.as_bytes()]))
}

/// The id of a time-locked commitment: SHA-256 over its canonical description
/// (`Kagami commitment v1` text, the same framing as protocol messages).
pub fn commitment_hash(
    chain: &kagami_crypto::Chain,
    root_tx: &Hash32,
    first_hop: &Uuid,
    routing: &Hash32,
    amount: Usdc,
    time_lock_until: kagami_crypto::Timestamp,
) -> Hash32 {
    let text = format!(
        "Kagami commitment v1\nchain: {chain}\nroot-tx: {root_tx}\nfirst-hop: {first_hop}\nrouting: {routing}\namount: {amount}\ntime-lock-until: {time_lock_until}"
    );
    Hash32::from(sha256(&[text.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use kagami_crypto::{NextHop, Signable};

    use super::*;

    fn agent(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn root() -> Hash32 {
        Hash32::from([9; 32])
    }

    fn edge(from: u128, to: u128, hop: u32, next: Option<u128>, tag: u8) -> Edge {
        Edge {
            from: agent(from),
            to: agent(to),
            hop,
            receipt: Hash32::from([tag; 32]),
            next_hop: next.map(|n| {
                NextHop {
                    root_tx: root(),
                    to: agent(n),
                }
                .id()
            }),
        }
    }

    fn staked(usdc: u32) -> StakeAccount {
        StakeAccount {
            staked: Usdc::from_usdc(usdc),
            ..StakeAccount::default()
        }
    }

    #[test]
    fn closing_a_cycle_settles_whatever_the_stake() {
        let graph = ForwardGraph::new(
            root(),
            vec![edge(1, 2, 0, Some(3), 1), edge(2, 3, 1, Some(1), 2)],
        );
        let decision = decide_record(
            &graph,
            &edge(3, 1, 2, None, 3),
            &staked(0),
            &Policy::default(),
        )
        .unwrap();
        let RecordDecision::Settle(detected) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(detected.kind, LoopKind::Cycle);
        assert_eq!(detected.agents, vec![agent(1), agent(2), agent(3)]);
        assert_eq!(
            detected.liable,
            vec![agent(3)],
            "the payer of the closing hop; the root payer, paid back once, is not liable"
        );
        assert_eq!(
            detected.receipts,
            vec![
                Hash32::from([1; 32]),
                Hash32::from([2; 32]),
                Hash32::from([3; 32])
            ]
        );
    }

    #[test]
    fn paying_an_agent_twice_settles_an_extraction_loop() {
        let graph = ForwardGraph::new(
            root(),
            vec![
                edge(1, 2, 0, Some(4), 1),
                edge(1, 3, 0, Some(4), 2),
                edge(2, 4, 1, None, 3),
            ],
        );
        let decision = decide_record(
            &graph,
            &edge(3, 4, 1, None, 4),
            &staked(1000),
            &Policy::default(),
        )
        .unwrap();
        let RecordDecision::Settle(detected) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(detected.kind, LoopKind::ExtractionLoop);
        assert_eq!(detected.agents, vec![agent(2), agent(3), agent(4)]);
        assert_eq!(detected.liable, vec![agent(4)], "only the agent paid twice");
        assert_eq!(detected.hops, vec![1, 1]);
    }

    #[test]
    fn safe_forward_needs_the_minimum_stake_available() {
        let graph = ForwardGraph::new(root(), vec![edge(1, 2, 0, Some(3), 1)]);
        let p = Policy::default();
        assert_eq!(
            decide_record(&graph, &edge(2, 3, 1, None, 2), &staked(99), &p),
            Err(RecordRejection::InsufficientStake {
                available: Usdc::from_usdc(99),
                required: Usdc::from_usdc(100)
            })
        );
        assert_eq!(
            decide_record(&graph, &edge(2, 3, 1, None, 2), &staked(100), &p),
            Ok(RecordDecision::Accept {
                lock: Usdc::from_usdc(100)
            })
        );
    }

    #[test]
    fn other_violations_reject_without_storing() {
        let graph = ForwardGraph::new(root(), vec![edge(1, 2, 0, Some(3), 1)]);
        assert!(matches!(
            decide_record(
                &graph,
                &edge(2, 4, 1, None, 2),
                &staked(1000),
                &Policy::default()
            ),
            Err(RecordRejection::Forward(
                ForwardViolation::NextHopMismatch { .. }
            ))
        ));
    }

    #[test]
    fn dispute_slash_is_half_the_available_stake_at_most_the_amount() {
        assert_eq!(
            commitment_dispute_slash(Usdc::from_usdc(10_000), &staked(1000)),
            Usdc::from_usdc(500)
        );
        assert_eq!(
            commitment_dispute_slash(Usdc::from_usdc(100), &staked(1000)),
            Usdc::from_usdc(100)
        );
    }

    #[test]
    fn flip_hash_depends_on_order() {
        let (a, b) = (Hash32::from([1; 32]), Hash32::from([2; 32]));
        assert_ne!(flip_hash(&a, &b), flip_hash(&b, &a));
    }
}
