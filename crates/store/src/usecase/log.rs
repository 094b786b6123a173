//! The audit log (docs/PROTOCOL.md §14): the entry every accepting use case writes in its own
//! transaction, the sequencer that integrates pending entries into the Merkle tree and signs a
//! checkpoint, and the reads that prove an entry present or the log's growth consistent.

use kagami_core::{
    ManifestRecord,
    crypto::{Hash32, Signature, Timestamp, Uuid},
};
use kagami_tlog::{
    Checkpoint, Hash, ProofBundle, SignedCheckpoint, SignerKey, append_batch_from_stored,
    append_batch_indexes, consistency_proof_from_stored, consistency_proof_indexes,
    inclusion_proof_from_stored, inclusion_proof_indexes, leaf_hash, stored_hash_count,
    tree_hash_from_stored, tree_hash_indexes,
};
use serde_json::{Value, json};

use crate::{
    Commitment, LogBundle, LogEntry, LogHead, LogInclusion, MevIncident, Payout, PayoutKind,
    ReceiptRecord, Result, Settlement, SlashRecord, StoreError, tx::Tx,
};

/// The version of the entry encoding (`"v"` of every entry).
const ENTRY_VERSION: u64 = 1;

/// An accepted object, as the log records it.
pub(crate) enum Entry<'a> {
    /// A published manifest.
    Manifest(&'a ManifestRecord),
    /// A manifest revoked by its owner's signature.
    Revocation {
        manifest: &'a ManifestRecord,
        signature: &'a Signature,
    },
    /// A recorded receipt and the order it acknowledges.
    Forward(&'a ReceiptRecord),
    /// A loop settled, with the reporter's signature when reported.
    Settlement {
        settlement: &'a Settlement,
        report_signature: Option<&'a Signature>,
        /// The receipts the loop invalidated.
        invalidated: &'a [Hash32],
    },
    /// A line of the ledger: a slash.
    Slash(&'a SlashRecord),
    /// A line of the ledger: a payout of slashed money.
    Payout(&'a Payout),
    /// A commitment accepted.
    Commitment(&'a Commitment),
    /// A commitment's new status.
    CommitmentStatus(&'a Commitment),
    /// An MEV incident.
    MevIncident(&'a MevIncident),
}

fn text<T: ToString>(value: Option<T>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::from("0x"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn cause(cause: crate::Cause) -> Value {
    json!({ "kind": cause.kind(), "id": cause.id().to_string() })
}

impl Entry<'_> {
    /// `(kind, key, body)`: the key finds the entry again ([`bundle`]).
    fn parts(&self) -> (&'static str, String, Value) {
        match self {
            Self::Manifest(m) => (
                "manifest",
                m.hash.to_string(),
                json!({
                    "manifest_hash": m.hash.to_string(),
                    "agent_uuid": m.agent.to_string(),
                    "chain": m.chain.to_string(),
                    "endpoint_uri": m.endpoint.to_string(),
                    "pubkey": m.pubkey.to_string(),
                    "nonce": m.nonce,
                    "valid_from": m.valid_from.to_string(),
                    "valid_until": m.valid_until.to_string(),
                    "signature": m.signature.to_string(),
                }),
            ),
            Self::Revocation {
                manifest,
                signature,
            } => (
                "revocation",
                manifest.hash.to_string(),
                json!({
                    "agent_uuid": manifest.agent.to_string(),
                    "manifest_hash": manifest.hash.to_string(),
                    "signature": signature.to_string(),
                }),
            ),
            Self::Forward(r) => {
                let x = &r.receipt;
                let order = x.order.map_or(Value::Null, |o| {
                    json!({
                        "order_hash": o.hash.to_string(),
                        "order_nonce": o.nonce,
                        "amount_usdc": o.amount.to_string(),
                        "signature": o.signature.to_string(),
                    })
                });
                (
                    "forward",
                    x.receipt_hash.to_string(),
                    json!({
                        "receipt_hash": x.receipt_hash.to_string(),
                        "chain": x.chain.to_string(),
                        "root_tx_hash": x.root_tx.to_string(),
                        "hop": x.hop,
                        "source_agent_uuid": x.source.to_string(),
                        "dest_agent_uuid": x.dest.to_string(),
                        "manifest_hash": x.manifest_hash.to_string(),
                        "next_hop_hash": text(x.next_hop),
                        "receipt_nonce": x.nonce,
                        "signature": x.signature.to_string(),
                        "order": order,
                        "invalidated_by": r.invalidation_reason.map(|k| k.reason()),
                    }),
                )
            }
            Self::Settlement {
                settlement: s,
                report_signature,
                invalidated,
            } => (
                "settlement",
                s.id.to_string(),
                json!({
                    "settlement_id": s.id.to_string(),
                    "root_tx_hash": s.root_tx.to_string(),
                    "kind": s.kind.as_str(),
                    "cycle_agents": s.cycle_agents.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                    "liable_agents": s.liable.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                    "closing_receipt_hash": text(s.closing_receipt),
                    "total_slashed": s.total_slashed.to_string(),
                    "reporter_address": text(s.reporter),
                    "report_signature": text(*report_signature),
                    "bounty": text(s.bounty),
                    "invalidated_receipts":
                        invalidated.iter().map(Hash32::to_string).collect::<Vec<_>>(),
                }),
            ),
            Self::Slash(s) => (
                "slash",
                s.id.to_string(),
                json!({
                    "slash_id": s.id.to_string(),
                    "agent_uuid": s.agent.to_string(),
                    "amount": s.amount.to_string(),
                    "reason": s.reason.as_str(),
                    "cause": cause(s.cause),
                }),
            ),
            Self::Payout(p) => {
                let (kind, reporter) = match p.kind {
                    PayoutKind::Bounty { reporter } => ("bounty", Some(reporter)),
                    PayoutKind::Retained => ("retained", None),
                };
                (
                    "payout",
                    p.id.to_string(),
                    json!({
                        "payout_id": p.id.to_string(),
                        "kind": kind,
                        "reporter_address": text(reporter),
                        "amount": p.amount.to_string(),
                        "cause": cause(p.cause),
                    }),
                )
            }
            Self::Commitment(c) => {
                let n = &c.commitment;
                let cosigned = n.cosigned.map_or(Value::Null, |s| {
                    json!({
                        "payer_agent_uuid": s.payer.to_string(),
                        "payer_signature": s.payer_signature.to_string(),
                        "first_hop_signature": s.first_hop_signature.to_string(),
                        "first_hop_manifest_hash": s.first_hop_manifest.to_string(),
                    })
                });
                (
                    "commitment",
                    c.id.to_string(),
                    json!({
                        "commitment_id": c.id.to_string(),
                        "commitment_hash": n.commitment_hash.to_string(),
                        "chain": n.chain.to_string(),
                        "root_tx_hash": n.root_tx.to_string(),
                        "first_hop_agent_uuid": n.first_hop_agent.to_string(),
                        "routing_hash": n.routing_hash.to_string(),
                        "amount_usdc": n.amount.to_string(),
                        "lock_until": n.time_lock_until.to_string(),
                        "cosigned": cosigned,
                    }),
                )
            }
            Self::CommitmentStatus(c) => (
                "commitment_status",
                format!("{}:{}", c.id, c.status.as_str()),
                json!({
                    "commitment_id": c.id.to_string(),
                    "status": c.status.as_str(),
                    "onchain_tx_hash": text(c.onchain_tx_hash),
                    "disputed_by_manifest_hash": text(c.disputed_by),
                }),
            ),
            Self::MevIncident(i) => {
                let n = &i.incident;
                (
                    "mev_incident",
                    i.id.to_string(),
                    json!({
                        "incident_id": i.id.to_string(),
                        "root_tx_hash": n.root_tx.to_string(),
                        "attack_type": n.attack_type.as_str(),
                        "attacker_agent_uuid": n.attacker.to_string(),
                        "victim_agent_uuid": text(n.victim),
                        "extracted_value": n.extracted_value.to_string(),
                        "block_number": n.block_number,
                        "tx_index": n.tx_index,
                        "evidence_hash": n.evidence_hash.to_string(),
                        "attack_tx": hex(&n.attack_tx.raw),
                        "slashed_amount": i.slashed_amount.to_string(),
                    }),
                )
            }
        }
    }
}

/// Writes `entry` as a pending log entry, in the caller's transaction: committed with the
/// object it records, or not at all.
pub(crate) async fn append<T: Tx>(tx: &T, entry: Entry<'_>, now: Timestamp) -> Result<()> {
    let (kind, key, body) = entry.parts();
    let document = json!({
        "v": ENTRY_VERSION,
        "kind": kind,
        "key": key,
        "accepted_at": now.to_string(),
        "body": body,
    });
    let bytes = serde_json::to_vec(&document).map_err(StoreError::internal)?;
    tx.insert_log_entry(&LogEntry {
        index: None,
        kind: kind.to_owned(),
        key,
        leaf_hash: leaf_hash(&bytes),
        entry: bytes,
        created_at: now,
    })
    .await
}

/// The most entries one sequencer run integrates.
pub(crate) const MAX_BATCH: u32 = 10_000;

/// Integrates at most `max` pending entries (oldest first) into the tree, stores its new
/// hashes and a checkpoint signed with `signer` (origin: the key's name). Writes the empty
/// tree's checkpoint on the first run. Returns the newest checkpoint, or `None` when another
/// sequencer holds the lock.
pub(crate) async fn integrate<T: Tx>(
    tx: &T,
    signer: SignerKey,
    max: u32,
    now: Timestamp,
) -> Result<Option<LogHead>> {
    if !tx.try_lock_log().await? {
        return Ok(None);
    }
    let head = tx.log_head().await?;
    let pending = tx.pending_log_entries(max.clamp(1, MAX_BATCH)).await?;
    if pending.is_empty()
        && let Some(head) = head
    {
        return Ok(Some(head));
    }
    let size = head.map_or(0, |h| h.size);
    let proof = |e: kagami_tlog::ProofError| StoreError::internal(e);
    let frontier = tx
        .log_hashes(&append_batch_indexes(size).map_err(proof)?)
        .await?;
    let leaves: Vec<Hash> = pending.iter().map(|(_, leaf)| *leaf).collect();
    let written = append_batch_from_stored(size, &leaves, &frontier).map_err(proof)?;
    tx.insert_log_hashes(stored_hash_count(size), &written)
        .await?;
    let seqs: Vec<i64> = pending.iter().map(|(seq, _)| *seq).collect();
    tx.set_log_indexes(&seqs, size, now).await?;
    let new_size = size + leaves.len() as u64;
    let root = tree_hash_from_stored(
        new_size,
        &tx.log_hashes(&tree_hash_indexes(new_size).map_err(proof)?)
            .await?,
    )
    .map_err(proof)?;
    let checkpoint = Checkpoint::new(signer.name(), new_size, root)
        .map_err(StoreError::internal)?
        .sign(&signer);
    let head = LogHead {
        size: new_size,
        root,
        checkpoint: checkpoint.to_string(),
    };
    tx.insert_checkpoint(&head, now).await?;
    Ok(Some(head))
}

/// The newest checkpoint.
pub(crate) async fn head<T: Tx>(tx: &T) -> Result<Option<LogHead>> {
    tx.log_head().await
}

/// The integrated entries with indexes in `[start, end)` (the caller bounds the range).
pub(crate) async fn entries<T: Tx>(tx: &T, start: u64, end: u64) -> Result<Vec<LogEntry>> {
    tx.log_entries(start, end).await
}

/// The entry with this leaf hash and its inclusion proof in the tree of `tree_size` entries
/// (the newest checkpoint's when `None`); `None` when no integrated entry in that tree has
/// this leaf hash.
pub(crate) async fn inclusion<T: Tx>(
    tx: &T,
    leaf: Hash,
    tree_size: Option<u64>,
) -> Result<Option<LogInclusion>> {
    let Some(head) = tx.log_head().await? else {
        return Ok(None);
    };
    let size = tree_size.unwrap_or(head.size);
    if size > head.size {
        return Ok(None);
    }
    let Some(entry) = tx.log_entry_by_leaf(&leaf).await? else {
        return Ok(None);
    };
    let Some(index) = entry.index.filter(|&i| i < size) else {
        return Ok(None);
    };
    let proof = prove(tx, size, index).await?;
    Ok(Some(LogInclusion {
        entry,
        tree_size: size,
        proof,
    }))
}

async fn prove<T: Tx>(tx: &T, size: u64, index: u64) -> Result<Vec<Hash>> {
    let stored = tx
        .log_hashes(&inclusion_proof_indexes(size, index).map_err(StoreError::internal)?)
        .await?;
    inclusion_proof_from_stored(size, index, &stored).map_err(StoreError::internal)
}

/// The consistency proof from the tree of `from` entries to the tree of `to` entries;
/// `None` when `to` exceeds the newest checkpoint or `from > to`.
pub(crate) async fn consistency<T: Tx>(tx: &T, from: u64, to: u64) -> Result<Option<Vec<Hash>>> {
    let size = tx.log_head().await?.map_or(0, |h| h.size);
    if from > to || to > size {
        return Ok(None);
    }
    let stored = tx
        .log_hashes(&consistency_proof_indexes(from, to).map_err(StoreError::internal)?)
        .await?;
    consistency_proof_from_stored(from, to, &stored)
        .map(Some)
        .map_err(StoreError::internal)
}

/// The first entry recording the object `key` of `kind`, with an offline proof bundle
/// against the newest checkpoint once it is integrated.
pub(crate) async fn bundle<T: Tx>(tx: &T, kind: String, key: String) -> Result<Option<LogBundle>> {
    let Some(entry) = tx.log_entry_of(&kind, &key).await? else {
        return Ok(None);
    };
    let head = tx.log_head().await?;
    let (Some(index), Some(head)) = (entry.index, head) else {
        return Ok(Some(LogBundle {
            entry,
            bundle: None,
        }));
    };
    let bundle = if index < head.size {
        Some(ProofBundle {
            extra: Some(entry.entry.clone()),
            index,
            proof: prove(tx, head.size, index).await?,
            checkpoint: SignedCheckpoint::parse(&head.checkpoint).map_err(StoreError::internal)?,
        })
    } else {
        None
    };
    Ok(Some(LogBundle { entry, bundle }))
}

/// Benchmarks only (feature `bench`): `count` synthetic ledger-line entries appended through
/// [`append`] (encoding, leaf hash, `INSERT`) in one write transaction — the log's part of
/// every write path, without the object it would record.
#[cfg(feature = "bench")]
#[derive(Debug, Clone)]
pub(crate) struct BenchAppend {
    pub(crate) count: u32,
    pub(crate) now: Timestamp,
}

#[cfg(feature = "bench")]
impl super::UseCase for BenchAppend {
    type Output = ();
    const ACCESS: super::Access = super::Access::Write;

    async fn run<T: Tx>(self, tx: &T) -> Result<()> {
        for _ in 0..self.count {
            let payout = Payout {
                id: Uuid::new_v4(),
                kind: PayoutKind::Retained,
                cause: crate::Cause::Settlement(Uuid::new_v4()),
                amount: kagami_core::Usdc::from_micros(1).map_err(StoreError::internal)?,
                created_at: self.now,
            };
            append(tx, Entry::Payout(&payout), self.now).await?;
        }
        Ok(())
    }
}

#[cfg(feature = "bench")]
impl crate::Store {
    /// Benchmarks only: appends `count` synthetic entries through the real log path in one
    /// transaction.
    ///
    /// # Errors
    /// As any write.
    pub async fn bench_append_log(&self, count: u32, now: Timestamp) -> Result<()> {
        self.run(BenchAppend { count, now }).await
    }
}
