//! Lookups started when a message is received, waiting for its handler attempt to claim them.
//!
//! [`Dedup`](super::Dedup) asks its store to look a message's key up as soon as the consumer
//! receives the message (see [`Handler::prefetch`](crate::Handler::prefetch)), while the
//! message still waits for its key's turn and a handler permit. The pending answer is parked
//! here under its key until the attempt takes it. A message that never runs (its partition was
//! revoked, its key was deferred) leaves its entry behind, so the table is a bounded queue: once
//! `capacity` entries were parked, each new one pushes out the oldest, and an attempt that finds
//! nothing looks its key up itself.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use super::coalesce::{Answer, Coalescer, Flush};
use super::DedupKey;
use crate::error::Result;

/// Reads through a [`Coalescer`], each started early when it can be.
pub(super) struct Reads<F: Flush<Output = bool>> {
    lookups: Coalescer<F>,
    parked: Lookahead<Answer<bool>>,
}

impl<F: Flush<Output = bool>> Reads<F> {
    /// Reads through `lookups`, parking up to `capacity` early answers.
    pub(super) fn new(lookups: Coalescer<F>, capacity: usize) -> Self {
        Self {
            lookups,
            parked: Lookahead::new(capacity),
        }
    }

    /// Queues a read of `key` without waiting and parks its answer for [`read`](Self::read).
    /// Does nothing when the flush task's queue is full: the read then waits for its turn.
    pub(super) fn start(&self, key: DedupKey) {
        if let Some(answer) = self.lookups.start_call(key) {
            self.parked.park(key, answer);
        }
    }

    /// Whether `key` has a row: the parked answer when there is one, else a read now. A
    /// parked read that failed fails this one, as a read of its own would have.
    pub(super) async fn read(&self, key: DedupKey) -> Result<bool> {
        if let Some(answer) = self.parked.take(key) {
            if let Ok(answer) = answer.await {
                return answer;
            }
            // The flush task is gone; `call` says so.
        }
        self.lookups.call(key).await
    }
}

/// Pending answers by key, at most `capacity` of them.
struct Lookahead<T> {
    capacity: usize,
    parked: Mutex<Parked<T>>,
}

struct Parked<T> {
    answers: HashMap<DedupKey, T, foldhash::fast::RandomState>,
    /// Keys in the order they were parked. A key taken since stays here until it reaches the
    /// front, so this never holds more than `capacity` keys, and `answers` no more than this.
    order: VecDeque<DedupKey>,
}

impl<T> Lookahead<T> {
    /// A table of at most `capacity` (at least one) pending answers.
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            parked: Mutex::new(Parked {
                answers: HashMap::default(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Parks `answer` for `key`, replacing one parked earlier for the same key (both answer
    /// the same question), and pushing out the oldest entry when full.
    fn park(&self, key: DedupKey, answer: T) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if parked.order.len() >= self.capacity {
            if let Some(oldest) = parked.order.pop_front() {
                parked.answers.remove(&oldest);
            }
        }
        parked.order.push_back(key);
        parked.answers.insert(key, answer);
    }

    /// The answer parked for `key`, if any, which is no longer parked afterwards.
    fn take(&self, key: DedupKey) -> Option<T> {
        self.parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .answers
            .remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> DedupKey {
        DedupKey::new("group", "topic", "key", &n.to_string(), "v1")
    }

    #[test]
    fn an_answer_is_taken_once() {
        let table = Lookahead::new(4);
        table.park(key(1), "one");
        assert_eq!(table.take(key(1)), Some("one"));
        assert_eq!(table.take(key(1)), None);
        assert_eq!(table.take(key(2)), None);
    }

    #[test]
    fn a_full_table_forgets_its_oldest_entry() {
        let table = Lookahead::new(3);
        for n in 1..=5 {
            table.park(key(n), n);
        }
        assert_eq!(table.take(key(1)), None);
        assert_eq!(table.take(key(2)), None);
        assert_eq!(
            [3, 4, 5].map(|n| table.take(key(n))),
            [Some(3), Some(4), Some(5)]
        );
    }

    #[test]
    fn unclaimed_entries_never_grow_it_past_capacity() {
        let table = Lookahead::new(8);
        for n in 0..10_000 {
            table.park(key(n), n);
            if n % 2 == 0 {
                table.take(key(n));
            }
        }
        let parked = table.parked.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            parked.order.len() <= 8,
            "{} keys in order",
            parked.order.len()
        );
        assert!(
            parked.answers.len() <= 8,
            "{} answers",
            parked.answers.len()
        );
    }

    #[test]
    fn parking_a_key_again_keeps_the_newer_answer() {
        let table = Lookahead::new(4);
        table.park(key(1), "first");
        table.park(key(1), "second");
        assert_eq!(table.take(key(1)), Some("second"));
    }
}
