//! The generic cell rate algorithm (GCRA), the one rule both limiter backends apply.
//!
//! A bucket is a single number, its *theoretical arrival time* (TAT): the instant at which it
//! would be full again. Each admitted request pushes the TAT one emission interval
//! (`1 s / per_second`) further; a request is refused when that would put the TAT more than
//! `burst` intervals ahead of now. A bucket whose TAT lies in the past is full, exactly as if it
//! were absent, so backends may forget it then (Redis lets the key expire at that moment).
//!
//! Times are whole microseconds on the backend's clock. The Redis backend runs [`admit`] as a
//! Lua transcription (`shared.rs`); a test runs both on the same inputs.

use std::time::Duration;

/// Microseconds in a second.
const MICROS: u64 = 1_000_000;

/// A limit: `per_second` requests per second sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    per_second: u32,
    burst: u32,
}

/// Why a [`Quota`] cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The rate is zero or above one million per second.
    #[error("the rate must be between 1 and 1000000 per second, got {0}")]
    Rate(u32),
    /// The burst is zero.
    #[error("the burst must be at least 1, got {0}")]
    Burst(u32),
}

impl Quota {
    /// The largest rate: one request per microsecond.
    pub const MAX_PER_SECOND: u32 = 1_000_000;

    /// `per_second` requests per second, `burst` at once.
    ///
    /// # Errors
    /// A rate outside `1..=1_000_000` or a zero burst.
    pub const fn new(per_second: u32, burst: u32) -> Result<Self, QuotaError> {
        if per_second == 0 || per_second > Self::MAX_PER_SECOND {
            return Err(QuotaError::Rate(per_second));
        }
        if burst == 0 {
            return Err(QuotaError::Burst(burst));
        }
        Ok(Self { per_second, burst })
    }

    /// Requests per second, sustained.
    pub const fn per_second(self) -> u32 {
        self.per_second
    }

    /// Requests at once.
    pub const fn burst(self) -> u32 {
        self.burst
    }

    /// The emission interval: microseconds between two requests at the sustained rate.
    pub const fn interval_us(self) -> u64 {
        MICROS / self.per_second as u64
    }

    /// How far ahead of now a bucket's TAT may be: `burst` intervals.
    pub const fn capacity_us(self) -> u64 {
        self.burst as u64 * self.interval_us()
    }

    /// The window of the `RateLimit-Policy` header: the whole seconds an empty bucket takes
    /// to fill again (`burst / per_second`, rounded up, at least 1).
    pub const fn window_seconds(self) -> u64 {
        let seconds = self.capacity_us().div_ceil(MICROS);
        if seconds == 0 { 1 } else { seconds }
    }
}

/// The outcome of [`admit`]: whether the request passes, and the bucket's TAT afterwards
/// (unchanged when refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The request passes.
    pub(crate) allowed: bool,
    /// The bucket's theoretical arrival time after this request, microseconds.
    pub(crate) tat: u64,
}

/// One request against a bucket whose stored TAT is `tat` (`None`: no bucket, that is a full
/// one) at time `now`. On `allowed`, the caller stores the returned TAT until it passes.
pub(crate) const fn admit(quota: Quota, tat: Option<u64>, now: u64) -> Verdict {
    let tat = match tat {
        Some(tat) if tat > now => tat,
        _ => now,
    };
    let next = tat.saturating_add(quota.interval_us());
    if next - now > quota.capacity_us() {
        Verdict {
            allowed: false,
            tat,
        }
    } else {
        Verdict {
            allowed: true,
            tat: next,
        }
    }
}

/// What a verdict means for the client: what is left, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    /// Requests that would pass right now.
    pub(crate) remaining: u64,
    /// Until the bucket is full again.
    pub(crate) reset: Duration,
    /// Until the next request passes (zero when one would pass now).
    pub(crate) retry_after: Duration,
}

impl Standing {
    /// The standing of a bucket whose TAT is `tat` at `now`.
    pub(crate) const fn of(quota: Quota, tat: u64, now: u64) -> Self {
        let ahead = tat.saturating_sub(now);
        let room = quota.capacity_us().saturating_sub(ahead);
        // The next request passes once the TAT is at most `capacity - interval` ahead.
        let wait = ahead.saturating_sub(quota.capacity_us() - quota.interval_us());
        Self {
            remaining: room / quota.interval_us(),
            reset: Duration::from_micros(ahead),
            retry_after: Duration::from_micros(wait),
        }
    }
}

/// Whole seconds, rounded up: what the headers say.
pub(crate) const fn ceil_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota::new(per_second, burst).unwrap()
    }

    #[test]
    fn quotas_reject_a_zero_rate_a_huge_rate_and_a_zero_burst() {
        assert_eq!(Quota::new(0, 1), Err(QuotaError::Rate(0)));
        assert_eq!(Quota::new(1_000_001, 1), Err(QuotaError::Rate(1_000_001)));
        assert_eq!(Quota::new(1, 0), Err(QuotaError::Burst(0)));
        assert_eq!(quota(10, 20).window_seconds(), 2);
        assert_eq!(quota(3, 20).window_seconds(), 7);
        assert_eq!(quota(100, 1).window_seconds(), 1);
    }

    #[test]
    fn a_full_bucket_admits_the_burst_at_once_then_one_per_interval() {
        let q = quota(10, 3);
        let mut tat = None;
        for n in 0..3 {
            let v = admit(q, tat, 1_000);
            assert!(v.allowed, "request {n} of the burst");
            tat = Some(v.tat);
        }
        let refused = admit(q, tat, 1_000);
        assert!(!refused.allowed);
        assert_eq!(Some(refused.tat), tat, "a refusal does not move the bucket");
        let standing = Standing::of(q, refused.tat, 1_000);
        assert_eq!(standing.remaining, 0);
        assert_eq!(standing.retry_after, Duration::from_millis(100));
        assert_eq!(standing.reset, Duration::from_millis(300));
        assert!(!admit(q, tat, 1_000 + 99_999).allowed);
        assert!(admit(q, tat, 1_000 + 100_000).allowed);
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_seconds(Duration::ZERO), 0);
        assert_eq!(ceil_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ceil_seconds(Duration::from_secs(2)), 2);
        assert_eq!(ceil_seconds(Duration::from_millis(2_001)), 3);
    }

    proptest! {
        /// Over any schedule, the admitted requests in `[start, t]` never exceed
        /// `burst + (t - start) / interval`, and a client that waits `retry_after` passes.
        #[test]
        fn never_more_than_the_burst_plus_the_rate(
            per_second in 1u32..2_000,
            burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..50_000, 1..300),
        ) {
            let q = quota(per_second, burst);
            let start = 5_000_000u64;
            let (mut now, mut tat, mut admitted) = (start, None, 0u64);
            for gap in gaps {
                now += gap;
                let v = admit(q, tat, now);
                let standing = Standing::of(q, v.tat, now);
                if v.allowed {
                    admitted += 1;
                    tat = Some(v.tat);
                    prop_assert!(standing.remaining < u64::from(burst));
                } else {
                    prop_assert_eq!(standing.remaining, 0);
                    prop_assert!(standing.retry_after > Duration::ZERO);
                    let later = now + u64::try_from(standing.retry_after.as_micros()).unwrap();
                    prop_assert!(admit(q, tat, later).allowed, "waiting retry_after is enough");
                }
                prop_assert!(admitted <= u64::from(burst) + (now - start) / q.interval_us());
                prop_assert!(standing.reset <= Duration::from_micros(q.capacity_us()));
            }
        }

        /// A bucket left alone for its reset time is full again: it admits the whole burst.
        #[test]
        fn after_reset_the_whole_burst_passes(
            per_second in 1u32..2_000,
            burst in 1u32..50,
            taken in 0u32..60,
        ) {
            let q = quota(per_second, burst);
            let (now, mut tat) = (1_000_000u64, None);
            for _ in 0..taken {
                tat = Some(admit(q, tat, now).tat);
            }
            let reset = tat.map_or(now, |t| t.max(now));
            let mut later = Some(reset);
            for _ in 0..burst {
                let v = admit(q, later, reset);
                prop_assert!(v.allowed);
                later = Some(v.tat);
            }
            prop_assert!(!admit(q, later, reset).allowed);
        }
    }
}
