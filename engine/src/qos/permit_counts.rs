//! The scheduler's free permits and queued waiters, counted together in one atomic word.
//!
//! Every handler takes and gives back a permit. While nobody waits, fairness has nothing to
//! decide, so both steps are a single compare-and-swap here and the scheduler's lock stays
//! untouched: with many workers the lock, not the queue, was the cost. Only a task that has to
//! queue, and a release that finds a queue, take the lock.
//!
//! One word keeps the two counts consistent: a permit is never put back as free while a waiter
//! is counted, and a task never queues while a permit is free. Waiters are counted and
//! uncounted only under the scheduler's lock, in the same critical section that pushes or pops
//! them, so a release that sees a waiter and then takes the lock finds it queued.

use std::sync::atomic::{AtomicU64, Ordering};

/// One waiter, in the word's upper half; free permits are the lower half.
const ONE_WAITER: u64 = 1 << 32;
const FREE: u64 = ONE_WAITER - 1;

/// Free permits and waiters; see the module docs.
#[derive(Debug)]
pub(super) struct PermitCounts(AtomicU64);

impl PermitCounts {
    /// `free` permits (capped at `u32::MAX`) and no waiters.
    pub(super) fn new(free: usize) -> Self {
        let free = u64::try_from(free).unwrap_or(FREE).min(FREE);
        Self(AtomicU64::new(free))
    }

    /// Permits nobody holds.
    pub(super) fn free(&self) -> usize {
        to_usize(self.0.load(Ordering::Acquire) & FREE)
    }

    /// Tasks counted as queued.
    pub(super) fn waiting(&self) -> usize {
        to_usize(self.0.load(Ordering::Acquire) >> 32)
    }

    /// Takes a free permit, unless none is free or somebody waits (who comes first).
    pub(super) fn try_take(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word & FREE > 0 && word < ONE_WAITER).then(|| word - 1)
            })
            .is_ok()
    }

    /// Takes a free permit as [`try_take`](Self::try_take) does (`true`), or else counts the
    /// caller as a waiter (`false`), who must then queue before releasing the lock.
    /// Call under the scheduler's lock.
    pub(super) fn take_or_wait(&self) -> bool {
        let before = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                Some(if word & FREE > 0 && word < ONE_WAITER {
                    word - 1
                } else {
                    word + ONE_WAITER
                })
            });
        let word = before.unwrap_or_else(|word| word);
        word & FREE > 0 && word < ONE_WAITER
    }

    /// Gives a permit back if nobody waits (`true`); otherwise leaves it to the caller to hand
    /// it to a waiter under the lock.
    pub(super) fn put_back_unless_waited_for(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word < ONE_WAITER).then(|| word + 1)
            })
            .is_ok()
    }

    /// Uncounts a waiter taken off the queue. Call under the scheduler's lock.
    pub(super) fn unwait(&self) {
        self.0.fetch_sub(ONE_WAITER, Ordering::AcqRel);
    }

    /// Adds a free permit whatever the waiters. Call under the scheduler's lock, once the
    /// queue is empty of live waiters.
    pub(super) fn put_back(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

fn to_usize(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::PermitCounts;

    #[test]
    fn permits_are_taken_and_put_back_while_nobody_waits() {
        let counts = PermitCounts::new(2);
        assert!(counts.try_take());
        assert!(counts.try_take());
        assert!(!counts.try_take(), "both permits are out");
        assert!(counts.put_back_unless_waited_for());
        assert_eq!((counts.free(), counts.waiting()), (1, 0));
    }

    #[test]
    fn a_waiter_comes_before_a_free_permit() {
        let counts = PermitCounts::new(1);
        assert!(counts.try_take());
        assert!(!counts.take_or_wait(), "no permit free: the caller waits");
        assert_eq!(counts.waiting(), 1);
        assert!(
            !counts.put_back_unless_waited_for(),
            "a release with a waiter must hand over instead"
        );
        assert_eq!(counts.free(), 0);
        // The hand-over: the waiter leaves the queue holding the permit.
        counts.unwait();
        assert_eq!((counts.free(), counts.waiting()), (0, 0));
    }

    #[test]
    fn racing_takers_never_hold_more_than_there_are_and_lose_none() {
        let counts = PermitCounts::new(3);
        let held = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        if counts.try_take() {
                            let now = held.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                            assert!(now <= 3, "{now} holders of 3 permits");
                            held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                            assert!(counts.put_back_unless_waited_for());
                        }
                    }
                });
            }
        });
        assert_eq!((counts.free(), counts.waiting()), (3, 0));
    }

    #[test]
    fn more_permits_than_the_word_holds_are_capped() {
        let counts = PermitCounts::new(usize::MAX);
        assert_eq!(counts.free(), u32::MAX as usize);
        assert!(counts.try_take());
        assert_eq!(counts.waiting(), 0);
    }
}
