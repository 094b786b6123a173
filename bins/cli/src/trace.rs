//! `kagami trace`: a payment's forward graph as a tree.
//!
//! Each receipt is a node under the receipt that paid its source one hop earlier; the
//! next-hop commitment of the parent is checked against the child locally (the commitment
//! is the id of `Kagami next hop v1` naming the child's destination).

use std::{collections::HashMap, fmt::Write};

use kagami_client::{next_hop_hash, wire::ForwardTrailResponse, wire::ReceiptResponse};
use kagami_crypto::{Hash32, parse_uuid};

/// Where a receipt stands in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logged {
    /// Integrated, at this index.
    At(u64),
    /// Accepted, waiting for the sequencer.
    Pending,
}

/// Renders `trail` for a terminal.
#[cfg(test)]
pub(crate) fn render(trail: &ForwardTrailResponse) -> String {
    render_with_log(trail, &HashMap::new())
}

/// Renders `trail` for a terminal, with each receipt's place in the audit log where `log`
/// knows it (by receipt hash).
pub(crate) fn render_with_log(
    trail: &ForwardTrailResponse,
    log: &HashMap<String, Logged>,
) -> String {
    let mut out = String::new();
    let receipts = &trail.receipts;
    let valid = receipts.iter().filter(|r| r.is_valid).count();
    let _ = writeln!(
        out,
        "payment {} — {} receipt{}, {} valid{}",
        trail.root_tx_hash,
        receipts.len(),
        if receipts.len() == 1 { "" } else { "s" },
        valid,
        if trail.settlement.is_some() {
            ", settled"
        } else {
            ""
        }
    );
    if receipts.is_empty() {
        out.push_str("└─ no forwards recorded\n");
    }

    let mut order: Vec<usize> = (0..receipts.len()).collect();
    order.sort_by(|&a, &b| {
        (receipts[a].hop, &receipts[a].created_at).cmp(&(receipts[b].hop, &receipts[b].created_at))
    });
    // Each receipt hangs under the first receipt (in hop order) that paid its source one hop
    // earlier; receipts without such a parent are roots.
    let parent: Vec<Option<usize>> = (0..receipts.len())
        .map(|i| {
            let r = &receipts[i];
            order.iter().copied().find(|&p| {
                let q = &receipts[p];
                r.hop > 0 && q.hop + 1 == r.hop && q.dest_agent_uuid == r.source_agent_uuid
            })
        })
        .collect();
    let children = |of: Option<usize>| -> Vec<usize> {
        order.iter().copied().filter(|&i| parent[i] == of).collect()
    };
    let roots = children(None);
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    for (n, &root) in roots.iter().enumerate().rev() {
        stack.push((root, String::new(), n + 1 == roots.len()));
    }
    while let Some((node, prefix, last)) = stack.pop() {
        let receipt = &receipts[node];
        let kids = children(Some(node));
        let branch = if last { "└─ " } else { "├─ " };
        let _ = writeln!(
            out,
            "{prefix}{branch}{}",
            headline(
                receipt,
                parent[node].map(|p| &receipts[p]),
                &trail.root_tx_hash
            )
        );
        let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
        let detail_prefix = format!(
            "{child_prefix}{}",
            if kids.is_empty() { "   " } else { "│  " }
        );
        for line in details(receipt, log.get(&receipt.receipt_hash)) {
            let _ = writeln!(out, "{detail_prefix}{line}");
        }
        for (n, &kid) in kids.iter().enumerate().rev() {
            stack.push((kid, child_prefix.clone(), n + 1 == kids.len()));
        }
    }

    if let Some(settlement) = &trail.settlement {
        // Only the liable agents are slashed, not every agent of the loop.
        let mut slashed: Vec<&str> = settlement
            .slashes
            .iter()
            .map(|s| s.agent_uuid.as_str())
            .collect();
        slashed.sort_unstable();
        slashed.dedup();
        let _ = writeln!(
            out,
            "settlement {} ({}, {}): {} USDC slashed from {} agent{}",
            settlement.settlement_id,
            settlement.kind,
            settlement.status,
            settlement.total_slashed_usdc,
            slashed.len(),
            if slashed.len() == 1 { "" } else { "s" }
        );
        if !settlement.cycle_agents.is_empty() {
            let mut path = settlement.cycle_agents.join(" → ");
            if settlement.kind == "cycle" {
                let _ = write!(path, " → {}", settlement.cycle_agents[0]);
            }
            let _ = writeln!(out, "   path: {path}");
        }
        if !settlement.liable_agents.is_empty() {
            let _ = writeln!(out, "   liable: {}", settlement.liable_agents.join(", "));
        }
        for slash in &settlement.slashes {
            let _ = writeln!(
                out,
                "   slashed {} {} USDC ({})",
                slash.agent_uuid, slash.amount_usdc, slash.reason
            );
        }
        if let (Some(reporter), Some(bounty)) =
            (&settlement.reporter_address, &settlement.bounty_usdc)
        {
            let _ = writeln!(out, "   reported by {reporter}, bounty {bounty} USDC");
        }
        let _ = writeln!(out, "   retained {} USDC", settlement.retained_usdc);
    }
    out
}

/// `hop 1  A → B  valid  (as committed)`.
fn headline(receipt: &ReceiptResponse, parent: Option<&ReceiptResponse>, root: &str) -> String {
    let mut line = format!(
        "hop {}  {} → {}  ",
        receipt.hop, receipt.source_agent_uuid, receipt.dest_agent_uuid
    );
    if receipt.is_valid {
        line.push_str("valid");
    } else {
        let _ = write!(
            line,
            "INVALID ({})",
            receipt
                .invalidation_reason
                .as_deref()
                .unwrap_or("no reason given")
        );
    }
    if receipt.hop_irrational {
        line.push_str("  irrational hop");
    }
    match parent.map(|p| commitment(p, receipt, root)) {
        Some(Commitment::Kept) => line.push_str("  (as committed)"),
        Some(Commitment::Broken) => line.push_str("  (NOT where the previous hop committed)"),
        Some(Commitment::AfterTerminal) => {
            line.push_str("  (forwarded after committing to none)");
        }
        Some(Commitment::Unknown) | None => {}
    }
    line
}

fn details(receipt: &ReceiptResponse, logged: Option<&Logged>) -> Vec<String> {
    let next = match &receipt.next_hop_hash {
        Some(hash) => format!("next hop {hash}"),
        None => "next hop none (terminal)".to_owned(),
    };
    let mut lines = Vec::with_capacity(4);
    match (&receipt.order_hash, &receipt.amount_usdc) {
        (Some(order), amount) => lines.push(format!(
            "order {order}  {} USDC{}",
            amount.as_deref().unwrap_or("?"),
            receipt
                .order_nonce
                .map(|n| format!("  nonce {n}"))
                .unwrap_or_default()
        )),
        (None, _) => lines.push("no order (receipt v1: evidence only, not a hop)".to_owned()),
    }
    lines.push(format!(
        "receipt {}  nonce {}  cost {} USDC",
        receipt.receipt_hash, receipt.receipt_nonce, receipt.computational_cost_usdc
    ));
    lines.push(format!("manifest {}  {next}", receipt.manifest_hash));
    if let Some(at) = &receipt.invalidated_at {
        lines.push(format!("invalidated at {at}"));
    }
    match logged {
        Some(Logged::At(index)) => lines.push(format!("audit log entry {index}")),
        Some(Logged::Pending) => lines.push("audit log: pending integration".to_owned()),
        None => {}
    }
    lines
}

enum Commitment {
    Kept,
    Broken,
    AfterTerminal,
    Unknown,
}

/// Whether `child` goes where `parent` committed.
fn commitment(parent: &ReceiptResponse, child: &ReceiptResponse, root: &str) -> Commitment {
    let Some(committed) = &parent.next_hop_hash else {
        return Commitment::AfterTerminal;
    };
    let (Ok(root), Ok(to), Ok(committed)) = (
        root.parse::<Hash32>(),
        parse_uuid(&child.dest_agent_uuid),
        committed.parse::<Hash32>(),
    ) else {
        return Commitment::Unknown;
    };
    if next_hop_hash(root, to) == committed {
        Commitment::Kept
    } else {
        Commitment::Broken
    }
}

#[cfg(test)]
mod tests {
    use kagami_client::wire::{SettlementResponse, SlashResponse};
    use kagami_crypto::Uuid;

    use super::*;

    const ROOT: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

    fn agent(n: u128) -> String {
        Uuid::from_u128(n).to_string()
    }

    fn receipt(hop: u32, from: u128, to: u128, next: Option<u128>, valid: bool) -> ReceiptResponse {
        let root: Hash32 = ROOT.parse().unwrap();
        ReceiptResponse {
            receipt_id: format!("r{hop}"),
            receipt_hash: format!("0x{:064x}", u128::from(hop) + 0xa0),
            hop,
            source_agent_uuid: agent(from),
            dest_agent_uuid: agent(to),
            manifest_hash: format!("0x{:064x}", to),
            next_hop_hash: next.map(|n| next_hop_hash(root, Uuid::from_u128(n)).to_string()),
            receipt_nonce: u64::from(hop),
            chain: "base".into(),
            signature: String::new(),
            order_hash: Some(format!("0x{:064x}", u128::from(hop) + 0xb0)),
            order_nonce: Some(7),
            order_signature: Some(String::new()),
            amount_usdc: Some("1.500000".into()),
            is_valid: valid,
            invalidated_at: None,
            invalidation_reason: (!valid).then(|| "cycle_detected".to_owned()),
            hop_irrational: false,
            computational_cost_usdc: "0.010000".into(),
            created_at: format!("2026-01-16T00:00:0{hop}Z"),
        }
    }

    #[test]
    fn a_cycle_renders_as_a_chain_with_commitments_and_the_settlement() {
        let trail = ForwardTrailResponse {
            root_tx_hash: ROOT.into(),
            receipts: vec![
                receipt(2, 3, 1, None, false),
                receipt(0, 1, 2, Some(3), false),
                receipt(1, 2, 3, Some(1), false),
            ],
            settlement: Some(SettlementResponse {
                settlement_id: "s1".into(),
                kind: "cycle".into(),
                cycle_agents: vec![agent(1), agent(2), agent(3)],
                cycle_depth: 3,
                liable_agents: vec![agent(1)],
                total_slashed_usdc: "300.000000".into(),
                reporter_address: None,
                bounty_usdc: None,
                retained_usdc: "300.000000".into(),
                status: "provisional".into(),
                created_at: "2026-01-16T00:00:03Z".into(),
                slashes: vec![SlashResponse {
                    agent_uuid: agent(1),
                    amount_usdc: "100.000000".into(),
                    reason: "cycle_detected".into(),
                }],
            }),
        };
        let text = render(&trail);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("3 receipts, 0 valid, settled"), "{text}");
        assert!(lines[1].starts_with("└─ hop 0"), "{text}");
        assert!(text.contains("   └─ hop 1"), "{text}");
        assert!(text.contains("      └─ hop 2"), "{text}");
        assert_eq!(text.matches("(as committed)").count(), 2, "{text}");
        assert!(text.contains("INVALID (cycle_detected)"), "{text}");
        assert!(
            text.contains(&format!("order 0x{:064x}  1.500000 USDC  nonce 7", 0xb0)),
            "{text}"
        );
        assert!(text.contains(&format!("liable: {}", agent(1))), "{text}");
        assert!(text.contains("retained 300.000000 USDC"), "{text}");
        assert!(
            text.contains(
                "settlement s1 (cycle, provisional): 300.000000 USDC slashed from 1 agent\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "path: {} → {} → {} → {}",
                agent(1),
                agent(2),
                agent(3),
                agent(1)
            )),
            "{text}"
        );
    }

    #[test]
    fn broken_commitments_and_forwards_after_none_are_flagged() {
        let trail = ForwardTrailResponse {
            root_tx_hash: ROOT.into(),
            receipts: vec![
                receipt(0, 1, 2, Some(9), true),
                receipt(1, 2, 3, None, true),
                receipt(2, 3, 4, None, true),
            ],
            settlement: None,
        };
        let text = render(&trail);
        assert!(
            text.contains("NOT where the previous hop committed"),
            "{text}"
        );
        assert!(
            text.contains("forwarded after committing to none"),
            "{text}"
        );
        assert!(!text.contains("settlement"), "{text}");
        assert!(!text.contains("no order"), "{text}");
    }

    #[test]
    fn an_empty_trail_says_so() {
        let text = render(&ForwardTrailResponse {
            root_tx_hash: ROOT.into(),
            receipts: vec![],
            settlement: None,
        });
        assert!(text.contains("0 receipts") && text.contains("no forwards recorded"));
    }
}
