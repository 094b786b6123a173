//! The life cycle of a time-locked commitment and of an agent: statuses and the transitions
//! the rules allow.

use kagami_crypto::{Hash32, Timestamp, Uuid};
use serde::Serialize;

use crate::{EndpointUri, ManifestRecord, StakeAccount, Usdc, manifest::effective_at};

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

/// When a commitment's first hop stopped holding its routing: the first moment of the time
/// lock `[from, until)` that has passed by `now` at which the agent's manifest in force
/// (revocations respected, `manifest::effective_at`) routes to another endpoint than `held`,
/// the endpoint in force when the commitment was accepted, and the manifest that did. A
/// manifest published before the lock and taking effect during it counts from the moment it
/// takes effect; a moment without any manifest in force is not a change of routing.
pub fn routing_deviation(
    held: &EndpointUri,
    from: Timestamp,
    until: Timestamp,
    manifests: &[ManifestRecord],
    now: Timestamp,
) -> Option<(Timestamp, Hash32)> {
    let end = until.min(now.add_seconds(1));
    let mut moments: Vec<Timestamp> = manifests
        .iter()
        .flat_map(|m| [Some(m.valid_from), Some(m.valid_until), m.revoked_at])
        .flatten()
        .filter(|t| *t > from && *t < end)
        .collect();
    moments.push(from);
    moments.sort_unstable();
    moments.dedup();
    moments.into_iter().find_map(|t| {
        effective_at(manifests, t)
            .filter(|m| m.endpoint != *held)
            .map(|m| (t, m.hash))
    })
}

/// The dispute slashes of the commitments one change of routing breaks (`due`, in creation
/// order, each with its amount): each takes `min(amount, what is left of the cap)`, and the
/// cap — what one change of routing can cost — is half of the agent's available stake.
pub fn dispute_slashes(due: &[(Uuid, Usdc)], account: &StakeAccount) -> Vec<(Uuid, Usdc)> {
    let mut left = account.available().mul_div_floor(1, 2);
    due.iter()
        .map(|(id, amount)| {
            let slash = (*amount).min(left);
            left = left.saturating_sub(slash);
            (*id, slash)
        })
        .collect()
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
    use kagami_crypto::{PrivateKeySigner, Signable};

    use super::{CommitmentEvent::*, CommitmentStatus::*, *};
    use crate::Policy;

    const T0: i64 = 1_768_521_600;

    fn ts(offset: i64) -> Timestamp {
        Timestamp::from_unix(T0 + offset).unwrap()
    }

    fn endpoint(host: &str) -> EndpointUri {
        EndpointUri::parse(&format!("https://{host}/x"), &Policy::default()).unwrap()
    }

    fn manifest(nonce: u64, host: &str, from: i64, until: i64) -> ManifestRecord {
        let fields = kagami_crypto::EndpointManifest {
            chain: "base".parse().unwrap(),
            agent: Uuid::from_u128(7),
            endpoint: endpoint(host).as_free_text().clone(),
            pubkey: "0x52908400098527886e0f7030069857d2e4169ee7"
                .parse()
                .unwrap(),
            nonce,
            valid_from: ts(from),
            valid_until: ts(until),
        };
        let key = PrivateKeySigner::from_bytes(&[7u8; 32].into()).unwrap();
        ManifestRecord {
            id: Uuid::from_u128(u128::from(nonce)),
            hash: fields.id(),
            agent: fields.agent,
            chain: fields.chain.clone(),
            endpoint: endpoint(host),
            pubkey: fields.pubkey.clone(),
            nonce,
            valid_from: fields.valid_from,
            valid_until: fields.valid_until,
            signature: fields.message().sign(&key).unwrap(),
            created_at: ts(from.min(0)),
            revoked_at: None,
        }
    }

    #[test]
    fn a_manifest_taking_effect_during_the_lock_breaks_it_when_it_takes_effect() {
        let held = endpoint("a.example");
        let current = manifest(1, "a.example", -100, 3600);
        let later = manifest(2, "b.example", 200, 3600);
        let all = [current.clone(), later.clone()];
        // The lock runs 0..300; at 150 the other endpoint is not in force yet.
        assert_eq!(
            routing_deviation(&held, ts(0), ts(300), &all, ts(150)),
            None
        );
        assert_eq!(
            routing_deviation(&held, ts(0), ts(300), &all, ts(250)),
            Some((ts(200), later.hash))
        );
        // Evaluated long after the lock ended, the change during it still counts.
        assert_eq!(
            routing_deviation(&held, ts(0), ts(300), &all, ts(9000)),
            Some((ts(200), later.hash))
        );
        // A change after the lock does not.
        assert_eq!(
            routing_deviation(&held, ts(0), ts(150), &all, ts(9000)),
            None
        );
    }

    #[test]
    fn revoking_to_fall_back_on_another_endpoint_is_a_change_and_no_manifest_is_not() {
        let held = endpoint("b.example");
        let old = manifest(1, "a.example", -100, 3600);
        let mut current = manifest(2, "b.example", -50, 3600);
        current.revoked_at = Some(ts(100));
        let all = [old.clone(), current.clone()];
        assert_eq!(
            routing_deviation(&held, ts(0), ts(300), &all, ts(200)),
            Some((ts(100), old.hash)),
            "revoking the current manifest made the older endpoint effective"
        );
        let mut alone = manifest(3, "b.example", -50, 3600);
        alone.revoked_at = Some(ts(100));
        assert_eq!(
            routing_deviation(&held, ts(0), ts(300), &[alone], ts(200)),
            None,
            "no manifest in force routes nowhere else"
        );
    }

    #[test]
    fn one_change_of_routing_costs_at_most_half_the_available_stake() {
        let account = StakeAccount {
            staked: Usdc::from_usdc(1000),
            ..StakeAccount::default()
        };
        let due: Vec<(Uuid, Usdc)> = (0..10)
            .map(|i| (Uuid::from_u128(i), Usdc::from_usdc(1_000_000)))
            .collect();
        let slashes = dispute_slashes(&due, &account);
        let total = slashes
            .iter()
            .fold(Usdc::ZERO, |sum, (_, s)| sum.checked_add(*s).unwrap());
        assert_eq!(total, Usdc::from_usdc(500));
        assert_eq!(slashes[0].1, Usdc::from_usdc(500));
        assert!(slashes[1..].iter().all(|(_, s)| *s == Usdc::ZERO));
        let small = dispute_slashes(&[(Uuid::nil(), Usdc::from_usdc(100))], &account);
        assert_eq!(small[0].1, Usdc::from_usdc(100));
    }

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

    proptest::proptest! {
        #[test]
        fn dispute_slashes_never_exceed_the_cap_or_the_commitments(
            amounts in proptest::collection::vec(0i64..=10_000_000_000_000, 0..12),
            staked in 0i64..=10_000_000_000_000,
            slashed in 0i64..=10_000_000_000_000,
            locked in 0i64..=10_000_000_000_000,
        ) {
            let micros = |m: i64| Usdc::from_micros(m).unwrap();
            let account = StakeAccount {
                staked: micros(staked),
                slashed: micros(slashed.min(staked)),
                locked: micros(locked),
            };
            let due: Vec<(Uuid, Usdc)> = amounts
                .iter()
                .enumerate()
                .map(|(i, m)| (Uuid::from_u128(i as u128), micros(*m)))
                .collect();
            let slashes = dispute_slashes(&due, &account);
            proptest::prop_assert_eq!(slashes.len(), due.len());
            let mut total = Usdc::ZERO;
            for ((id, slash), (due_id, amount)) in slashes.iter().zip(&due) {
                proptest::prop_assert_eq!(id, due_id);
                proptest::prop_assert!(slash <= amount, "never more than the commitment");
                total = total.checked_add(*slash).unwrap();
            }
            proptest::prop_assert!(total <= account.available().mul_div_floor(1, 2));
        }
    }
}
