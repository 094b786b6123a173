//! Limits and policy, with the product's defaults.

use crate::Usdc;

/// Every tunable limit of the domain rules. `Policy::default()` is the product's policy;
/// the server overrides fields from configuration (e.g. `MANIFEST_MAX_VALIDITY_HOURS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Longest endpoint URI, in bytes.
    pub max_endpoint_bytes: usize,
    /// Longest pubkey, in characters.
    pub max_pubkey_chars: usize,
    /// Longest manifest window (`valid_until - valid_from`), in hours; exactly this is allowed.
    pub max_manifest_validity_hours: u32,
    /// A replacement manifest may not take effect earlier than this many seconds after the
    /// manifest it replaces was created.
    pub activation_delay_seconds: i64,
    /// Hops above this are refused (`MAX_HOP_DEPTH`).
    pub max_hop_depth: u32,
    /// Hops above this are allowed but flagged irrational (`MAX_RATIONAL_HOPS`).
    pub max_rational_hops: u32,
    /// Stake a destination must have available (and gets locked) per hop.
    pub min_stake_per_hop: Usdc,
    /// Payments at or above this need a time-locked on-chain commitment.
    pub high_value_threshold: Usdc,
    /// The longest time lock a commitment may ask for, in seconds (its signers choose its
    /// end).
    pub max_commitment_lock_seconds: i64,
    /// How long a hop's stake lock lasts unless released earlier, in seconds.
    pub stake_lock_seconds: i64,
}

impl Policy {
    /// The longest manifest window in seconds.
    pub const fn max_manifest_validity_seconds(&self) -> i64 {
        self.max_manifest_validity_hours as i64 * 3600
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_endpoint_bytes: 2048,
            max_pubkey_chars: 512,
            max_manifest_validity_hours: 24,
            activation_delay_seconds: 12,
            max_hop_depth: 10,
            max_rational_hops: 8,
            min_stake_per_hop: Usdc::from_usdc(100),
            high_value_threshold: Usdc::from_usdc(10_000),
            max_commitment_lock_seconds: 86_400,
            stake_lock_seconds: 3600,
        }
    }
}
