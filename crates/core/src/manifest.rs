//! Manifest lifecycle: nonces, the effective manifest, computed status, flip scoring.

use kagami_crypto::{
    Chain, EndpointManifest, EthAddress, Hash32, Pubkey, Signature, Timestamp, Uuid,
};
use serde::Serialize;

use crate::{EndpointUri, Policy, ValidationError};

/// A stored manifest: the signed fields plus what the service recorded about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Surrogate id assigned by the store.
    pub id: Uuid,
    /// SHA-256 id of the canonical message.
    pub hash: Hash32,
    /// The agent it belongs to.
    pub agent: Uuid,
    /// The chain named in the signed message.
    pub chain: Chain,
    /// The endpoint, verbatim as signed.
    pub endpoint: EndpointUri,
    /// The operational key.
    pub pubkey: Pubkey,
    /// Strictly increasing per agent.
    pub nonce: u64,
    /// First second in force.
    pub valid_from: Timestamp,
    /// First second no longer in force.
    pub valid_until: Timestamp,
    /// The owner's signature.
    pub signature: Signature,
    /// When the service accepted it.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl ManifestRecord {
    /// Whether `t` lies in the half-open window `[valid_from, valid_until)`.
    pub fn covers(&self, t: Timestamp) -> bool {
        self.valid_from <= t && t < self.valid_until
    }

    /// The signed protocol object this record stores.
    pub fn to_message_fields(&self) -> EndpointManifest {
        EndpointManifest {
            chain: self.chain.clone(),
            agent: self.agent,
            endpoint: self.endpoint.as_free_text().clone(),
            pubkey: self.pubkey.clone(),
            nonce: self.nonce,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        }
    }
}

/// A manifest's status at a given time, computed (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestStatus {
    /// The agent's effective manifest.
    Active,
    /// Its window has not started yet.
    Pending,
    /// In its window, but a higher-nonce manifest is effective.
    Superseded,
    /// Its window has ended.
    Expired,
    /// Withdrawn by the owner.
    Revoked,
}

impl ManifestStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Superseded => "superseded",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// The effective manifest of an agent at `t`: the highest-nonce non-revoked manifest whose
/// window contains `t`.
pub fn effective_at(manifests: &[ManifestRecord], t: Timestamp) -> Option<&ManifestRecord> {
    manifests
        .iter()
        .filter(|m| m.revoked_at.is_none_or(|r| r > t) && m.covers(t))
        .max_by_key(|m| m.nonce)
}

/// The keys allowed to sign for an agent at `t` (orders, commitments, the transactions an MEV
/// incident names): its `owner`, and the key of its manifest in force at `t` — so a hot key
/// whose manifest is revoked, expired or superseded signs nothing that costs the agent money.
pub fn authorised_signers(
    owner: EthAddress,
    manifests: &[ManifestRecord],
    t: Timestamp,
) -> Vec<EthAddress> {
    let mut keys = vec![owner];
    keys.extend(effective_at(manifests, t).map(|m| m.pubkey.address()));
    keys
}

/// The status of `manifest` among all of its agent's `manifests` at time `t`.
pub fn status_at(
    manifest: &ManifestRecord,
    manifests: &[ManifestRecord],
    t: Timestamp,
) -> ManifestStatus {
    if manifest.revoked_at.is_some_and(|r| r <= t) {
        ManifestStatus::Revoked
    } else if t >= manifest.valid_until {
        ManifestStatus::Expired
    } else if t < manifest.valid_from {
        ManifestStatus::Pending
    } else if effective_at(manifests, t).is_some_and(|e| e.hash == manifest.hash) {
        ManifestStatus::Active
    } else {
        ManifestStatus::Superseded
    }
}

/// Why a manifest cannot be published now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The window itself is invalid (inverted or too long).
    #[error(transparent)]
    Window(#[from] ValidationError),
    /// The nonce was already used by another manifest of this agent (a replay).
    #[error("nonce {nonce} was already used by this agent")]
    NonceUsed {
        /// The reused nonce.
        nonce: u64,
    },
    /// The nonce is not above the agent's highest nonce.
    #[error("nonce {nonce} is not greater than the agent's latest nonce {latest}")]
    NonceNotIncreasing {
        /// The submitted nonce.
        nonce: u64,
        /// The agent's highest nonce so far.
        latest: u64,
    },
    /// The window ends at or before now.
    #[error("manifest already expired at {valid_until}")]
    AlreadyExpired {
        /// Its end.
        valid_until: Timestamp,
    },
    /// A replacement may not take effect this soon after the manifest it replaces.
    #[error(
        "valid_from must be at or after {earliest} (activation delay after the current manifest)"
    )]
    ActivationTooSoon {
        /// The earliest allowed `valid_from`.
        earliest: Timestamp,
    },
}

/// Checks that `window` is well-formed under `policy`: `valid_until > valid_from` and at most
/// `max_manifest_validity_hours` long (exactly the maximum is allowed).
///
/// # Errors
/// [`ValidationError::WindowInverted`] or [`ValidationError::WindowTooLong`].
pub fn check_window(
    valid_from: Timestamp,
    valid_until: Timestamp,
    policy: &Policy,
) -> Result<(), ValidationError> {
    let seconds = valid_until.unix() - valid_from.unix();
    if seconds <= 0 {
        return Err(ValidationError::WindowInverted);
    }
    if seconds > policy.max_manifest_validity_seconds() {
        return Err(ValidationError::WindowTooLong {
            seconds,
            max_hours: policy.max_manifest_validity_hours,
        });
    }
    Ok(())
}

/// Decides whether `new` may be published for an agent whose manifests so far are
/// `existing`, at time `now`. Returns the manifest it replaces — the highest-nonce manifest
/// not expired, revoked or not — if any: the one a flip is scored against and the activation
/// delay runs from. Revoking a manifest first changes neither (revoke-then-publish is still a
/// flip, and still waits out the delay).
///
/// # Errors
/// See [`PublishError`]; the checks run in the order window, nonce, expiry, activation.
pub fn check_publish<'a>(
    new: &EndpointManifest,
    existing: &'a [ManifestRecord],
    now: Timestamp,
    policy: &Policy,
) -> Result<Option<&'a ManifestRecord>, PublishError> {
    check_window(new.valid_from, new.valid_until, policy)?;
    if existing.iter().any(|m| m.nonce == new.nonce) {
        return Err(PublishError::NonceUsed { nonce: new.nonce });
    }
    if let Some(latest) = existing
        .iter()
        .map(|m| m.nonce)
        .max()
        .filter(|l| *l > new.nonce)
    {
        return Err(PublishError::NonceNotIncreasing {
            nonce: new.nonce,
            latest,
        });
    }
    if new.valid_until <= now {
        return Err(PublishError::AlreadyExpired {
            valid_until: new.valid_until,
        });
    }
    let replaced = existing
        .iter()
        .filter(|m| m.valid_until > now)
        .max_by_key(|m| m.nonce);
    if let Some(current) = replaced {
        let earliest = current
            .created_at
            .add_seconds(policy.activation_delay_seconds);
        if new.valid_from < earliest {
            return Err(PublishError::ActivationTooSoon { earliest });
        }
    }
    Ok(replaced)
}

/// The score a manifest replacement earns (0..=100; ≥ [`Flip::SUSPICIOUS`] is suspicious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flip {
    /// 0..=100.
    pub suspicion_score: u8,
    /// The endpoint URI differs.
    pub endpoint_changed: bool,
    /// The operational key differs.
    pub pubkey_changed: bool,
    /// Seconds between the two manifests' creation.
    pub time_delta_seconds: i64,
}

impl Flip {
    /// Scores at or above this are suspicious.
    pub const SUSPICIOUS: u8 = 70;
    /// A replacement sooner than this after the previous manifest is "rapid".
    pub const RAPID_SECONDS: i64 = 60;

    /// Scores a replacement: +50 endpoint changed, +30 pubkey changed, +20 when created less
    /// than 60 s after the previous manifest; capped at 100.
    pub fn score(
        previous: &ManifestRecord,
        endpoint: &EndpointUri,
        pubkey: &Pubkey,
        created_at: Timestamp,
    ) -> Self {
        let endpoint_changed = previous.endpoint != *endpoint;
        let pubkey_changed = previous.pubkey != *pubkey;
        let time_delta_seconds = created_at.unix() - previous.created_at.unix();
        let score = 50 * u8::from(endpoint_changed)
            + 30 * u8::from(pubkey_changed)
            + 20 * u8::from(time_delta_seconds < Self::RAPID_SECONDS);
        Self {
            suspicion_score: score.min(100),
            endpoint_changed,
            pubkey_changed,
            time_delta_seconds,
        }
    }

    /// Whether the score is at or above [`Flip::SUSPICIOUS`].
    pub const fn is_suspicious(&self) -> bool {
        self.suspicion_score >= Self::SUSPICIOUS
    }
}

#[cfg(test)]
mod tests {
    use kagami_crypto::{PrivateKeySigner, Signable};

    use super::*;

    const T0: i64 = 1_768_521_600; // 2026-01-16T00:00:00Z

    fn ts(offset: i64) -> Timestamp {
        Timestamp::from_unix(T0 + offset).unwrap()
    }

    fn agent() -> Uuid {
        Uuid::from_u128(0xA)
    }

    fn fields(nonce: u64, from: i64, until: i64) -> EndpointManifest {
        EndpointManifest {
            chain: "base".parse().unwrap(),
            agent: agent(),
            endpoint: "https://a.example/x".parse().unwrap(),
            pubkey: "0x52908400098527886e0f7030069857d2e4169ee7"
                .parse()
                .unwrap(),
            nonce,
            valid_from: ts(from),
            valid_until: ts(until),
        }
    }

    fn record(nonce: u64, from: i64, until: i64, created: i64) -> ManifestRecord {
        let f = fields(nonce, from, until);
        let signer = PrivateKeySigner::from_bytes(&[7u8; 32].into()).unwrap();
        ManifestRecord {
            id: Uuid::from_u128(u128::from(nonce)),
            hash: f.id(),
            agent: f.agent,
            chain: f.chain.clone(),
            endpoint: EndpointUri::parse(f.endpoint.as_str(), &Policy::default()).unwrap(),
            pubkey: f.pubkey.clone(),
            nonce,
            valid_from: f.valid_from,
            valid_until: f.valid_until,
            signature: f.message().sign(&signer).unwrap(),
            created_at: ts(created),
            revoked_at: None,
        }
    }

    #[test]
    fn window_of_exactly_24_hours_is_allowed_and_one_second_more_is_not() {
        let p = Policy::default();
        assert_eq!(check_window(ts(0), ts(24 * 3600), &p), Ok(()));
        assert_eq!(
            check_window(ts(0), ts(24 * 3600 + 1), &p),
            Err(ValidationError::WindowTooLong {
                seconds: 86_401,
                max_hours: 24
            })
        );
        assert_eq!(
            check_window(ts(0), ts(0), &p),
            Err(ValidationError::WindowInverted)
        );
        assert_eq!(
            check_window(ts(1), ts(0), &p),
            Err(ValidationError::WindowInverted)
        );
    }

    #[test]
    fn first_manifest_may_start_in_the_past_but_not_be_expired() {
        let p = Policy::default();
        assert_eq!(
            check_publish(&fields(1, -3600, 3600), &[], ts(0), &p),
            Ok(None)
        );
        assert_eq!(
            check_publish(&fields(1, -7200, 0), &[], ts(0), &p),
            Err(PublishError::AlreadyExpired { valid_until: ts(0) })
        );
    }

    #[test]
    fn nonces_must_strictly_increase_including_over_revoked_manifests() {
        let p = Policy::default();
        let mut revoked = record(5, -100, 3600, -100);
        revoked.revoked_at = Some(ts(-50));
        let existing = [record(3, -200, 3600, -200), revoked];
        assert_eq!(
            check_publish(&fields(5, 100, 3600), &existing, ts(0), &p),
            Err(PublishError::NonceUsed { nonce: 5 })
        );
        assert_eq!(
            check_publish(&fields(4, 100, 3600), &existing, ts(0), &p),
            Err(PublishError::NonceNotIncreasing {
                nonce: 4,
                latest: 5
            })
        );
        assert!(check_publish(&fields(6, 100, 3600), &existing, ts(0), &p).is_ok());
    }

    #[test]
    fn replacement_must_wait_for_the_activation_delay() {
        let p = Policy::default();
        let existing = [record(1, -100, 3600, 0)];
        assert_eq!(
            check_publish(&fields(2, 11, 3600), &existing, ts(5), &p),
            Err(PublishError::ActivationTooSoon { earliest: ts(12) })
        );
        let replaced = check_publish(&fields(2, 12, 3600), &existing, ts(5), &p).unwrap();
        assert_eq!(replaced.map(|m| m.nonce), Some(1));
    }

    #[test]
    fn expired_manifests_impose_no_activation_delay_and_revoked_ones_still_do() {
        let p = Policy::default();
        let expired = [record(1, -7200, -1, -7200)];
        assert_eq!(
            check_publish(&fields(3, -1, 3600), &expired, ts(0), &p),
            Ok(None)
        );
        let mut revoked = record(2, -10, 3600, -10);
        revoked.revoked_at = Some(ts(-5));
        let existing = [record(1, -7200, -1, -7200), revoked];
        assert_eq!(
            check_publish(&fields(3, -1, 3600), &existing, ts(0), &p),
            Err(PublishError::ActivationTooSoon { earliest: ts(2) }),
            "revoking first does not skip the delay"
        );
        let replaced = check_publish(&fields(3, 2, 3600), &existing, ts(0), &p).unwrap();
        assert_eq!(
            replaced.map(|m| m.nonce),
            Some(2),
            "and the flip is scored against the revoked one"
        );
    }

    #[test]
    fn effective_manifest_is_the_highest_nonce_covering_the_time() {
        let a = record(1, -100, 1000, -100);
        let b = record(2, 50, 2000, 0);
        let all = [a.clone(), b.clone()];
        assert_eq!(effective_at(&all, ts(0)).map(|m| m.nonce), Some(1));
        assert_eq!(effective_at(&all, ts(50)).map(|m| m.nonce), Some(2));
        assert_eq!(effective_at(&all, ts(1999)).map(|m| m.nonce), Some(2));
        assert_eq!(effective_at(&all, ts(2000)), None);
        assert_eq!(status_at(&a, &all, ts(0)), ManifestStatus::Active);
        assert_eq!(status_at(&b, &all, ts(0)), ManifestStatus::Pending);
        assert_eq!(status_at(&a, &all, ts(60)), ManifestStatus::Superseded);
        assert_eq!(status_at(&a, &all, ts(1000)), ManifestStatus::Expired);
    }

    #[test]
    fn revoked_manifest_is_never_effective_after_revocation() {
        let mut b = record(2, 0, 2000, 0);
        b.revoked_at = Some(ts(100));
        let all = [record(1, -100, 1000, -100), b.clone()];
        assert_eq!(effective_at(&all, ts(50)).map(|m| m.nonce), Some(2));
        assert_eq!(effective_at(&all, ts(100)).map(|m| m.nonce), Some(1));
        assert_eq!(status_at(&b, &all, ts(100)), ManifestStatus::Revoked);
    }

    #[test]
    fn flip_scores_add_up_and_cap_at_100() {
        let prev = record(1, 0, 3600, 0);
        let same_endpoint = prev.endpoint.clone();
        let other_endpoint = EndpointUri::parse("https://b.example/x", &Policy::default()).unwrap();
        let other_key: Pubkey = "0x0000000000000000000000000000000000000001"
            .parse()
            .unwrap();
        let score =
            |e: &EndpointUri, k: &Pubkey, dt: i64| Flip::score(&prev, e, k, ts(dt)).suspicion_score;
        assert_eq!(score(&same_endpoint, &prev.pubkey, 60), 0);
        assert_eq!(score(&same_endpoint, &prev.pubkey, 59), 20);
        assert_eq!(score(&other_endpoint, &prev.pubkey, 60), 50);
        assert_eq!(score(&same_endpoint, &other_key, 60), 30);
        assert_eq!(score(&other_endpoint, &prev.pubkey, 59), 70);
        assert_eq!(score(&other_endpoint, &other_key, 600), 80);
        assert_eq!(score(&other_endpoint, &other_key, 1), 100);
    }

    #[test]
    fn score_of_exactly_70_is_suspicious_and_50_is_not() {
        let prev = record(1, 0, 3600, 0);
        let other_endpoint = EndpointUri::parse("https://b.example/x", &Policy::default()).unwrap();
        let rapid = Flip::score(&prev, &other_endpoint, &prev.pubkey, ts(30));
        assert_eq!((rapid.suspicion_score, rapid.is_suspicious()), (70, true));
        let slow = Flip::score(&prev, &other_endpoint, &prev.pubkey, ts(3000));
        assert_eq!((slow.suspicion_score, slow.is_suspicious()), (50, false));
        assert_eq!(slow.time_delta_seconds, 3000);
    }
}
