//! The forward graph of one root transaction and its rules: cycles, extraction loops and
//! the predictive checks for a proposed forward.

use std::collections::{HashMap, HashSet, VecDeque};

use kagami_crypto::{Hash32, NextHop, Signable, Uuid};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Policy, wire::ErrorCode};

/// One forward: `from` paid `to` at `hop`, proven by `receipt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The paying agent.
    pub from: Uuid,
    /// The receiving agent (signer of the receipt).
    pub to: Uuid,
    /// 0 for the first forward after the root payment.
    pub hop: u32,
    /// The receipt's id.
    pub receipt: Hash32,
    /// The receiver's commitment to its next hop (`None`: it will not forward).
    pub next_hop: Option<Hash32>,
}

/// The valid forwards of one root transaction.
#[derive(Debug, Clone)]
pub struct ForwardGraph {
    root_tx: Hash32,
    /// Sorted by hop (stable), so traversals follow the payment's order.
    edges: Vec<Edge>,
    adjacency: HashMap<Uuid, Vec<usize>>,
}

/// A directed cycle, agents in path order (the first agent is where the cycle was entered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cycle {
    /// The agents on the cycle, each once, in path order.
    pub agents: Vec<Uuid>,
    /// The receipts forming the cycle's edges (for a predicted cycle, the closing edge has
    /// no receipt yet and is not listed).
    pub receipts: Vec<Hash32>,
}

impl Cycle {
    /// The number of agents on the cycle (A→B→A has depth 2).
    pub fn depth(&self) -> u32 {
        u32::try_from(self.agents.len()).unwrap_or(u32::MAX)
    }
}

/// An agent that receives the same root payment more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractionLoop {
    /// The agent paid more than once.
    pub agent: Uuid,
    /// Who paid it, one entry per payment, in hop order.
    pub sources: Vec<Uuid>,
    /// The hops of those payments.
    pub hops: Vec<u32>,
    /// The receipts of those payments (a predicted one is not listed).
    pub receipts: Vec<Hash32>,
}

/// A forward being considered (verify-forward) or recorded (record-forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposedForward {
    /// The paying agent.
    pub from: Uuid,
    /// The receiving agent.
    pub to: Uuid,
    /// Its hop.
    pub hop: u32,
}

/// Why a proposed forward is unsafe, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardViolation {
    /// An agent forwarding to itself.
    #[error("an agent cannot forward to itself")]
    SelfForward,
    /// Deeper than `max_hop_depth`.
    #[error("hop {hop} exceeds the maximum hop depth {max}")]
    HopLimitExceeded {
        /// The proposed hop.
        hop: u32,
        /// The limit.
        max: u32,
    },
    /// The root's recorded forwards already contain a cycle.
    #[error("the recorded forwards of this root transaction already contain a cycle")]
    CycleDetected(Cycle),
    /// A hop 0 by another agent than the root payment's payer (the payer of the root's first
    /// recorded hop): a root payment has one payer.
    #[error("hop 0 of this root transaction is paid by {payer}, not the source agent")]
    RootPayerMismatch {
        /// The root payer.
        payer: Uuid,
    },
    /// Hop `h > 0` without a recorded hop `h - 1` into the paying agent.
    #[error("hop {hop} needs a recorded hop {} into the source agent", hop - 1)]
    MissingPreviousHop {
        /// The proposed hop.
        hop: u32,
    },
    /// The forward would close a cycle.
    #[error("the forward would close a cycle")]
    WouldCreateCycle(Cycle),
    /// The receiver already received this root payment.
    #[error("the destination already received this root payment")]
    WouldExtract(ExtractionLoop),
    /// The paying agent committed, in the receipt it signed, to a different next hop.
    #[error("the source agent committed to a different next hop")]
    NextHopMismatch {
        /// What the source's incoming receipt committed to (`None`: not to forward at all).
        committed: Option<Hash32>,
        /// The commitment this forward corresponds to.
        expected: Hash32,
    },
}

impl ForwardViolation {
    /// The stable code of this violation, on record-forward errors and verify-forward
    /// verdicts alike.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::SelfForward => ErrorCode::SelfForward,
            Self::HopLimitExceeded { .. } => ErrorCode::HopLimitExceeded,
            Self::CycleDetected(_) => ErrorCode::CycleDetected,
            Self::RootPayerMismatch { .. } => ErrorCode::RootPayerMismatch,
            Self::MissingPreviousHop { .. } => ErrorCode::PreviousHopMissing,
            Self::WouldCreateCycle(_) => ErrorCode::WouldCreateCycle,
            Self::WouldExtract(_) => ErrorCode::ExtractionLoopDetected,
            Self::NextHopMismatch { .. } => ErrorCode::NextHopMismatch,
        }
    }

    /// The violation's details as wire fields (flattened into the error or the verdict).
    pub fn details(&self) -> Map<String, Value> {
        let uuids = |agents: &[Uuid]| agents.iter().map(ToString::to_string).collect::<Vec<_>>();
        let hashes = |hashes: &[Hash32]| hashes.iter().map(ToString::to_string).collect::<Vec<_>>();
        let details = match self {
            Self::SelfForward => json!({}),
            Self::HopLimitExceeded { hop, max } => json!({ "hop": hop, "max_hop_depth": max }),
            Self::CycleDetected(cycle) => json!({
                "cycle_agents": uuids(&cycle.agents),
                "cycle_depth": cycle.depth(),
                "invalid_receipts": hashes(&cycle.receipts),
            }),
            Self::RootPayerMismatch { payer } => json!({ "root_payer": payer.to_string() }),
            Self::MissingPreviousHop { hop } => json!({ "hop": hop }),
            Self::WouldCreateCycle(cycle) => json!({
                "cycle_agents": uuids(&cycle.agents),
                "cycle_depth": cycle.depth(),
            }),
            Self::WouldExtract(l) => {
                let mut agents = l.sources.clone();
                agents.push(l.agent);
                json!({
                    "agent_uuid": l.agent.to_string(),
                    "loop_agents": uuids(&agents),
                    "loop_hops": l.hops,
                })
            }
            Self::NextHopMismatch {
                committed,
                expected,
            } => json!({
                "committed_next_hop_hash": committed.map(|c| c.to_string()),
                "expected_next_hop_hash": expected.to_string(),
            }),
        };
        match details {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

impl ForwardGraph {
    /// Builds the graph of `root_tx` from its valid forwards.
    pub fn new(root_tx: Hash32, mut edges: Vec<Edge>) -> Self {
        edges.sort_by_key(|e| e.hop);
        let mut adjacency: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (i, edge) in edges.iter().enumerate() {
            adjacency.entry(edge.from).or_default().push(i);
        }
        Self {
            root_tx,
            edges,
            adjacency,
        }
    }

    /// The root transaction.
    pub const fn root_tx(&self) -> Hash32 {
        self.root_tx
    }

    /// The edges, in hop order.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// This graph plus one more edge.
    #[must_use]
    pub fn with_edge(&self, edge: Edge) -> Self {
        let mut edges = self.edges.clone();
        edges.push(edge);
        Self::new(self.root_tx, edges)
    }

    /// Agents in order of first appearance along the payment (by hop).
    fn agents_in_order(&self) -> Vec<Uuid> {
        let mut seen = HashSet::new();
        let mut order = Vec::new();
        for edge in &self.edges {
            for agent in [edge.from, edge.to] {
                if seen.insert(agent) {
                    order.push(agent);
                }
            }
        }
        order
    }

    /// Finds a directed cycle, if any. The search starts from agents in payment order and
    /// follows edges in hop order, so for a payment A→B→C→A it reports `[A, B, C]`.
    pub fn find_cycle(&self) -> Option<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Gray,
            Black,
        }
        let mut color: HashMap<Uuid, Color> = HashMap::new();
        for start in self.agents_in_order() {
            if color.get(&start).copied().unwrap_or(Color::White) != Color::White {
                continue;
            }
            // Iterative DFS: `path` holds (agent, edge used to reach it, next child index).
            let mut path: Vec<(Uuid, Option<usize>, usize)> = vec![(start, None, 0)];
            color.insert(start, Color::Gray);
            while let Some(top) = path.last_mut() {
                let (agent, child) = (top.0, top.2);
                let next = self
                    .adjacency
                    .get(&agent)
                    .and_then(|edges| edges.get(child))
                    .copied();
                top.2 += 1;
                let Some(edge_index) = next else {
                    color.insert(agent, Color::Black);
                    path.pop();
                    continue;
                };
                let to = self.edges[edge_index].to;
                match color.get(&to).copied().unwrap_or(Color::White) {
                    Color::White => {
                        color.insert(to, Color::Gray);
                        path.push((to, Some(edge_index), 0));
                    }
                    Color::Gray => {
                        let entry = path.iter().position(|(a, _, _)| *a == to).unwrap_or(0);
                        let on_cycle = &path[entry..];
                        let agents = on_cycle.iter().map(|(a, _, _)| *a).collect();
                        let mut receipts: Vec<Hash32> = on_cycle
                            .iter()
                            .skip(1)
                            .filter_map(|(_, e, _)| e.map(|i| self.edges[i].receipt))
                            .collect();
                        receipts.push(self.edges[edge_index].receipt);
                        return Some(Cycle { agents, receipts });
                    }
                    Color::Black => {}
                }
            }
        }
        None
    }

    /// A shortest path of edges from `from` to `to`, as edge indices.
    fn path(&self, from: Uuid, to: Uuid) -> Option<Vec<usize>> {
        let mut came_by: HashMap<Uuid, usize> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(agent) = queue.pop_front() {
            if agent == to {
                let mut edges = Vec::new();
                let mut at = to;
                while at != from {
                    let e = came_by[&at];
                    edges.push(e);
                    at = self.edges[e].from;
                }
                edges.reverse();
                return Some(edges);
            }
            for &e in self
                .adjacency
                .get(&agent)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let next = self.edges[e].to;
                if seen.insert(next) {
                    came_by.insert(next, e);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The cycle that an edge `from → to` would close: one exists iff `to` already reaches
    /// `from`. Agents are reported from `to` along the path to `from`.
    pub fn cycle_closed_by(&self, from: Uuid, to: Uuid) -> Option<Cycle> {
        if from == to {
            return Some(Cycle {
                agents: vec![from],
                receipts: Vec::new(),
            });
        }
        let path = self.path(to, from)?;
        let mut agents = vec![to];
        agents.extend(path.iter().map(|&e| self.edges[e].to));
        Some(Cycle {
            agents,
            receipts: path.iter().map(|&e| self.edges[e].receipt).collect(),
        })
    }

    /// Every agent that received this root payment more than once.
    pub fn extraction_loops(&self) -> Vec<ExtractionLoop> {
        let mut incoming: HashMap<Uuid, Vec<&Edge>> = HashMap::new();
        for edge in &self.edges {
            incoming.entry(edge.to).or_default().push(edge);
        }
        let mut loops: Vec<ExtractionLoop> = incoming
            .into_iter()
            .filter(|(_, edges)| edges.len() >= 2)
            .map(|(agent, edges)| ExtractionLoop {
                agent,
                sources: edges.iter().map(|e| e.from).collect(),
                hops: edges.iter().map(|e| e.hop).collect(),
                receipts: edges.iter().map(|e| e.receipt).collect(),
            })
            .collect();
        loops.sort_by_key(|l| (l.hops.first().copied(), l.agent));
        loops
    }

    /// The edges paying `agent` at `hop`.
    fn incoming_at(&self, agent: Uuid, hop: u32) -> impl Iterator<Item = &Edge> {
        self.edges
            .iter()
            .filter(move |e| e.to == agent && e.hop == hop)
    }

    /// Decides whether `proposed` is safe, predicting what recording it would cause.
    ///
    /// # Errors
    /// The first [`ForwardViolation`] found, checked in the order of the enum: self-forward,
    /// hop limit, existing cycle, one root payer, chain continuity, would-create-cycle,
    /// would-extract, next-hop commitment.
    pub fn check_forward(
        &self,
        proposed: ProposedForward,
        policy: &Policy,
    ) -> Result<(), ForwardViolation> {
        let ProposedForward { from, to, hop } = proposed;
        if from == to {
            return Err(ForwardViolation::SelfForward);
        }
        if hop > policy.max_hop_depth {
            return Err(ForwardViolation::HopLimitExceeded {
                hop,
                max: policy.max_hop_depth,
            });
        }
        if let Some(cycle) = self.find_cycle() {
            return Err(ForwardViolation::CycleDetected(cycle));
        }
        if hop == 0
            && let Some(first) = self.edges.iter().find(|e| e.hop == 0 && e.from != from)
        {
            return Err(ForwardViolation::RootPayerMismatch { payer: first.from });
        }
        let previous: Vec<&Edge> = if hop > 0 {
            self.incoming_at(from, hop - 1).collect()
        } else {
            Vec::new()
        };
        if hop > 0 && previous.is_empty() {
            return Err(ForwardViolation::MissingPreviousHop { hop });
        }
        if let Some(cycle) = self.cycle_closed_by(from, to) {
            return Err(ForwardViolation::WouldCreateCycle(cycle));
        }
        let already: Vec<&Edge> = self.edges.iter().filter(|e| e.to == to).collect();
        if !already.is_empty() {
            let mut sources: Vec<Uuid> = already.iter().map(|e| e.from).collect();
            let mut hops: Vec<u32> = already.iter().map(|e| e.hop).collect();
            sources.push(from);
            hops.push(hop);
            let receipts = already.iter().map(|e| e.receipt).collect();
            return Err(ForwardViolation::WouldExtract(ExtractionLoop {
                agent: to,
                sources,
                hops,
                receipts,
            }));
        }
        let expected = NextHop {
            root_tx: self.root_tx,
            to,
        }
        .id();
        if let Some(broken) = previous.iter().find(|e| e.next_hop != Some(expected)) {
            return Err(ForwardViolation::NextHopMismatch {
                committed: broken.next_hop,
                expected,
            });
        }
        Ok(())
    }
}

/// Whether `hop` is beyond the rational depth (allowed, but flagged).
pub const fn is_irrational_hop(hop: u32, policy: &Policy) -> bool {
    hop > policy.max_rational_hops
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn agent(n: u8) -> Uuid {
        Uuid::from_u128(u128::from(n) + 1)
    }

    fn root() -> Hash32 {
        Hash32::from([0x11; 32])
    }

    fn commit(to: u8) -> Option<Hash32> {
        Some(
            NextHop {
                root_tx: root(),
                to: agent(to),
            }
            .id(),
        )
    }

    fn edge(from: u8, to: u8, hop: u32, next: Option<Hash32>) -> Edge {
        let mut receipt = [0u8; 32];
        receipt[0] = from;
        receipt[1] = to;
        receipt[2] = hop as u8;
        Edge {
            from: agent(from),
            to: agent(to),
            hop,
            receipt: Hash32::from(receipt),
            next_hop: next,
        }
    }

    fn graph(edges: Vec<Edge>) -> ForwardGraph {
        ForwardGraph::new(root(), edges)
    }

    fn propose(from: u8, to: u8, hop: u32) -> ProposedForward {
        ProposedForward {
            from: agent(from),
            to: agent(to),
            hop,
        }
    }

    /// A→B→C with commitments B→C and C→A (C intends to pay A back).
    fn abc() -> ForwardGraph {
        graph(vec![edge(0, 1, 0, commit(2)), edge(1, 2, 1, commit(0))])
    }

    #[test]
    fn two_agent_cycle_has_depth_2() {
        let g = graph(vec![edge(0, 1, 0, None), edge(1, 0, 1, None)]);
        let cycle = g.find_cycle().unwrap();
        assert_eq!(cycle.agents, vec![agent(0), agent(1)]);
        assert_eq!(cycle.depth(), 2);
        assert_eq!(cycle.receipts.len(), 2);
    }

    #[test]
    fn cycle_is_reported_in_payment_order() {
        let g = abc().with_edge(edge(2, 0, 2, None));
        let cycle = g.find_cycle().unwrap();
        assert_eq!(cycle.agents, vec![agent(0), agent(1), agent(2)]);
        assert_eq!(
            cycle.receipts,
            vec![
                g.edges()[0].receipt,
                g.edges()[1].receipt,
                g.edges()[2].receipt
            ]
        );
    }

    #[test]
    fn closing_edge_is_predicted_as_would_create_cycle() {
        let err = abc()
            .check_forward(propose(2, 0, 2), &Policy::default())
            .unwrap_err();
        let ForwardViolation::WouldCreateCycle(cycle) = err else {
            panic!("{err:?}")
        };
        assert_eq!(cycle.agents, vec![agent(0), agent(1), agent(2)]);
        assert_eq!(cycle.depth(), 3);
    }

    #[test]
    fn committed_next_hop_is_safe() {
        let g = graph(vec![edge(0, 1, 0, commit(2))]);
        assert_eq!(
            g.check_forward(propose(1, 2, 1), &Policy::default()),
            Ok(())
        );
    }

    #[test]
    fn forward_against_the_commitment_is_a_mismatch() {
        let g = graph(vec![edge(0, 1, 0, commit(2))]);
        let err = g
            .check_forward(propose(1, 3, 1), &Policy::default())
            .unwrap_err();
        assert_eq!(
            err,
            ForwardViolation::NextHopMismatch {
                committed: commit(2),
                expected: commit(3).unwrap()
            }
        );
        let terminal = graph(vec![edge(0, 1, 0, None)]);
        assert!(matches!(
            terminal.check_forward(propose(1, 2, 1), &Policy::default()),
            Err(ForwardViolation::NextHopMismatch {
                committed: None,
                ..
            })
        ));
    }

    #[test]
    fn self_forward_is_refused_first() {
        assert_eq!(
            abc().check_forward(propose(1, 1, 11), &Policy::default()),
            Err(ForwardViolation::SelfForward)
        );
    }

    #[test]
    fn hop_limit_boundaries() {
        let p = Policy::default();
        // Build a chain 0→1→…→11 with commitments, so only the hop rule can refuse.
        let edges: Vec<Edge> = (0..10u8)
            .map(|i| edge(i, i + 1, u32::from(i), commit(i + 2)))
            .collect();
        let g = graph(edges);
        assert_eq!(g.check_forward(propose(10, 11, 10), &p), Ok(()));
        assert_eq!(
            g.check_forward(propose(10, 11, 11), &p),
            Err(ForwardViolation::HopLimitExceeded { hop: 11, max: 10 })
        );
        assert!(!is_irrational_hop(8, &p));
        assert!(is_irrational_hop(9, &p));
        assert!(is_irrational_hop(10, &p));
    }

    #[test]
    fn hop_without_previous_hop_into_the_source_is_refused() {
        let g = graph(vec![edge(0, 1, 0, commit(2))]);
        assert_eq!(
            g.check_forward(propose(1, 2, 2), &Policy::default()),
            Err(ForwardViolation::MissingPreviousHop { hop: 2 })
        );
        assert_eq!(
            g.check_forward(propose(3, 2, 1), &Policy::default()),
            Err(ForwardViolation::MissingPreviousHop { hop: 1 })
        );
    }

    #[test]
    fn paying_an_agent_twice_is_an_extraction_loop_including_diamonds() {
        // Diamond: A→B, A→C, B→D, C→D.
        let g = graph(vec![
            edge(0, 1, 0, commit(3)),
            edge(0, 2, 0, commit(3)),
            edge(1, 3, 1, None),
        ]);
        let err = g
            .check_forward(propose(2, 3, 1), &Policy::default())
            .unwrap_err();
        let ForwardViolation::WouldExtract(l) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (l.agent, l.sources.clone(), l.hops.clone()),
            (agent(3), vec![agent(1), agent(2)], vec![1, 1])
        );
        let recorded = g.with_edge(edge(2, 3, 1, None));
        assert_eq!(recorded.find_cycle(), None);
        let loops = recorded.extraction_loops();
        assert_eq!(loops.len(), 1);
        assert_eq!(loops[0].agent, agent(3));
    }

    #[test]
    fn a_root_payment_has_one_payer() {
        let g = graph(vec![edge(0, 1, 0, commit(2))]);
        assert_eq!(
            g.check_forward(propose(3, 2, 0), &Policy::default()),
            Err(ForwardViolation::RootPayerMismatch { payer: agent(0) })
        );
        assert_eq!(
            g.check_forward(propose(0, 2, 0), &Policy::default()),
            Ok(())
        );
    }

    #[test]
    fn existing_cycle_is_reported_before_anything_else() {
        let g = graph(vec![edge(0, 1, 0, commit(0)), edge(1, 0, 1, commit(2))]);
        assert!(matches!(
            g.check_forward(propose(0, 2, 2), &Policy::default()),
            Err(ForwardViolation::CycleDetected(_))
        ));
    }

    // ---- properties -------------------------------------------------------------------

    fn brute_force_has_cycle(n: u8, edges: &[(u8, u8)]) -> bool {
        let n = usize::from(n);
        let mut reach = vec![vec![false; n]; n];
        for &(a, b) in edges {
            reach[usize::from(a)][usize::from(b)] = true;
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    if reach[i][k] && reach[k][j] {
                        reach[i][j] = true;
                    }
                }
            }
        }
        (0..n).any(|i| reach[i][i])
    }

    fn reaches(edges: &[(u8, u8)], from: u8, to: u8) -> bool {
        let mut seen = HashSet::from([from]);
        let mut stack = vec![from];
        while let Some(a) = stack.pop() {
            if a == to {
                return true;
            }
            for &(x, y) in edges {
                if x == a && seen.insert(y) {
                    stack.push(y);
                }
            }
        }
        false
    }

    fn to_graph(edges: &[(u8, u8)]) -> ForwardGraph {
        graph(
            edges
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| {
                    let mut e = edge(a, b, (i % 11) as u32, None);
                    e.receipt = Hash32::from([i as u8; 32]);
                    e
                })
                .collect(),
        )
    }

    fn random_graph() -> impl Strategy<Value = (u8, Vec<(u8, u8)>)> {
        (1u8..=12).prop_flat_map(|n| (Just(n), proptest::collection::vec((0..n, 0..n), 0..30)))
    }

    /// A DAG: edges only go from lower to higher positions of a random permutation.
    fn random_dag() -> impl Strategy<Value = (u8, Vec<(u8, u8)>)> {
        (2u8..=12)
            .prop_flat_map(|n| {
                let perm = Just((0..n).collect::<Vec<u8>>()).prop_shuffle();
                (
                    Just(n),
                    perm,
                    proptest::collection::vec((0..n, 0..n), 0..30),
                )
            })
            .prop_map(|(n, perm, pairs)| {
                let edges = pairs
                    .into_iter()
                    .filter(|(i, j)| i < j)
                    .map(|(i, j)| (perm[usize::from(i)], perm[usize::from(j)]))
                    .collect();
                (n, edges)
            })
    }

    proptest! {
        #[test]
        fn cycle_detection_agrees_with_brute_force((n, edges) in random_graph()) {
            let found = to_graph(&edges).find_cycle();
            prop_assert_eq!(found.is_some(), brute_force_has_cycle(n, &edges));
            if let Some(cycle) = found {
                // It is a real cycle: distinct agents, each consecutive pair (and the closing
                // pair) joined by an edge, one receipt per edge.
                let distinct: HashSet<_> = cycle.agents.iter().collect();
                prop_assert_eq!(distinct.len(), cycle.agents.len());
                prop_assert_eq!(cycle.receipts.len(), cycle.agents.len());
                let index = |u: &Uuid| (u.as_u128() - 1) as u8;
                for i in 0..cycle.agents.len() {
                    let a = index(&cycle.agents[i]);
                    let b = index(&cycle.agents[(i + 1) % cycle.agents.len()]);
                    prop_assert!(edges.contains(&(a, b)), "missing edge {a}->{b}");
                }
            }
        }

        #[test]
        fn a_dag_never_reports_a_cycle((_, edges) in random_dag()) {
            prop_assert_eq!(to_graph(&edges).find_cycle(), None);
        }

        #[test]
        fn adding_any_back_edge_to_a_dag_creates_a_cycle((_, edges) in random_dag(), pick in any::<prop::sample::Index>()) {
            prop_assume!(!edges.is_empty());
            let (a, b) = edges[pick.index(edges.len())];
            // b→a closes a cycle because a reaches b.
            let g = to_graph(&edges);
            let predicted = g.cycle_closed_by(agent(b), agent(a));
            prop_assert!(predicted.is_some());
            let mut with_back = edges.clone();
            with_back.push((b, a));
            prop_assert!(to_graph(&with_back).find_cycle().is_some());
        }

        #[test]
        fn cycle_prediction_agrees_with_reachability((_, edges) in random_dag(), from in 0u8..12, to in 0u8..12) {
            prop_assume!(from != to);
            let predicted = to_graph(&edges).cycle_closed_by(agent(from), agent(to));
            prop_assert_eq!(predicted.is_some(), reaches(&edges, to, from));
            if let Some(cycle) = predicted {
                prop_assert_eq!(cycle.agents.first(), Some(&agent(to)));
                prop_assert_eq!(cycle.agents.last(), Some(&agent(from)));
            }
        }
    }
}
