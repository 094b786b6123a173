//! The life cycle of a time-locked commitment and of an agent: statuses and the transitions
//! the rules allow.

use serde::Serialize;

/// A commitment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentStatus {
    /// Created, time lock running, not yet seen on chain.
    Pending,
    /// Seen on chain.
    Confirmed,
    /// Done.
    Settled,
    /// The first-hop agent changed its routing during the time lock.
    Disputed,
}

/// What happens to a commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitmentEvent {
    /// The commitment was seen on chain.
    Confirm,
    /// The flow completed.
    Settle,
    /// The first hop broke it.
    Dispute,
}

/// A transition the commitment's status does not allow; nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("commitment is {}, expected {}", actual.as_str(), expected.as_str())]
pub struct CommitmentStateError {
    /// The commitment's status.
    pub actual: CommitmentStatus,
    /// The status the event needs (disputes also accept `confirmed`).
    pub expected: CommitmentStatus,
}

impl CommitmentStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Settled => "settled",
            Self::Disputed => "disputed",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Confirmed,
            Self::Settled,
            Self::Disputed,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// Whether the commitment still binds its first hop (pending or confirmed).
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed)
    }

    /// The status after `event`: pending → confirmed → settled, and an open commitment can
    /// be disputed, once.
    ///
    /// # Errors
    /// [`CommitmentStateError`] for any other transition.
    pub const fn apply(self, event: CommitmentEvent) -> Result<Self, CommitmentStateError> {
        match (self, event) {
            (Self::Pending, CommitmentEvent::Confirm) => Ok(Self::Confirmed),
            (Self::Confirmed, CommitmentEvent::Settle) => Ok(Self::Settled),
            (Self::Pending | Self::Confirmed, CommitmentEvent::Dispute) => Ok(Self::Disputed),
            (actual, event) => Err(CommitmentStateError {
                actual,
                expected: match event {
                    CommitmentEvent::Confirm | CommitmentEvent::Dispute => Self::Pending,
                    CommitmentEvent::Settle => Self::Confirmed,
                },
            }),
        }
    }
}

/// An agent's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// May publish manifests and receive forwards.
    Active,
    /// Temporarily barred.
    Suspended,
    /// Permanently barred.
    Revoked,
}

impl AgentStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended, Self::Revoked]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::{CommitmentEvent::*, CommitmentStatus::*, *};

    #[test]
    fn commitments_move_forward_only_and_are_disputed_at_most_once() {
        assert_eq!(Pending.apply(Confirm), Ok(Confirmed));
        assert_eq!(Confirmed.apply(Settle), Ok(Settled));
        assert_eq!(Pending.apply(Dispute), Ok(Disputed));
        assert_eq!(Confirmed.apply(Dispute), Ok(Disputed));
        for (from, event, expected) in [
            (Pending, Settle, Confirmed),
            (Confirmed, Confirm, Pending),
            (Settled, Confirm, Pending),
            (Settled, Settle, Confirmed),
            (Settled, Dispute, Pending),
            (Disputed, Dispute, Pending),
            (Disputed, Confirm, Pending),
            (Disputed, Settle, Confirmed),
        ] {
            assert_eq!(
                from.apply(event),
                Err(CommitmentStateError {
                    actual: from,
                    expected
                }),
                "{from:?} {event:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in [Pending, Confirmed, Settled, Disputed] {
            assert_eq!(CommitmentStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            AgentStatus::Active,
            AgentStatus::Suspended,
            AgentStatus::Revoked,
        ] {
            assert_eq!(AgentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CommitmentStatus::parse("Pending"), None);
        assert_eq!(AgentStatus::parse(""), None);
    }
}
