//! One partition's pending loads and where its reads stand: the seek decision and the
//! deleted-offset rule, with no Kafka in sight.
//!
//! Loads wait per offset, so concurrent loads of one offset share one read. A partition reads
//! forward from its position when the lowest waiting offset is at most `discard_threshold`
//! records ahead; otherwise, or when the position is unknown or already past it, it seeks.
//!
//! After a seek to `N`, the first record read is at some offset `M`. Kafka returns the first
//! record at or after `N`, so when `M > N` every offset in `[N, M)` is gone (deleted by
//! retention or compaction) and its loads are answered as deleted. The same holds for any gap
//! while reading forward. Loads that arrive below the seek point are not in that range: they
//! trigger a seek of their own. `M < N` means the seek fell past the end of the log and the
//! consumer restarted from the beginning; the worker checks that against the watermarks.

use std::collections::BTreeMap;
use std::time::Instant;

/// A load waiting for its record: when it gives up, and where the answer goes.
#[derive(Debug)]
pub(super) struct Waiter<R> {
    pub(super) deadline: Instant,
    pub(super) reply: R,
}

/// What the worker should do for a partition next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Keep reading (or wait for the seek under way).
    Read,
    /// Seek to this offset.
    Seek(i64),
}

/// What a record meant for a partition's loads.
#[derive(Debug)]
pub(super) enum Read<R> {
    /// The record is where reading stood or after it: `found` waited for it, and `deleted`
    /// waited for offsets in the gap before it (each with its offset).
    Advanced {
        deleted: Vec<(i64, Waiter<R>)>,
        found: Vec<Waiter<R>>,
    },
    /// The first record after seeking to `sought` lies before it.
    BeforeSeek { sought: i64 },
}

/// The loads waiting on one partition and the state of its reads.
#[derive(Debug)]
pub(super) struct Pending<R> {
    waiters: BTreeMap<i64, Vec<Waiter<R>>>,
    count: usize,
    /// The offset the next record read should have; `None` until a record follows a seek.
    position: Option<i64>,
    /// The offset last sought, until a record arrives from there.
    sought: Option<i64>,
    /// Whether the partition is in the loader's assignment.
    pub(super) assigned: bool,
}

impl<R> Default for Pending<R> {
    fn default() -> Self {
        Self {
            waiters: BTreeMap::new(),
            count: 0,
            position: None,
            sought: None,
            assigned: false,
        }
    }
}

impl<R> Pending<R> {
    /// Adds a load of `offset`.
    pub(super) fn add(&mut self, offset: i64, waiter: Waiter<R>) {
        self.waiters.entry(offset).or_default().push(waiter);
        self.count += 1;
    }

    /// How many loads are waiting.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Whether no load is waiting.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Where to read from next for the lowest waiting offset.
    pub(super) fn next_step(&self, discard_threshold: u64) -> Step {
        let Some(&target) = self.waiters.keys().next() else {
            return Step::Read;
        };
        let threshold = i64::try_from(discard_threshold).unwrap_or(i64::MAX);
        match (self.sought, self.position) {
            (Some(sought), _) if target >= sought => Step::Read,
            (Some(_), _) | (None, None) => Step::Seek(target),
            (None, Some(position))
                if position > target || target.saturating_sub(position) > threshold =>
            {
                Step::Seek(target)
            }
            (None, Some(_)) => Step::Read,
        }
    }

    /// Notes that reading restarts at `offset` (a seek or an assignment).
    pub(super) fn sought(&mut self, offset: i64) {
        self.sought = Some(offset);
        self.position = None;
    }

    /// Notes that reading is no longer positioned (the partition left the assignment).
    pub(super) fn unpositioned(&mut self) {
        self.sought = None;
        self.position = None;
    }

    /// Accepts that reading restarted at `offset`, below the offset sought (the seek fell past
    /// the end of the log).
    pub(super) fn restarted_at(&mut self, offset: i64) {
        self.sought = None;
        self.position = Some(offset);
    }

    /// Takes in the record at `offset`.
    pub(super) fn on_record(&mut self, offset: i64) -> Read<R> {
        let start = self.sought.or(self.position).unwrap_or(offset);
        if offset < start {
            if let Some(sought) = self.sought {
                return Read::BeforeSeek { sought };
            }
            // A record read before (a duplicate delivery): nothing waits for it any more.
            return Read::Advanced {
                deleted: Vec::new(),
                found: self.take_exact(offset),
            };
        }
        self.sought = None;
        self.position = Some(offset.saturating_add(1));
        Read::Advanced {
            deleted: self.take_range(start, offset),
            found: self.take_exact(offset),
        }
    }

    /// Takes every load of an offset at or after `from`.
    pub(super) fn take_from(&mut self, from: i64) -> Vec<(i64, Waiter<R>)> {
        self.take_range(from, i64::MAX)
    }

    /// Takes every load whose deadline has passed, with its offset.
    pub(super) fn take_expired(&mut self, now: Instant) -> Vec<(i64, Waiter<R>)> {
        let mut expired = Vec::new();
        self.waiters.retain(|&offset, waiters| {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(waiters)
                .into_iter()
                .partition(|w| w.deadline <= now);
            expired.extend(gone.into_iter().map(|w| (offset, w)));
            *waiters = kept;
            !waiters.is_empty()
        });
        self.count -= expired.len();
        expired
    }

    /// Drops the loads `keep` rejects (their callers stopped waiting); returns how many.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&R) -> bool) -> usize {
        let before = self.count;
        self.waiters.retain(|_, waiters| {
            waiters.retain(|w| keep(&w.reply));
            !waiters.is_empty()
        });
        self.count = self.waiters.values().map(Vec::len).sum();
        before - self.count
    }

    /// Takes the loads of offsets in `[from, until)`, with their offsets.
    fn take_range(&mut self, from: i64, until: i64) -> Vec<(i64, Waiter<R>)> {
        if from >= until {
            return Vec::new();
        }
        let mut range = self.waiters.split_off(&from);
        let mut after = range.split_off(&until);
        self.waiters.append(&mut after);
        let taken: Vec<_> = range
            .into_iter()
            .flat_map(|(offset, waiters)| waiters.into_iter().map(move |w| (offset, w)))
            .collect();
        self.count -= taken.len();
        taken
    }

    /// Takes the loads of `offset`.
    fn take_exact(&mut self, offset: i64) -> Vec<Waiter<R>> {
        let taken = self.waiters.remove(&offset).unwrap_or_default();
        self.count -= taken.len();
        taken
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
