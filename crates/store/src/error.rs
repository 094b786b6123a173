//! Store errors, classified once at the boundary.

use kagami_core::{PublishError, RecordRejection, crypto::Uuid};

use crate::CommitmentStatus;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write referenced a row that does not exist.
    #[error("{entity} not found")]
    NotFound {
        /// `agent`, `manifest`, `commitment`, `api_key`.
        entity: &'static str,
    },
    /// A unique constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint (or a stable description of it).
        constraint: String,
    },
    /// A domain rule refused the write; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The database cannot be reached (pool timeout, connection refused, shutdown). The API
    /// answers 503.
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
}

/// A domain rule's refusal, raised inside a store transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Manifest publication rules.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Receipt recording rules.
    #[error(transparent)]
    Record(#[from] RecordRejection),
    /// The root transaction is already settled.
    #[error("root transaction already settled by {settlement_id}")]
    AlreadySettled {
        /// The existing settlement.
        settlement_id: Uuid,
    },
    /// The reported receipts contain no cycle or extraction loop.
    #[error("the recorded receipts and the evidence contain no cycle or extraction loop")]
    NoLoop,
    /// The stake cannot go below the slashed amount.
    #[error("stake cannot be set below the {slashed} USDC already slashed")]
    StakeBelowSlashed {
        /// Already slashed.
        slashed: kagami_core::Usdc,
    },
    /// A commitment is not in the state the transition needs.
    #[error("commitment is {actual}, expected {expected}")]
    CommitmentState {
        /// Its status.
        actual: &'static str,
        /// The status the transition needs.
        expected: &'static str,
    },
}

impl Rejection {
    /// A commitment-state rejection.
    pub const fn commitment_state(actual: CommitmentStatus, expected: CommitmentStatus) -> Self {
        Self::CommitmentState {
            actual: actual.as_str(),
            expected: expected.as_str(),
        }
    }
}
