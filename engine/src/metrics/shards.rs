//! Counters spread over a few cache-line-aligned shards, one picked per thread.
//!
//! Every handler on every runtime thread adds to the same counters. One atomic per counter
//! would bounce its cache line between cores on each event; here each thread adds to its own
//! shard (threads are numbered round-robin), with a relaxed `fetch_add` and no lock, and a
//! scrape sums the shards. A scrape may see one counter a few events ahead of another, which
//! Prometheus tolerates.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter set; threads beyond this share shards.
const SHARDS: usize = 8;
/// Counters per cache line.
const LINE: usize = 8;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// `width` counters, each split over [`SHARDS`] shards.
#[derive(Debug)]
pub(crate) struct Sharded {
    cells: Box<[AtomicU64]>,
    /// `width` rounded up to whole cache lines, so shards never share a line.
    stride: usize,
}

impl Sharded {
    pub(crate) fn new(width: usize) -> Self {
        let stride = width.div_ceil(LINE).max(1) * LINE;
        let cells = (0..stride * SHARDS).map(|_| AtomicU64::new(0)).collect();
        Self { cells, stride }
    }

    /// Adds `value` to counter `cell`; an index past the width is ignored.
    #[inline]
    pub(crate) fn add(&self, cell: usize, value: u64) {
        if cell >= self.stride {
            return;
        }
        let shard = SHARD.with(|shard| *shard);
        if let Some(counter) = self.cells.get(shard * self.stride + cell) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }

    /// Counter `cell` summed over the shards.
    pub(crate) fn sum(&self, cell: usize) -> u64 {
        if cell >= self.stride {
            return 0;
        }
        self.cells
            .iter()
            .skip(cell)
            .step_by(self.stride)
            .map(|counter| counter.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_sum_exactly() {
        let counters = std::sync::Arc::new(Sharded::new(3));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counters = std::sync::Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counters.add(1, 1);
                        counters.add(2, 2);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            (counters.sum(0), counters.sum(1), counters.sum(2)),
            (0, 12_000, 24_000)
        );
        counters.add(99, 1);
        assert_eq!(counters.sum(99), 0, "out of range is ignored");
    }
}
