//! Out-of-order completion turned into a committable watermark.
//!
//! Kafka delivers a partition's records in offset order, but handlers for different keys finish
//! in any order. The tracker remembers every offset taken and not yet completed; the watermark
//! is the highest offset below which everything has completed, and the next offset to commit is
//! one past it. An offset that is never completed (the handler never finished) holds the
//! watermark back, so nothing unhandled is ever committed.

use std::collections::VecDeque;

/// Tracks one partition's offsets. Offsets must be taken in increasing order.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    // Offsets in take order, each with whether it has completed.
    window: VecDeque<(i64, bool)>,
    // The highest offset taken so far.
    highest: Option<i64>,
    // The highest offset with everything at or below it completed.
    watermark: Option<i64>,
}

impl OffsetTracker {
    /// Records that `offset` is now being handled. Returns false (and records nothing) if the
    /// offset is not above every offset already taken: a redelivered duplicate.
    pub(crate) fn take(&mut self, offset: i64) -> bool {
        if self.highest.is_some_and(|highest| offset <= highest) {
            return false;
        }
        self.highest = Some(offset);
        self.window.push_back((offset, false));
        true
    }

    /// Marks `offset` as done and advances the watermark. Returns how many taken offsets the
    /// watermark passed (0 if it did not move): offsets now committable.
    pub(crate) fn complete(&mut self, offset: i64) -> usize {
        if let Ok(index) = self.window.binary_search_by_key(&offset, |(o, _)| *o) {
            self.window[index].1 = true;
        }
        let mut passed = 0;
        while let Some(&(front, true)) = self.window.front() {
            self.window.pop_front();
            self.watermark = Some(front);
            passed += 1;
        }
        passed
    }

    /// How many taken offsets the watermark has not passed: running, queued, or finished
    /// behind one that has not.
    pub(crate) fn uncommitted(&self) -> usize {
        self.window.len()
    }

    /// The next offset to commit (watermark + 1), if anything has completed.
    pub(crate) fn next_to_commit(&self) -> Option<i64> {
        self.watermark.map(|w| w + 1)
    }

    /// How many taken offsets have not completed.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.window.iter().filter(|(_, done)| !done).count()
    }

    /// Whether any taken offset is still outstanding.
    pub(crate) fn has_pending(&self) -> bool {
        !self.window.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::OffsetTracker;

    #[test]
    fn commits_only_the_contiguous_prefix() {
        let mut tracker = OffsetTracker::default();
        for offset in 10..15 {
            assert!(tracker.take(offset));
        }
        assert_eq!(tracker.complete(12), 0);
        assert_eq!(tracker.complete(11), 0);
        assert_eq!(tracker.next_to_commit(), None);
        assert_eq!(tracker.uncommitted(), 5);
        assert_eq!(tracker.complete(10), 3);
        assert_eq!(tracker.next_to_commit(), Some(13));
        assert_eq!(tracker.pending(), 2);
        assert_eq!(tracker.uncommitted(), 2);
        tracker.complete(14);
        assert_eq!(tracker.next_to_commit(), Some(13));
        tracker.complete(13);
        assert_eq!(tracker.next_to_commit(), Some(15));
        assert!(!tracker.has_pending());
    }

    #[test]
    fn gaps_in_offsets_do_not_block_progress() {
        let mut tracker = OffsetTracker::default();
        tracker.take(3);
        tracker.take(7);
        tracker.complete(7);
        tracker.complete(3);
        assert_eq!(tracker.next_to_commit(), Some(8));
    }

    #[test]
    fn rejects_redelivered_offsets() {
        let mut tracker = OffsetTracker::default();
        assert!(tracker.take(5));
        assert!(!tracker.take(5));
        assert!(!tracker.take(4));
        assert!(tracker.take(6));
    }

    #[test]
    fn an_uncompleted_offset_holds_the_watermark_back() {
        let mut tracker = OffsetTracker::default();
        tracker.take(0);
        tracker.take(1);
        tracker.complete(1);
        assert_eq!(tracker.next_to_commit(), None);
        assert!(tracker.has_pending());
    }
}
