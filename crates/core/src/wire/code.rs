//! The stable reason codes of the wire: every error's `error` and every unsafe verdict's
//! `reason`. One enum shared by the server and the client, so a misspelt code is a compile
//! error.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares the codes once: variant, wire name, documentation.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal,)+) => {
        /// A stable, snake_case reason code.
        ///
        /// Unknown codes (from a newer server) deserialize as [`ErrorCode::Unknown`] so an old
        /// client keeps working.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
            /// A code this build does not know.
            Unknown,
        }

        impl ErrorCode {
            /// Every known code.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                    Self::Unknown => "unknown",
                }
            }

            /// The code with this wire name; [`ErrorCode::Unknown`] for any other text.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($name => Self::$variant,)+
                    _ => Self::Unknown,
                }
            }
        }
    };
}

codes! {
    // ---- request shape --------------------------------------------------------------------
    /// A field's value is not valid (the `field` names it).
    InvalidField = "invalid_field",
    /// A required field is missing.
    MissingField = "missing_field",
    /// The body has a field the endpoint does not know.
    UnknownField = "unknown_field",
    /// The body is not JSON, or not the expected shape.
    MalformedJson = "malformed_json",
    /// The body is larger than the limit.
    PayloadTooLarge = "payload_too_large",
    /// The body is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type",
    /// A path parameter is not valid.
    InvalidPath = "invalid_path",
    /// The query string is not valid.
    InvalidQuery = "invalid_query",
    /// A signature is malformed or by the wrong signer.
    InvalidSignature = "invalid_signature",
    /// A manifest window is longer than the policy allows.
    WindowTooLong = "window_too_long",
    /// A hop above the maximum depth.
    HopLimitExceeded = "hop_limit_exceeded",
    /// A chain other than the agent's.
    ChainMismatch = "chain_mismatch",
    /// A report-cycle evidence item is invalid (`evidence_index` says which).
    InvalidEvidence = "invalid_evidence",
    /// A commitment below the high-value threshold.
    AmountBelowThreshold = "amount_below_threshold",
    /// record-forward and report-cycle take an order and its receipt (protocol v2); a v1
    /// receipt alone is not recorded.
    OrderRequired = "order_required",
    /// The receipt does not acknowledge the order it came with (`field` names the part).
    OrderMismatch = "order_mismatch",
    /// A commitment's time lock is over or longer than the policy allows.
    LockUntilOutOfRange = "lock_until_out_of_range",
    // ---- access ---------------------------------------------------------------------------
    /// No API key was sent.
    MissingApiKey = "missing_api_key",
    /// The API key is unknown or revoked.
    InvalidApiKey = "invalid_api_key",
    /// The key's role may not call this endpoint.
    Forbidden = "forbidden",
    /// No such route.
    RouteNotFound = "route_not_found",
    /// The route exists, the method does not.
    MethodNotAllowed = "method_not_allowed",
    // ---- not found ------------------------------------------------------------------------
    /// No such agent.
    AgentNotFound = "agent_not_found",
    /// No such manifest (for this agent).
    ManifestNotFound = "manifest_not_found",
    /// No such commitment.
    CommitmentNotFound = "commitment_not_found",
    /// No such API key.
    ApiKeyNotFound = "api_key_not_found",
    /// No such entry in the audit log (or not integrated in the tree asked for yet).
    LogEntryNotFound = "log_entry_not_found",
    /// A tree size beyond the log's newest checkpoint, or sizes out of order.
    TreeSizeOutOfRange = "tree_size_out_of_range",
    // ---- conflicts --------------------------------------------------------------------------
    /// The registry identity is already registered.
    AgentAlreadyRegistered = "agent_already_registered",
    /// The manifest nonce was used before.
    NonceReused = "nonce_reused",
    /// The manifest nonce is below the agent's latest.
    NonceNotIncreasing = "nonce_not_increasing",
    /// The destination signed a different receipt with this nonce.
    ReceiptNonceUsed = "receipt_nonce_used",
    /// The payer signed a different order with this nonce.
    OrderNonceUsed = "order_nonce_used",
    /// The order was recorded with another receipt.
    OrderUsed = "order_used",
    /// The root transaction already has a commitment.
    CommitmentExists = "commitment_exists",
    /// The root transaction is already settled.
    AlreadySettled = "already_settled",
    /// The API key already exists.
    ApiKeyExists = "api_key_exists",
    /// Another unique rule refused the write.
    Conflict = "conflict",
    /// The commitment is not in the state the transition needs.
    InvalidCommitmentState = "invalid_commitment_state",
    // ---- domain rules -----------------------------------------------------------------------
    /// The manifest's window already ended.
    ManifestExpired = "manifest_expired",
    /// A replacement manifest starts before the activation delay.
    ActivationTooSoon = "activation_too_soon",
    /// The agent is not active (publishing).
    AgentNotActive = "agent_not_active",
    /// The agent is suspended or revoked (receiving).
    AgentSuspended = "agent_suspended",
    /// The cited manifest belongs to another agent.
    ManifestNotDestinations = "manifest_not_destinations",
    /// The cited manifest is not in force now.
    ManifestNotEffective = "manifest_not_effective",
    /// A commitment's first hop has no manifest in force: there is no routing to hold.
    FirstHopNotEffective = "first_hop_not_effective",
    /// The destination has too little available stake for a hop.
    InsufficientStake = "insufficient_stake",
    /// The stake cannot be set below what is slashed.
    StakeBelowSlashed = "stake_below_slashed",
    /// The reported receipts contain no loop.
    NoCycle = "no_cycle",
    // ---- forward rules ----------------------------------------------------------------------
    /// An agent paying itself.
    SelfForward = "self_forward",
    /// The root's recorded forwards already contain a cycle.
    CycleDetected = "cycle_detected",
    /// Hop `h > 0` without a hop `h − 1` into the payer.
    PreviousHopMissing = "previous_hop_missing",
    /// A hop 0 by another agent than the root payment's payer.
    RootPayerMismatch = "root_payer_mismatch",
    /// The forward would close a cycle.
    WouldCreateCycle = "would_create_cycle",
    /// The receipt closed a cycle; it was stored as evidence and the cycle settled.
    CircularDependency = "circular_dependency",
    /// The destination would be (or was) paid twice by one root payment.
    ExtractionLoopDetected = "extraction_loop_detected",
    /// The payer committed to a different next hop.
    NextHopMismatch = "next_hop_mismatch",
    // ---- the service ------------------------------------------------------------------------
    /// This client sent more requests of this route class than its limit; retry after
    /// `Retry-After` seconds.
    RateLimited = "rate_limited",
    /// The database cannot be reached; retry later.
    StoreUnavailable = "store_unavailable",
    /// The database stayed busy (locks, conflicts) after retries; retry later.
    StoreBusy = "store_busy",
    /// The audit log has no signed checkpoint yet (the sequencer has not run); retry later.
    LogNotReady = "log_not_ready",
    /// An internal error (the request id identifies it in the logs).
    InternalError = "internal_error",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_round_trips_and_names_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate {name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(ErrorCode::parse(name), *code);
            let json = serde_json::to_string(code).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).ok(), Some(*code));
        }
    }

    #[test]
    fn unknown_codes_deserialize_as_unknown() {
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"from_the_future\"").ok(),
            Some(ErrorCode::Unknown)
        );
    }
}
