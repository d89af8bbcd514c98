//! A histogram as fixed buckets of sharded counters: observing is a bucket search over a dozen
//! bounds and two relaxed adds, with no lock and no allocation.

use std::time::Duration;

use crate::metrics::shards::Sharded;

/// Upper bounds in seconds, Prometheus' default buckets: from a fast no-op handler to one
/// near the default `timeout`.
pub(crate) const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const BOUNDS_NANOS: [u64; 11] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Cells: one per bound, one for +Inf, then the sum (nanoseconds) and the count.
const SUM: usize = BOUNDS.len() + 1;
const COUNT: usize = SUM + 1;

/// Durations in [`BOUNDS`] buckets.
#[derive(Debug)]
pub(crate) struct Histogram {
    cells: Sharded,
}

/// A histogram's totals at one moment, buckets cumulative as the format wants them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// Observations at or under each bound of [`BOUNDS`].
    pub(crate) buckets: [u64; BOUNDS.len()],
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            cells: Sharded::new(COUNT + 1),
        }
    }
}

impl Histogram {
    #[inline]
    pub(crate) fn observe(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(BOUNDS.len());
        self.cells.add(bucket, 1);
        self.cells.add(SUM, nanos);
        self.cells.add(COUNT, 1);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut running = 0;
        for (bucket, total) in snapshot.buckets.iter_mut().enumerate() {
            running += self.cells.sum(bucket);
            *total = running;
        }
        snapshot.count = self.cells.sum(COUNT);
        // Lossy above 2^53 ns (104 days of handler time), which a rate() over it tolerates.
        #[allow(clippy::cast_precision_loss)]
        {
            snapshot.sum_seconds = self.cells.sum(SUM) as f64 / 1e9;
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_sum_and_count() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(70));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets[0], 2, "5 ms is inside the 5 ms bucket");
        assert_eq!(snapshot.buckets[3], 2);
        assert_eq!(snapshot.buckets[4], 3);
        assert_eq!(snapshot.buckets[BOUNDS.len() - 1], 3, "60 s only in +Inf");
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum_seconds - 60.078).abs() < 1e-9, "{snapshot:?}");
    }
}
