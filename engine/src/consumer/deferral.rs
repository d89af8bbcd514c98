//! Deferred messages: per-key backlogs that let a partition move past a key that keeps failing.
//!
//! When the handler stack marks a failure as deferred ([`HandlerError::is_deferred`]), the
//! message's offset goes into its key's backlog, in the store first and then in memory, and the
//! offset commits. Later messages of that key join the backlog without running, in order, and
//! commit too. A retry comes due after `defer_base`, doubling up to `defer_max_delay`; the
//! partition task then queues it behind the key like any event. The retry reads the message
//! back from Kafka by offset and runs it again; on success the next offset of the backlog comes
//! due at once, and when the backlog empties the key runs normally again. An offset Kafka no
//! longer has, a record that cannot be decoded, or a permanent failure moves on, logged.
//!
//! A partition's backlogs are read from the store once, when it is assigned, so whether a key
//! is deferred is a memory lookup. Writes go through to the store before anything commits, so
//! a restart or rebalance loses nothing: the next owner reads the backlogs and carries on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::defer::{Backlog, DeferStore};
use crate::kafka::loader::{LoadError, LoadedRecord, MessageLoader};
use crate::timers::TimerSegment;

/// How long a failed store write waits before it is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How long one store request may take. Without a bound, a request to a Cassandra that stopped
/// answering (rather than refusing) would hang the key, and the partition's drain with it.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What deferral needs, per consumer.
pub(crate) struct Deferral {
    pub(crate) store: Arc<dyn DeferStore>,
    pub(crate) loader: MessageLoader,
    pub(crate) base: Duration,
    pub(crate) max_delay: Duration,
}

impl Deferral {
    /// The delay before retry number `retries` (1 for the first).
    pub(crate) fn delay(&self, retries: u32) -> Duration {
        let doublings = retries.saturating_sub(1).min(32);
        self.base
            .checked_mul(1_u32 << doublings.min(31))
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Reads the record at `offset` back from Kafka.
    pub(crate) async fn load(
        &self,
        segment: &TimerSegment,
        offset: i64,
    ) -> Result<Arc<LoadedRecord>, LoadError> {
        self.loader
            .load(segment.topic(), segment.partition(), offset)
            .await
    }

    /// Runs a store write until it succeeds; `false` if `stop` fired first.
    pub(crate) async fn write<F, Fut>(&self, stop: &CancellationToken, what: &str, write: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = crate::error::Result<()>>,
    {
        loop {
            let error = match tokio::time::timeout(STORE_TIMEOUT, write()).await {
                Ok(Ok(())) => return true,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {STORE_TIMEOUT:?}"),
            };
            tracing::warn!(%error, "could not {what} in the deferral store; retrying");
            tokio::select! {
                () = tokio::time::sleep(STORE_RETRY) => {}
                () = stop.cancelled() => return false,
            }
        }
    }
}

/// One key's deferred offsets, oldest first.
#[derive(Debug)]
struct KeyBacklog {
    offsets: VecDeque<i64>,
    retries: u32,
    due: Instant,
    /// A retry for this key is queued or running; it is not queued twice.
    queued: bool,
}

/// A partition's backlogs, shared by its task (which schedules retries) and its running events
/// (which read and change them, one event per key at a time).
#[derive(Debug, Default)]
pub(crate) struct Backlogs {
    inner: Mutex<Inner>,
    /// Keys with a backlog, readable without the lock: the common case, none, costs nothing.
    keys: AtomicUsize,
    /// Bumped whenever a retry time may have changed, so the partition task re-reads the next
    /// one only then.
    changes: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<Arc<str>, KeyBacklog>,
    /// Retry times; an entry is stale when its key's `due` has since changed.
    due: BinaryHeap<Reverse<(Instant, Arc<str>)>>,
}

/// What a retry found at the head of its key's backlog.
pub(crate) struct Head {
    pub(crate) offset: i64,
    pub(crate) retries: u32,
}

impl Backlogs {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the key count and a change after `inner` was modified.
    fn changed(&self, inner: &Inner) {
        self.keys.store(inner.keys.len(), Ordering::Release);
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// A number that changes whenever a retry time may have: compare it before re-reading
    /// [`Backlogs::next_due`].
    pub(crate) fn generation(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Takes over what the store held for this partition.
    pub(crate) fn restore(&self, backlogs: Vec<Backlog>) {
        let now_ms = epoch_ms();
        let now = Instant::now();
        let mut inner = self.lock();
        for backlog in backlogs {
            if backlog.offsets.is_empty() {
                continue;
            }
            let wait = u64::try_from(backlog.next_retry_ms.saturating_sub(now_ms)).unwrap_or(0);
            let key: Arc<str> = backlog.key.into();
            let due = now + Duration::from_millis(wait);
            inner.due.push(Reverse((due, Arc::clone(&key))));
            inner.keys.insert(
                key,
                KeyBacklog {
                    offsets: backlog.offsets.into(),
                    retries: backlog.retries,
                    due,
                    queued: false,
                },
            );
        }
        self.changed(&inner);
    }

    /// Keys deferred now.
    pub(crate) fn len(&self) -> usize {
        self.keys.load(Ordering::Acquire)
    }

    /// Whether `key` has a backlog, so its messages must join it.
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.len() > 0 && self.lock().keys.contains_key(key)
    }

    /// Adds `offset` to `key`'s backlog; a new backlog comes due after `delay`.
    pub(crate) fn push(&self, key: &Arc<str>, offset: i64, delay: Duration) {
        let mut inner = self.lock();
        if let Some(backlog) = inner.keys.get_mut(key) {
            backlog.offsets.push_back(offset);
            return;
        }
        let due = Instant::now() + delay;
        inner.due.push(Reverse((due, Arc::clone(key))));
        inner.keys.insert(
            Arc::clone(key),
            KeyBacklog {
                offsets: VecDeque::from([offset]),
                retries: 0,
                due,
                queued: false,
            },
        );
        self.changed(&inner);
    }

    /// The next retry time, if any backlog waits.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let mut inner = self.lock();
        loop {
            let Reverse((due, key)) = inner.due.peek()?.clone();
            match inner.keys.get(&key) {
                Some(backlog) if backlog.due == due && !backlog.queued => return Some(due),
                _ => {
                    inner.due.pop();
                }
            }
        }
    }

    /// Keys whose retry is due at `now`, marked as queued.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<Arc<str>> {
        let mut inner = self.lock();
        let mut keys = Vec::new();
        while let Some(Reverse((due, key))) = inner.due.peek().cloned() {
            if due > now {
                break;
            }
            inner.due.pop();
            if let Some(backlog) = inner.keys.get_mut(&key) {
                if backlog.due == due && !backlog.queued {
                    backlog.queued = true;
                    keys.push(key);
                }
            }
        }
        self.changed(&inner);
        keys
    }

    /// The offset a retry of `key` should run.
    pub(crate) fn head(&self, key: &str) -> Option<Head> {
        let inner = self.lock();
        let backlog = inner.keys.get(key)?;
        Some(Head {
            offset: *backlog.offsets.front()?,
            retries: backlog.retries,
        })
    }

    /// The head is done with; returns whether offsets remain (the next is due at once).
    pub(crate) fn advance(&self, key: &Arc<str>) -> bool {
        let mut inner = self.lock();
        let Some(backlog) = inner.keys.get_mut(key) else {
            return false;
        };
        backlog.offsets.pop_front();
        if backlog.offsets.is_empty() {
            inner.keys.remove(key);
            self.changed(&inner);
            return false;
        }
        let due = Instant::now();
        backlog.retries = 0;
        backlog.due = due;
        backlog.queued = false;
        inner.due.push(Reverse((due, Arc::clone(key))));
        self.changed(&inner);
        true
    }

    /// The head failed again: it comes due after `delay`, as retry `retries`.
    pub(crate) fn retry_later(&self, key: &Arc<str>, retries: u32, delay: Duration) {
        let mut inner = self.lock();
        let due = Instant::now() + delay;
        if let Some(backlog) = inner.keys.get_mut(key) {
            backlog.retries = retries;
            backlog.due = due;
            backlog.queued = false;
            inner.due.push(Reverse((due, Arc::clone(key))));
        }
        self.changed(&inner);
    }
}

/// Milliseconds since the epoch, for the store's retry times.
pub(crate) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The epoch time `delay` from now.
pub(crate) fn epoch_ms_after(delay: Duration) -> i64 {
    epoch_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Backlogs;

    #[tokio::test(start_paused = true)]
    async fn a_backlog_comes_due_once_then_moves_through_its_offsets() {
        let backlogs = Backlogs::default();
        let key: std::sync::Arc<str> = "k".into();
        backlogs.push(&key, 5, Duration::from_secs(1));
        backlogs.push(&key, 9, Duration::from_secs(1));
        assert!(backlogs.holds("k"));
        let due = backlogs
            .next_due()
            .unwrap_or_else(tokio::time::Instant::now);
        assert!(backlogs.take_due(due - Duration::from_millis(1)).is_empty());
        assert_eq!(backlogs.take_due(due), std::slice::from_ref(&key));
        assert!(backlogs.take_due(due).is_empty(), "queued once");
        assert_eq!(backlogs.head("k").map(|h| h.offset), Some(5));

        backlogs.retry_later(&key, 1, Duration::from_secs(2));
        assert_eq!(backlogs.head("k").map(|h| h.retries), Some(1));
        assert!(backlogs.advance(&key));
        assert_eq!(
            backlogs.head("k").map(|h| (h.offset, h.retries)),
            Some((9, 0))
        );
        assert_eq!(
            backlogs.take_due(tokio::time::Instant::now()),
            std::slice::from_ref(&key)
        );
        assert!(!backlogs.advance(&key));
        assert!(!backlogs.holds("k"));
        assert_eq!(backlogs.next_due(), None);
    }
}
