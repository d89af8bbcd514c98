//! The slab index rows a store has written, so inserts into the same slab skip rewriting them.
//!
//! Every write of an index row is identical (same key, same absolute expiry), so once one
//! succeeded the next is redundant, unless index garbage collection deleted the row since. That
//! only happens to slabs that have ended, so a remembered row is trusted only while its slab
//! ends more than [`MARGIN_SECS`] from now: longer than an insert can take (each request times
//! out in seconds) plus any reasonable clock skew between processes. Near or past its end, a
//! slab's index row is written on every insert, as without this cache.
//!
//! The cache holds at most [`CAPACITY`] slabs; when full, it drops the slabs it no longer
//! trusts, then everything.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::slab::Slab;

/// How many slabs are remembered at most, over all segments.
const CAPACITY: usize = 4_096;

/// How far in the future a slab must end for its remembered index row to be trusted.
const MARGIN_SECS: i64 = 300;

/// Slabs whose index row this store wrote, per segment id.
#[derive(Debug, Default)]
pub(super) struct IndexedSlabs {
    slabs: Mutex<HashMap<String, HashSet<Slab>>>,
}

impl IndexedSlabs {
    /// Whether `segment`'s index row for `slab` need not be written again at `now`.
    pub(super) fn contains(&self, segment: &str, slab: Slab, now: i64) -> bool {
        trusted(slab, now)
            && self
                .lock()
                .get(segment)
                .is_some_and(|slabs| slabs.contains(&slab))
    }

    /// Remembers that `segment`'s index row for `slab` was written.
    pub(super) fn insert(&self, segment: &str, slab: Slab, now: i64) {
        if !trusted(slab, now) {
            return;
        }
        let mut segments = self.lock();
        if segments.values().map(HashSet::len).sum::<usize>() >= CAPACITY {
            for slabs in segments.values_mut() {
                slabs.retain(|slab| trusted(*slab, now));
            }
            segments.retain(|_, slabs| !slabs.is_empty());
            if segments.values().map(HashSet::len).sum::<usize>() >= CAPACITY {
                segments.clear();
            }
        }
        match segments.get_mut(segment) {
            Some(slabs) => {
                slabs.insert(slab);
            }
            None => {
                segments.insert(segment.to_owned(), HashSet::from([slab]));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashSet<Slab>>> {
        self.slabs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn trusted(slab: Slab, now: i64) -> bool {
    slab.end() > now.saturating_add(MARGIN_SECS)
}

#[cfg(test)]
mod tests {
    use super::{IndexedSlabs, Slab, CAPACITY, MARGIN_SECS};

    const NOW: i64 = 1_000_000;

    fn slab(start: i64) -> Slab {
        Slab { start, size: 60 }
    }

    #[test]
    fn remembers_only_slabs_ending_well_in_the_future() {
        let indexed = IndexedSlabs::default();
        let (future, closing) = (slab(NOW + MARGIN_SECS), slab(NOW + MARGIN_SECS - 60));
        indexed.insert("s", future, NOW);
        indexed.insert("s", closing, NOW);
        assert!(indexed.contains("s", future, NOW));
        assert!(!indexed.contains("other", future, NOW));
        assert!(!indexed.contains("s", closing, NOW));
        assert!(
            !indexed.contains("s", future, NOW + 60),
            "no longer trusted near its end"
        );
    }

    #[test]
    fn stays_within_capacity() {
        let indexed = IndexedSlabs::default();
        for i in 0..=CAPACITY as i64 {
            indexed.insert("s", slab(NOW + MARGIN_SECS + 60 * i), NOW);
        }
        let len: usize = indexed.lock().values().map(|s| s.len()).sum();
        assert_eq!(len, 1);
        assert!(indexed.contains("s", slab(NOW + MARGIN_SECS + 60 * CAPACITY as i64), NOW));
    }
}
