#![doc = include_str!("../README.md")]

mod client;
mod error;
mod sign;

pub use client::{
    DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT, KagamiClient, KagamiClientBuilder,
    LoopSettlement, Outcome, RecordOutcome,
};
pub use error::{Error, Result};
/// What closed a settled loop (see [`LoopSettlement::kind`]).
pub use kagami_core::LoopKind;
/// The API's request and response bodies, shared with the server.
pub use kagami_core::wire;
/// The signing protocol (canonical messages, ids, signatures, keys).
pub use kagami_crypto as crypto;
pub use kagami_crypto::PrivateKeySigner;
pub use sign::{
    CommitmentBuilder, MAX_HOP, ManifestBuilder, OrderBuilder, ReceiptBuilder, next_hop_hash,
    publish_request, sign_cycle_report, sign_revocation, verify_forward_request,
};
