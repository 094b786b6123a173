#![doc = include_str!("../README.md")]

pub mod commitment;
pub mod decide;
pub mod graph;
pub mod manifest;
mod policy;
pub mod settlement;
mod usdc;
mod validate;
pub mod verify;
pub mod wire;

pub use commitment::{AgentStatus, CommitmentEvent, CommitmentStateError, CommitmentStatus};
pub use decide::{DetectedLoop, LoopKind, RecordDecision, RecordRejection};
pub use graph::{Cycle, Edge, ExtractionLoop, ForwardGraph, ForwardViolation, ProposedForward};
pub use manifest::{Flip, ManifestRecord, ManifestStatus, PublishError};
pub use policy::Policy;
pub use settlement::{
    HopCost, Operation, Reporter, SettlementPlan, Slash, StakeAccount, StakeBelowSlashed,
    StakeTier, plan_loop_settlement,
};
pub use usdc::{AmountError, Usdc, UsdcSum};
pub use validate::{EndpointUri, ValidationError, check_nonce};

/// The protocol crate, re-exported so dependants use one version of its types.
pub use kagami_crypto as crypto;
