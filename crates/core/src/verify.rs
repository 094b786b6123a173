//! verify-forward: would paying an agent now, as part of a root payment, be safe? A pure
//! decision over the facts the store loaded.

use kagami_crypto::{CanonicalMessage, EthAddress, Hash32, Signable, Signature, Timestamp, Uuid};
use serde_json::{Map, Value, json};

use crate::{
    AgentStatus, Edge, ForwardGraph, ForwardViolation, ManifestRecord, ManifestStatus, Policy,
    ProposedForward, StakeAccount, Usdc, manifest::status_at, wire::ErrorCode,
};

/// The question: may `source` pay `dest` on `root`, given the destination manifest it was
/// shown (hash, nonce and owner signature)?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardQuery {
    /// The root transaction of the payment.
    pub root: Hash32,
    /// The agent about to pay.
    pub source: Uuid,
    /// The agent about to be paid.
    pub dest: Uuid,
    /// The destination's manifest the source was shown.
    pub manifest: Hash32,
    /// Its nonce, as shown.
    pub nonce: u64,
    /// Its owner signature, as shown.
    pub signature: Signature,
}

/// A loop already settled on the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledLoop {
    /// The settlement's id.
    pub settlement_id: Uuid,
    /// The loop's agents.
    pub agents: Vec<Uuid>,
    /// Their number.
    pub depth: u32,
}

/// What the store knows, loaded for [`verify_forward`].
#[derive(Debug, Clone, Copy)]
pub struct ForwardFacts<'a> {
    /// The destination's status and owner, if it is registered.
    pub dest: Option<(AgentStatus, EthAddress)>,
    /// Whether the source is registered.
    pub source_known: bool,
    /// The destination's manifests.
    pub manifests: &'a [ManifestRecord],
    /// The root's settlement, if any.
    pub settlement: Option<&'a SettledLoop>,
    /// The root's valid forwards.
    pub edges: &'a [Edge],
    /// The ids of the root's invalidated receipts.
    pub invalid_receipts: &'a [Hash32],
    /// The destination's stake, its locks on this root left out.
    pub stake: StakeAccount,
}

/// A safe forward: where to pay, and at which hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeForward {
    /// The destination's manifest, in force now.
    pub manifest: ManifestRecord,
    /// The hop this forward would be.
    pub hop: u32,
}

/// Why a forward is not safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    /// The destination or the source is not registered.
    #[error("{role} agent not found")]
    AgentNotFound {
        /// `destination` or `source`.
        role: &'static str,
        /// The agent.
        agent: Uuid,
    },
    /// The destination is suspended or revoked.
    #[error("destination agent is {}", status.as_str())]
    AgentSuspended {
        /// The destination.
        agent: Uuid,
        /// Its status.
        status: AgentStatus,
    },
    /// The destination has no manifest with this hash.
    #[error("the destination has no manifest with this hash")]
    ManifestNotFound,
    /// The nonce or signature shown is not the destination owner's signed manifest.
    #[error(
        "the manifest nonce or signature does not match the destination owner's signed manifest"
    )]
    NotGenuine {
        /// The manifest.
        manifest: Hash32,
    },
    /// The manifest is not in force now.
    #[error("the manifest is {}", status.as_str())]
    ManifestNotEffective {
        /// The manifest.
        manifest: Hash32,
        /// Its status now.
        status: ManifestStatus,
    },
    /// The root was settled after a loop.
    #[error("this root transaction was settled after a loop; no further forwards are safe")]
    AlreadySettled {
        /// The settlement.
        settled: SettledLoop,
        /// The receipts it invalidated.
        invalid_receipts: Vec<Hash32>,
    },
    /// A forward rule refuses it.
    #[error("{violation}")]
    Forward {
        /// The rule.
        violation: ForwardViolation,
        /// The hop this forward would have been.
        hop: u32,
    },
    /// The destination cannot back the hop with stake.
    #[error("the destination has too little available stake to back this hop")]
    InsufficientStake {
        /// Its available stake.
        available: Usdc,
        /// The policy's minimum per hop.
        required: Usdc,
    },
}

impl Unsafe {
    /// The verdict's stable reason code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::AgentNotFound { .. } => ErrorCode::AgentNotFound,
            Self::AgentSuspended { .. } => ErrorCode::AgentSuspended,
            Self::ManifestNotFound => ErrorCode::ManifestNotFound,
            Self::NotGenuine { .. } => ErrorCode::InvalidSignature,
            Self::ManifestNotEffective { .. } => ErrorCode::ManifestNotEffective,
            Self::AlreadySettled { .. } => ErrorCode::AlreadySettled,
            Self::Forward { violation, .. } => violation.code(),
            Self::InsufficientStake { .. } => ErrorCode::InsufficientStake,
        }
    }

    /// The verdict's details as wire fields.
    pub fn details(&self) -> Map<String, Value> {
        let uuids = |agents: &[Uuid]| agents.iter().map(ToString::to_string).collect::<Vec<_>>();
        let details = match self {
            Self::AgentNotFound { agent, .. } => json!({ "agent_uuid": agent.to_string() }),
            Self::AgentSuspended { agent, status } => {
                json!({ "agent_uuid": agent.to_string(), "agent_status": status.as_str() })
            }
            Self::ManifestNotFound => json!({}),
            Self::NotGenuine { manifest } => json!({ "manifest_hash": manifest.to_string() }),
            Self::ManifestNotEffective { manifest, status } => {
                json!({ "manifest_status": status.as_str(), "manifest_hash": manifest.to_string() })
            }
            Self::AlreadySettled {
                settled,
                invalid_receipts,
            } => json!({
                "settlement_id": settled.settlement_id.to_string(),
                "cycle_agents": uuids(&settled.agents),
                "cycle_depth": settled.depth,
                "invalid_receipts": invalid_receipts.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
            Self::Forward { violation, hop } => {
                let mut details = violation.details();
                if matches!(violation, ForwardViolation::WouldCreateCycle(_)) {
                    details.insert("hop".into(), json!(hop));
                }
                return details;
            }
            Self::InsufficientStake {
                available,
                required,
            } => json!({
                "available_usdc": available.to_string(),
                "required_usdc": required.to_string(),
            }),
        };
        match details {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// Decides whether `query` is safe, in this order: both agents registered, destination
/// active, the manifest is the destination's, genuine (the stored, owner-verified manifest
/// with the same nonce and signature, or a signature by the owner over it), in force now, the
/// root not settled, the forward rules of [`ForwardGraph::check_forward`] at the hop after
/// the source's incoming hop, and the destination's available stake covers a hop.
///
/// # Errors
/// The first [`Unsafe`] reason found.
pub fn verify_forward(
    query: &ForwardQuery,
    facts: &ForwardFacts<'_>,
    now: Timestamp,
    policy: &Policy,
) -> Result<SafeForward, Unsafe> {
    let Some((dest_status, owner)) = facts.dest else {
        return Err(Unsafe::AgentNotFound {
            role: "destination",
            agent: query.dest,
        });
    };
    if !facts.source_known {
        return Err(Unsafe::AgentNotFound {
            role: "source",
            agent: query.source,
        });
    }
    if dest_status != AgentStatus::Active {
        return Err(Unsafe::AgentSuspended {
            agent: query.dest,
            status: dest_status,
        });
    }
    let manifest = facts
        .manifests
        .iter()
        .find(|m| m.hash == query.manifest && m.agent == query.dest)
        .ok_or(Unsafe::ManifestNotFound)?;
    if !is_genuine(manifest, query, &owner) {
        return Err(Unsafe::NotGenuine {
            manifest: query.manifest,
        });
    }
    let status = status_at(manifest, facts.manifests, now);
    if status != ManifestStatus::Active {
        return Err(Unsafe::ManifestNotEffective {
            manifest: query.manifest,
            status,
        });
    }
    if let Some(settled) = facts.settlement {
        return Err(Unsafe::AlreadySettled {
            settled: settled.clone(),
            invalid_receipts: facts.invalid_receipts.to_vec(),
        });
    }
    let hop = facts
        .edges
        .iter()
        .filter(|e| e.to == query.source)
        .map(|e| e.hop + 1)
        .max()
        .unwrap_or(0);
    let graph = ForwardGraph::new(query.root, facts.edges.to_vec());
    graph
        .check_forward(
            ProposedForward {
                from: query.source,
                to: query.dest,
                hop,
            },
            policy,
        )
        .map_err(|violation| Unsafe::Forward { violation, hop })?;
    let available = facts.stake.available();
    if available < policy.min_stake_per_hop {
        return Err(Unsafe::InsufficientStake {
            available,
            required: policy.min_stake_per_hop,
        });
    }
    Ok(SafeForward {
        manifest: manifest.clone(),
        hop,
    })
}

/// The manifest shown is the stored one: the stored record's owner signature was verified
/// when it was published, so the same nonce and signature are genuine without another
/// recovery; a different (still valid) signature by the owner over the same fields is
/// verified.
fn is_genuine(manifest: &ManifestRecord, query: &ForwardQuery, owner: &EthAddress) -> bool {
    if manifest.nonce != query.nonce {
        return false;
    }
    if manifest.signature == query.signature {
        return true;
    }
    let message: CanonicalMessage = manifest.to_message_fields().message();
    message.verify(&query.signature, owner).is_ok()
}
