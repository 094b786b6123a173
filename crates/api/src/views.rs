//! Store records → wire bodies.

use kagami_core::{
    Flip, ManifestRecord, ManifestStatus, StakeAccount, StakeTier,
    crypto::Timestamp,
    manifest::status_at,
    verify::{SafeForward, Unsafe},
    wire::{
        AgentResponse, CommitmentResponse, FlipResponse, LedgerEntryResponse, LedgerResponse,
        ManifestResponse, ReceiptResponse, SettlementResponse, SlashResponse, StakeResponse,
        VerifyForwardResponse,
    },
};
use kagami_store::{
    Agent, Commitment, LedgerEntry, LedgerTotals, PayoutKind, ReceiptRecord, Settlement,
    SlashRecord,
};
use serde_json::Map;

pub(crate) fn agent(a: &Agent) -> AgentResponse {
    AgentResponse {
        agent_uuid: a.uuid.to_string(),
        agent_id: a.agent_id,
        chain: a.chain.to_string(),
        registry_address: a.registry_address.to_string(),
        owner_address: a.owner_address.to_string(),
        token_uri: a.token_uri.clone(),
        registration_file: a.registration_file.clone(),
        status: a.status.as_str().to_owned(),
        created_at: a.created_at.to_string(),
        updated_at: a.updated_at.to_string(),
    }
}

pub(crate) fn stake(s: &StakeAccount) -> StakeResponse {
    StakeResponse {
        staked_usdc: s.staked.to_string(),
        slashed_usdc: s.slashed.to_string(),
        locked_usdc: s.locked.to_string(),
        available_usdc: s.available().to_string(),
        tier: StakeTier::of(s.staked.saturating_sub(s.slashed)).map(|t| tier_name(t).to_owned()),
    }
}

const fn tier_name(t: StakeTier) -> &'static str {
    match t {
        StakeTier::Bronze => "bronze",
        StakeTier::Silver => "silver",
        StakeTier::Gold => "gold",
        StakeTier::Platinum => "platinum",
    }
}

pub(crate) fn manifest(m: &ManifestRecord, status: ManifestStatus) -> ManifestResponse {
    ManifestResponse {
        manifest_id: m.id.to_string(),
        manifest_hash: m.hash.to_string(),
        agent_uuid: m.agent.to_string(),
        chain: m.chain.to_string(),
        endpoint_uri: m.endpoint.to_string(),
        pubkey: m.pubkey.to_string(),
        nonce: m.nonce,
        valid_from: m.valid_from.to_string(),
        valid_until: m.valid_until.to_string(),
        signature: m.signature.to_string(),
        status: status.as_str().to_owned(),
        created_at: m.created_at.to_string(),
        revoked_at: m.revoked_at.map(|t| t.to_string()),
    }
}

/// A manifest among its agent's manifests, with the status computed at `now`.
pub(crate) fn manifest_among(
    m: &ManifestRecord,
    all: &[ManifestRecord],
    now: Timestamp,
) -> ManifestResponse {
    manifest(m, status_at(m, all, now))
}

pub(crate) const fn flip(f: &Flip) -> FlipResponse {
    FlipResponse {
        suspicion_score: f.suspicion_score,
        endpoint_changed: f.endpoint_changed,
        pubkey_changed: f.pubkey_changed,
        time_delta_seconds: f.time_delta_seconds,
    }
}

pub(crate) fn receipt(r: &ReceiptRecord) -> ReceiptResponse {
    let f = &r.receipt;
    ReceiptResponse {
        receipt_id: r.id.to_string(),
        receipt_hash: f.receipt_hash.to_string(),
        hop: f.hop,
        source_agent_uuid: f.source.to_string(),
        dest_agent_uuid: f.dest.to_string(),
        manifest_hash: f.manifest_hash.to_string(),
        next_hop_hash: f.next_hop.map(|h| h.to_string()),
        receipt_nonce: f.nonce,
        chain: f.chain.to_string(),
        signature: f.signature.to_string(),
        order_hash: f.order.map(|o| o.hash.to_string()),
        order_nonce: f.order.map(|o| o.nonce),
        order_signature: f.order.map(|o| o.signature.to_string()),
        amount_usdc: f.order.map(|o| o.amount.to_string()),
        is_valid: r.is_valid,
        invalidated_at: r.invalidated_at.map(|t| t.to_string()),
        invalidation_reason: r.invalidation_reason.map(|k| k.reason().to_owned()),
        hop_irrational: f.hop_irrational,
        computational_cost_usdc: f.computational_cost.to_string(),
        created_at: r.created_at.to_string(),
    }
}

pub(crate) fn settlement(s: &Settlement, slashes: &[SlashRecord]) -> SettlementResponse {
    SettlementResponse {
        settlement_id: s.id.to_string(),
        kind: s.kind.as_str().to_owned(),
        cycle_agents: s.cycle_agents.iter().map(ToString::to_string).collect(),
        cycle_depth: s.depth,
        liable_agents: s.liable.iter().map(ToString::to_string).collect(),
        total_slashed_usdc: s.total_slashed.to_string(),
        reporter_address: s.reporter.map(|r| r.to_string()),
        bounty_usdc: s.bounty.map(|b| b.to_string()),
        retained_usdc: s.retained().to_string(),
        status: s.status.as_str().to_owned(),
        created_at: s.created_at.to_string(),
        slashes: slashes
            .iter()
            .map(|x| SlashResponse {
                agent_uuid: x.agent.to_string(),
                amount_usdc: x.amount.to_string(),
                reason: x.reason.as_str().to_owned(),
            })
            .collect(),
    }
}

pub(crate) fn commitment(c: &Commitment) -> CommitmentResponse {
    let n = &c.commitment;
    CommitmentResponse {
        commitment_id: c.id.to_string(),
        commitment_hash: n.commitment_hash.to_string(),
        chain: n.chain.to_string(),
        root_tx_hash: n.root_tx.to_string(),
        payer_agent_uuid: n.cosigned.map(|s| s.payer.to_string()),
        first_hop_agent_uuid: n.first_hop_agent.to_string(),
        routing_hash: n.routing_hash.to_string(),
        first_hop_manifest_hash: n.cosigned.map(|s| s.first_hop_manifest.to_string()),
        payer_signature: n.cosigned.map(|s| s.payer_signature.to_string()),
        first_hop_signature: n.cosigned.map(|s| s.first_hop_signature.to_string()),
        disputed_by_manifest_hash: c.disputed_by.map(|h| h.to_string()),
        amount_usdc: n.amount.to_string(),
        time_lock_until: n.time_lock_until.to_string(),
        status: c.status.as_str().to_owned(),
        onchain_tx_hash: c.onchain_tx_hash.map(|h| h.to_string()),
    }
}

/// verify-forward's answer: where to pay when safe; the reason, its sentence and details when
/// not.
pub(crate) fn verdict(
    verdict: Result<SafeForward, Unsafe>,
    verified_at: Timestamp,
) -> VerifyForwardResponse {
    match verdict {
        Ok(SafeForward { manifest, hop }) => VerifyForwardResponse {
            safe: true,
            reason: None,
            message: None,
            manifest_hash: Some(manifest.hash.to_string()),
            manifest_nonce: Some(manifest.nonce),
            endpoint_uri: Some(manifest.endpoint.to_string()),
            pubkey: Some(manifest.pubkey.to_string()),
            hop: Some(hop),
            valid_until: Some(manifest.valid_until.to_string()),
            verified_at: verified_at.to_string(),
            details: Map::new(),
        },
        Err(unsafe_) => VerifyForwardResponse {
            safe: false,
            reason: Some(unsafe_.code()),
            message: Some(unsafe_.to_string()),
            manifest_hash: None,
            manifest_nonce: None,
            endpoint_uri: None,
            pubkey: None,
            hop: None,
            valid_until: None,
            verified_at: verified_at.to_string(),
            details: unsafe_.details(),
        },
    }
}

pub(crate) fn ledger(totals: &LedgerTotals, entries: &[LedgerEntry]) -> LedgerResponse {
    LedgerResponse {
        total_slashed_usdc: totals.slashed.to_string(),
        total_bounties_usdc: totals.bounties.to_string(),
        total_retained_usdc: totals.retained.to_string(),
        balanced: totals.balanced(),
        unbalanced_causes: totals
            .unbalanced
            .iter()
            .map(|c| format!("{}:{}", c.kind(), c.id()))
            .collect(),
        entries: entries.iter().map(ledger_entry).collect(),
    }
}

fn ledger_entry(entry: &LedgerEntry) -> LedgerEntryResponse {
    let (kind, cause, agent, reporter, amount, at) = match entry {
        LedgerEntry::Slash {
            agent,
            cause,
            amount,
            created_at,
            ..
        } => ("slash", cause, Some(agent), None, amount, created_at),
        LedgerEntry::Payout(p) => match &p.kind {
            PayoutKind::Bounty { reporter } => (
                "bounty",
                &p.cause,
                None,
                Some(reporter),
                &p.amount,
                &p.created_at,
            ),
            PayoutKind::Retained => ("retained", &p.cause, None, None, &p.amount, &p.created_at),
        },
    };
    LedgerEntryResponse {
        entry: kind.to_owned(),
        cause: cause.kind().to_owned(),
        cause_id: cause.id().to_string(),
        agent_uuid: agent.map(ToString::to_string),
        reporter_address: reporter.map(ToString::to_string),
        amount_usdc: amount.to_string(),
        created_at: at.to_string(),
    }
}
