//! A partition's deferred backlogs in memory: which keys are deferred, what waits in each
//! key's backlog, and when each key's retry comes due (see [`super::deferral`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::consumer::deferral::epoch_ms;
use crate::defer::{Backlog, DeferredTimer};
use crate::timers::TimerTime;

/// One entry of a key's backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Deferred {
    Offset(i64),
    Timer(DeferredTimer),
}

impl Deferred {
    /// Where the entry belongs in its key's backlog: an offset at its own place, a timer just
    /// after the offset it was deferred behind, timers among themselves by time.
    fn place(&self) -> (i64, bool, TimerTime) {
        match self {
            Deferred::Offset(offset) => (*offset, false, TimerTime::MIN),
            Deferred::Timer(timer) => (timer.after_offset, true, timer.time),
        }
    }

    fn timer_at(&self, time: TimerTime) -> bool {
        matches!(self, Deferred::Timer(timer) if timer.time == time)
    }
}

/// One key's deferred entries, oldest first.
#[derive(Debug)]
struct KeyBacklog {
    entries: VecDeque<Deferred>,
    retries: u32,
    due: Instant,
    /// A retry for this key is queued or running; it is not queued twice.
    queued: bool,
}

impl KeyBacklog {
    fn new(entries: VecDeque<Deferred>, retries: u32, due: Instant) -> Self {
        Self {
            entries,
            retries,
            due,
            queued: false,
        }
    }

    /// Whether the head is a timer being retried now: it is firing, so it is not listed.
    fn firing(&self, time: TimerTime) -> bool {
        self.queued && self.entries.front().is_some_and(|head| head.timer_at(time))
    }
}

/// A partition's backlogs, shared by its task (which schedules retries), its running events
/// (which read and change them, one event per key at a time) and its handlers' contexts
/// (which list and remove deferred timers).
#[derive(Debug, Default)]
pub(crate) struct Backlogs {
    inner: Mutex<Inner>,
    /// Keys with a backlog, readable without the lock: the common case, none, costs nothing.
    keys: AtomicUsize,
    /// Bumped whenever a retry time may have changed, so the partition task re-reads the next
    /// one only then.
    changes: AtomicU64,
    /// Restored keys the stream has not yet passed (`Inner::restored`), readable without the
    /// lock.
    restored: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<Arc<str>, KeyBacklog>,
    /// Retry times; an entry is stale when its key's `due` has since changed.
    due: BinaryHeap<Reverse<(Instant, Arc<str>)>>,
    /// For each key restored from the store, the place of its last entry then: the stream may
    /// redeliver anything up to it. Forgotten once the stream passes it, so it never holds
    /// more keys than the store handed over.
    restored: HashMap<Arc<str>, i64>,
}

/// What a message just received from the stream does (see [`Backlogs::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Its key has no backlog: it runs.
    Run,
    /// It joins its key's backlog.
    Join,
    /// A redelivery of a message its key's backlog holds or has handled: it completes as is.
    Redelivered,
}

/// What a retry found at the head of its key's backlog.
pub(crate) struct Head {
    pub(crate) entry: Deferred,
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

    /// Takes over what the store held for this partition, each key's messages and timers
    /// merged back into the order they were deferred in.
    pub(crate) fn restore(&self, backlogs: Vec<Backlog>) {
        let now_ms = epoch_ms();
        let now = Instant::now();
        let mut inner = self.lock();
        for backlog in backlogs {
            let mut entries: Vec<Deferred> = backlog
                .offsets
                .iter()
                .copied()
                .map(Deferred::Offset)
                .chain(backlog.timers.into_iter().map(Deferred::Timer))
                .collect();
            if entries.is_empty() {
                continue;
            }
            entries.sort_by_key(Deferred::place);
            let wait = u64::try_from(backlog.next_retry_ms.saturating_sub(now_ms)).unwrap_or(0);
            let key: Arc<str> = backlog.key.into();
            if let Some(last) = entries.last() {
                inner.restored.insert(Arc::clone(&key), last.place().0);
            }
            let due = now + Duration::from_millis(wait);
            inner.due.push(Reverse((due, Arc::clone(&key))));
            let entries = KeyBacklog::new(entries.into(), backlog.retries, due);
            inner.keys.insert(key, entries);
        }
        self.restored.store(inner.restored.len(), Ordering::Release);
        self.changed(&inner);
    }

    /// Keys deferred now.
    pub(crate) fn len(&self) -> usize {
        self.keys.load(Ordering::Acquire)
    }

    /// Whether `key` has a backlog, so its messages and due timers must join it.
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.len() > 0 && self.lock().keys.contains_key(key)
    }

    /// What becomes of `key`'s message at `offset`, just received from the stream.
    ///
    /// Every message of a deferred key joins its backlog in offset order, so one at or before
    /// the place of the backlog's last entry was parked there, or handled before the key was
    /// deferred. Only a redelivery brings one: a partition's next owner restarts at the last
    /// commit, which can trail the backlogs the store hands it, even after this owner has
    /// worked through them. Such a message must not run a second time, out of order.
    pub(crate) fn admit(&self, key: &str, offset: i64) -> Admission {
        if self.len() == 0 && self.restored.load(Ordering::Acquire) == 0 {
            return Admission::Run;
        }
        let mut inner = self.lock();
        let last = inner
            .keys
            .get(key)
            .map(|backlog| backlog.entries.back().map_or(i64::MIN, |e| e.place().0));
        let through = inner.restored.get(key).copied();
        if through.is_some_and(|through| offset > through) {
            // The stream has passed what the store knew of this key.
            inner.restored.remove(key);
            self.restored.store(inner.restored.len(), Ordering::Release);
        }
        if last.max(through).is_some_and(|covered| offset <= covered) {
            Admission::Redelivered
        } else if last.is_some() {
            Admission::Join
        } else {
            Admission::Run
        }
    }

    /// Whether `key`'s backlog holds a timer at `time`.
    pub(crate) fn holds_timer(&self, key: &str, time: TimerTime) -> bool {
        self.len() > 0
            && self
                .lock()
                .keys
                .get(key)
                .is_some_and(|backlog| backlog.entries.iter().any(|e| e.timer_at(time)))
    }

    /// What a timer joining `key`'s backlog now is placed after: the place of the backlog's
    /// last entry, or -1 for a new backlog.
    pub(crate) fn timer_after(&self, key: &str) -> i64 {
        self.lock()
            .keys
            .get(key)
            .and_then(|backlog| backlog.entries.back())
            .map_or(-1, |last| last.place().0)
    }

    /// Adds `entry` to `key`'s backlog; a new backlog comes due after `delay`. An entry goes
    /// to its place (a timer made due late can sort before earlier timers) but never ahead of
    /// the head, whose retry may be under way.
    pub(crate) fn push(&self, key: &Arc<str>, entry: Deferred, delay: Duration) {
        let mut inner = self.lock();
        if let Some(backlog) = inner.keys.get_mut(key) {
            let entries = &mut backlog.entries;
            let at = entries
                .iter()
                .rposition(|e| e.place() <= entry.place())
                .map_or(1, |i| i + 1);
            entries.insert(at, entry);
            return;
        }
        let due = Instant::now() + delay;
        inner.due.push(Reverse((due, Arc::clone(key))));
        let backlog = KeyBacklog::new(VecDeque::from([entry]), 0, due);
        inner.keys.insert(Arc::clone(key), backlog);
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

    /// The entry a retry of `key` should run.
    pub(crate) fn head(&self, key: &str) -> Option<Head> {
        let inner = self.lock();
        let backlog = inner.keys.get(key)?;
        Some(Head {
            entry: backlog.entries.front()?.clone(),
            retries: backlog.retries,
        })
    }

    /// The head is done with; returns whether entries remain (the next is due at once).
    pub(crate) fn advance(&self, key: &Arc<str>) -> bool {
        let mut inner = self.lock();
        let Some(backlog) = inner.keys.get_mut(key) else {
            return false;
        };
        backlog.entries.pop_front();
        if backlog.entries.is_empty() {
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

    /// `key`'s deferred timer times, ascending, without the one being retried now.
    pub(crate) fn timers(&self, key: &str) -> Vec<TimerTime> {
        if self.len() == 0 {
            return Vec::new();
        }
        let inner = self.lock();
        let Some(backlog) = inner.keys.get(key) else {
            return Vec::new();
        };
        let mut times: Vec<TimerTime> = backlog
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Deferred::Timer(timer) if !backlog.firing(timer.time) => Some(timer.time),
                _ => None,
            })
            .collect();
        times.sort_unstable();
        times
    }

    /// Removes `key`'s deferred timer at `time` (unless it is being retried now). A backlog
    /// left empty is dropped, and with it the key's retry; a removed head makes the next entry
    /// due at once.
    pub(crate) fn remove_timer(&self, key: &Arc<str>, time: TimerTime) {
        let mut inner = self.lock();
        let Some(backlog) = inner.keys.get_mut(key) else {
            return;
        };
        if backlog.firing(time) {
            return;
        }
        let Some(at) = backlog.entries.iter().position(|e| e.timer_at(time)) else {
            return;
        };
        backlog.entries.remove(at);
        if backlog.entries.is_empty() {
            inner.keys.remove(key);
        } else if at == 0 && !backlog.queued {
            let due = Instant::now();
            backlog.retries = 0;
            backlog.due = due;
            inner.due.push(Reverse((due, Arc::clone(key))));
        }
        self.changed(&inner);
    }
}

#[cfg(test)]
#[path = "backlogs_tests.rs"]
mod tests;
