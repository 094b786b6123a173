//! Store errors, classified once at each backend's boundary (`classify.rs`): the rest of the
//! code sees typed kinds only, never driver errors or constraint names.

use kagami_core::{
    AgentStatus, CommitmentStateError, ManifestStatus, PublishError, RecordRejection,
    StakeBelowSlashed,
    crypto::{Chain, Uuid},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(Entity),
    /// A uniqueness rule refused the write.
    #[error("conflict: {0}")]
    Conflict(ConflictKind),
    /// A domain rule refused the write; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The database stayed busy after the store's retries (deadlocks, serialization
    /// failures, lock or statement timeouts). The API answers 503 `store_busy`.
    #[error("store busy")]
    Busy(#[source] BoxError),
    /// The database cannot be reached (pool timeout, connection refused, shutdown). The API
    /// answers 503 `store_unavailable`.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else; the driver error is the source.
    #[error("store error")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Wraps an unexpected error.
    pub fn internal(e: impl Into<BoxError>) -> Self {
        Self::Internal(e.into())
    }

    /// Wraps a connectivity error.
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        Self::Unavailable(e.into())
    }

    /// Wraps a contention error (retried by the store before it is returned).
    pub fn busy(e: impl Into<BoxError>) -> Self {
        Self::Busy(e.into())
    }
}

/// The kinds of rows a store operation can miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// An agent.
    Agent,
    /// A manifest.
    Manifest,
    /// A commitment.
    Commitment,
    /// An API key.
    ApiKey,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Agent => "agent",
            Self::Manifest => "manifest",
            Self::Commitment => "commitment",
            Self::ApiKey => "api key",
        })
    }
}

/// The uniqueness rules of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// (chain, registry, agent id) is already registered.
    AgentRegistered,
    /// The agent already used this manifest nonce.
    ManifestNonce,
    /// A manifest with this hash exists.
    ManifestHash,
    /// A receipt with this hash exists.
    ReceiptHash,
    /// The destination already used this receipt nonce.
    ReceiptNonce,
    /// The order is already recorded (with another receipt).
    Order,
    /// The payer already used this order nonce.
    OrderNonce,
    /// An MEV incident for this attack transaction is recorded.
    MevAttack,
    /// The root transaction already has a commitment.
    CommitmentRoot,
    /// The root transaction already has a settlement.
    SettlementRoot,
    /// The API key exists.
    ApiKey,
    /// A uniqueness rule the store does not name (a primary-key collision).
    Other,
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AgentRegistered => "agent already registered",
            Self::ManifestNonce => "manifest nonce used",
            Self::ManifestHash => "manifest exists",
            Self::ReceiptHash => "receipt exists",
            Self::ReceiptNonce => "receipt nonce used",
            Self::Order => "order recorded",
            Self::OrderNonce => "order nonce used",
            Self::MevAttack => "incident recorded",
            Self::CommitmentRoot => "root transaction has a commitment",
            Self::SettlementRoot => "root transaction settled",
            Self::ApiKey => "api key exists",
            Self::Other => "unique rule",
        })
    }
}

/// A domain rule's refusal, raised inside a store transaction; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Manifest publication rules.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Receipt recording rules.
    #[error(transparent)]
    Record(#[from] RecordRejection),
    /// A signature by another key than the ones allowed to sign for the agent.
    #[error("{object} signature rejected: {source}")]
    Signature {
        /// What was signed: `manifest`, `receipt`, `revocation`, `cycle report`.
        object: &'static str,
        /// Why.
        source: kagami_core::crypto::Error,
    },
    /// The object names another chain than the agent's.
    #[error("the agent is registered on {expected}")]
    ChainMismatch {
        /// The agent's chain.
        expected: Chain,
    },
    /// Publishing needs an active agent.
    #[error("agent is {}", status.as_str())]
    AgentNotActive {
        /// Its status.
        status: AgentStatus,
    },
    /// Receiving a forward needs an active destination.
    #[error("the destination agent is {}", status.as_str())]
    DestinationNotActive {
        /// Its status.
        status: AgentStatus,
    },
    /// The receipt cites a manifest the store does not know.
    #[error("the cited manifest does not exist")]
    CitedManifestUnknown,
    /// The receipt cites a manifest of another agent.
    #[error("the cited manifest belongs to another agent")]
    ManifestNotDestinations,
    /// The receipt cites a manifest that is not in force now.
    #[error("the cited manifest is {}", status.as_str())]
    ManifestNotEffective {
        /// Its status now.
        status: ManifestStatus,
    },
    /// The root transaction is already settled.
    #[error("root transaction already settled by {settlement_id}")]
    AlreadySettled {
        /// The existing settlement.
        settlement_id: Uuid,
    },
    /// The reported receipts contain no cycle or extraction loop.
    #[error("the recorded receipts and the evidence contain no cycle or extraction loop")]
    NoLoop,
    /// A report-cycle evidence item failed the checks a receipt must pass.
    #[error("evidence item {index}: {reason}")]
    InvalidEvidence {
        /// The item's position in the report.
        index: usize,
        /// The offending field of the item.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A commitment's time lock is over, or longer than the policy allows.
    #[error("lock_until must be after {now} and at most {max_seconds} s later")]
    LockUntilOutOfRange {
        /// The time the commitment arrived.
        now: kagami_core::crypto::Timestamp,
        /// The policy's longest lock.
        max_seconds: i64,
    },
    /// A commitment's first hop has no manifest in force: no routing to hold.
    #[error("the first-hop agent has no manifest in force")]
    FirstHopNotEffective,
    /// The stake cannot go below the slashed amount.
    #[error(transparent)]
    StakeBelowSlashed(#[from] StakeBelowSlashed),
    /// A commitment is not in the state the transition needs.
    #[error(transparent)]
    CommitmentState(#[from] CommitmentStateError),
}

impl Rejection {
    /// A signature rejection for `object`.
    pub const fn signature(object: &'static str, source: kagami_core::crypto::Error) -> Self {
        Self::Signature { object, source }
    }
}
