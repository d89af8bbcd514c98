//! The share of recent handler attempts that failed, over a rolling window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Buckets per window; one more is kept for the bucket straddling the window's start.
const BUCKETS: u64 = 16;
const SLOTS: usize = 17;

/// Counts successes and failures of every handler attempt over a rolling window, in fixed
/// memory and without a lock: every attempt records here, from every runtime thread. Deferral
/// asks it whether failures are rare enough to defer (a few bad keys) or so common that
/// something shared is down (then retrying in place, and so pausing, is right).
///
/// A bucket is reused when its time comes round again; an attempt recorded while another
/// thread resets it may be lost, which only nudges an estimate.
#[derive(Debug)]
pub struct FailureRate {
    origin: Instant,
    width: Duration,
    slots: [Slot; SLOTS],
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
        let width =
            (window / u32::try_from(BUCKETS).unwrap_or(u32::MAX)).max(Duration::from_micros(1));
        Self {
            origin: Instant::now(),
            width,
            slots: Default::default(),
        }
    }

    /// Records one attempt's result at `now`.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let bucket = self.bucket_of(now);
        let slot = &self.slots[index(bucket)];
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
        let newest = self.bucket_of(now);
        let oldest = newest.saturating_sub(BUCKETS);
        let into_newest = now.saturating_duration_since(self.start_of(newest));
        let oldest_share =
            (1.0 - into_newest.as_secs_f64() / self.width.as_secs_f64()).clamp(0.0, 1.0);
        let (mut succeeded, mut failed) = (0.0, 0.0);
        for slot in &self.slots {
            let Some(bucket) = slot.bucket.load(Ordering::Acquire).checked_sub(1) else {
                continue;
            };
            if bucket < oldest || bucket > newest {
                continue;
            }
            let share = if bucket == oldest && oldest + BUCKETS == newest {
                oldest_share
            } else {
                1.0
            };
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

    fn bucket_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / self.width.as_nanos().max(1)).unwrap_or(u64::MAX - 1)
    }

    fn start_of(&self, bucket: u64) -> Instant {
        let offset = self
            .width
            .checked_mul(u32::try_from(bucket).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        self.origin.checked_add(offset).unwrap_or(self.origin)
    }
}

fn index(bucket: u64) -> usize {
    usize::try_from(bucket % SLOTS as u64).unwrap_or(0)
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
