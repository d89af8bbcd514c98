//! The share of recent handler attempts that failed, over a rolling window.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::window::{index, BucketClock, SLOTS};

/// Counts successes and failures of every handler attempt over a rolling window, in fixed
/// memory and without a lock: every attempt records here, from every runtime thread. Deferral
/// asks it whether failures are rare enough to defer (a few bad keys) or so common that
/// something shared is down (then retrying in place, and so pausing, is right).
///
/// A bucket is reused when its time comes round again; an attempt recorded while another
/// thread resets it may be lost, which only nudges an estimate.
///
/// Each thread counts in one of a few shards, each on cache lines of its own: counters that
/// every attempt bumps would otherwise bounce between cores on every event.
#[derive(Debug)]
pub struct FailureRate {
    clock: BucketClock,
    shards: [Shard; SHARDS],
}

/// Shards of counters; runtime threads beyond this share them.
const SHARDS: usize = 4;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard([Slot; SLOTS]);

/// The shard the current thread counts in.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[derive(Debug, Default)]
struct Slot {
    /// The bucket number (since `origin`) plus one; 0 for never used.
    bucket: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl FailureRate {
    /// Measures over `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            clock: BucketClock::new(Instant::now(), window),
            shards: Default::default(),
        }
    }

    /// Records one attempt's result at `now`.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let bucket = self.clock.bucket_of(now);
        let slot = &self.shards[shard()].0[index(bucket)];
        let stamp = bucket + 1;
        let seen = slot.bucket.load(Ordering::Acquire);
        if seen != stamp
            && slot
                .bucket
                .compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.succeeded.store(0, Ordering::Release);
            slot.failed.store(0, Ordering::Release);
        }
        let counter = if succeeded {
            &slot.succeeded
        } else {
            &slot.failed
        };
        counter.fetch_add(1, Ordering::AcqRel);
    }

    /// `failures / (failures + successes)` over the window ending at `now`; 0 with no attempts.
    #[must_use]
    pub fn rate(&self, now: Instant) -> f64 {
        let (oldest, newest, oldest_share) = self.clock.span(now);
        let (mut succeeded, mut failed) = (0.0, 0.0);
        for slot in self.shards.iter().flat_map(|shard| &shard.0) {
            let Some(bucket) = slot.bucket.load(Ordering::Acquire).checked_sub(1) else {
                continue;
            };
            if bucket < oldest || bucket > newest {
                continue;
            }
            let share = if bucket == oldest { oldest_share } else { 1.0 };
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            {
                succeeded += slot.succeeded.load(Ordering::Acquire) as f64 * share;
                failed += slot.failed.load(Ordering::Acquire) as f64 * share;
            }
        }
        let attempts = succeeded + failed;
        if attempts > 0.0 {
            failed / attempts
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_follows_the_window() {
        let rate = FailureRate::new(Duration::from_secs(16));
        let start = Instant::now();
        assert_eq!(rate.rate(start), 0.0);
        for n in 0..10 {
            rate.record(n < 9, start);
        }
        assert!((rate.rate(start) - 0.1).abs() < 1e-9);

        let later = start + Duration::from_secs(8);
        for _ in 0..90 {
            rate.record(false, later);
        }
        assert!((rate.rate(later) - 0.91).abs() < 1e-9);
        // Once the first burst leaves the window only the failures remain.
        assert!((rate.rate(start + Duration::from_secs(20)) - 1.0).abs() < 1e-9);
        assert_eq!(rate.rate(start + Duration::from_secs(60)), 0.0);
    }
}
