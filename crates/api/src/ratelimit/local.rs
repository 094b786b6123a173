//! The in-process backend: each replica keeps its own buckets (the budget is per replica).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Instant,
};

use super::gcra::{self, Quota, Verdict};

/// Buckets below this count are never pruned.
const PRUNE_FLOOR: usize = 4_096;

/// Buckets in a map, on the process' monotonic clock.
#[derive(Debug)]
pub(crate) struct LocalBuckets {
    epoch: Instant,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    tats: HashMap<String, u64>,
    /// The size at which full buckets are dropped (twice what was left after the last prune),
    /// so the map holds only clients seen within their reset time, at amortised O(1) cost.
    prune_at: usize,
}

impl LocalBuckets {
    /// No buckets yet.
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            buckets: Mutex::new(Buckets {
                tats: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    /// Applies one request to the bucket `key`; returns the verdict and the time it was
    /// taken at.
    pub(crate) fn admit(&self, key: &str, quota: Quota) -> (Verdict, u64) {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        // A panic elsewhere cannot leave a TAT half-written: the map stays usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let verdict = gcra::admit(quota, buckets.tats.get(key).copied(), now);
        if verdict.allowed {
            buckets.tats.insert(key.to_owned(), verdict.tat);
            if buckets.tats.len() >= buckets.prune_at {
                buckets.tats.retain(|_, tat| *tat > now);
                buckets.prune_at = (buckets.tats.len() * 2).max(PRUNE_FLOOR);
            }
        }
        (verdict, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buckets_are_pruned_and_live_ones_kept() {
        let buckets = LocalBuckets::new();
        let slow = Quota::new(1, 1).unwrap();
        assert!(buckets.admit("live", slow).0.allowed);
        let fast = Quota::new(1_000_000, 1).unwrap();
        for n in 0..PRUNE_FLOOR * 3 {
            buckets.admit(&format!("client-{n}"), fast);
        }
        let held = buckets.buckets.lock().unwrap().tats.len();
        assert!(held < PRUNE_FLOOR * 2, "{held} buckets held");
        assert!(
            !buckets.admit("live", slow).0.allowed,
            "a live bucket survives"
        );
    }
}
