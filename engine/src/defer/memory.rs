//! Deferred backlogs held in memory, for mock mode and tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;

use super::{Backlog, DeferStore, DeferredTimer};
use crate::error::Result;
use crate::timers::{TimerSegment, TimerTime};
use crate::trace::Continuation;

/// A [`DeferStore`] in process memory.
///
/// [`MemoryDeferStore::shared`] is the one instance every mock-mode consumer of the process
/// uses, like the mock cluster, so a consumer that takes a partition over in the same process
/// (after a rebalance or a restart of the consumer) finds the backlog the previous owner left.
/// Nothing survives the process.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::defer::MemoryDeferStore;
///
/// let store = MemoryDeferStore::shared();
/// assert!(Arc::ptr_eq(&store, &MemoryDeferStore::shared()));
/// ```
#[derive(Default)]
pub struct MemoryDeferStore {
    segments: Mutex<HashMap<Arc<str>, BTreeMap<String, Entry>>>,
}

/// A key's offsets, timers (time to `after_offset` and trace) and retry record. An entry with neither
/// offsets nor timers holds only a retry record (rescheduled before any append), which
/// [`DeferStore::load`] leaves out.
#[derive(Default)]
struct Entry {
    offsets: BTreeSet<i64>,
    timers: BTreeMap<TimerTime, (i64, Continuation)>,
    retries: u32,
    next_retry_ms: i64,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.timers.is_empty()
    }
}

/// A process-wide store and the process that created it.
type Slot = Mutex<Option<(u32, Arc<MemoryDeferStore>)>>;

impl MemoryDeferStore {
    /// The store every mock-mode consumer in this process shares. A process forked from one
    /// that used it gets a new, empty store (as it gets a new mock cluster, whose records the
    /// old backlog would point into).
    pub fn shared() -> Arc<Self> {
        static SHARED: Slot = Mutex::new(None);
        Self::shared_in(&SHARED, std::process::id())
    }

    fn shared_in(slot: &Slot, pid: u32) -> Arc<Self> {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some((owner, store)) if *owner == pid => Arc::clone(store),
            _ => {
                let store = Arc::new(Self::default());
                *slot = Some((pid, Arc::clone(&store)));
                store
            }
        }
    }

    /// How many offsets and timers are deferred, over all segments and keys.
    pub fn len(&self) -> usize {
        self.lock()
            .values()
            .flat_map(BTreeMap::values)
            .map(|entry| entry.offsets.len() + entry.timers.len())
            .sum()
    }

    /// Whether no offset or timer is deferred.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, BTreeMap<String, Entry>>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, segment: &TimerSegment, key: &str, change: impl FnOnce(&mut Entry)) {
        let mut segments = self.lock();
        let keys = segments.entry(segment.id().into()).or_default();
        change(keys.entry(key.to_owned()).or_default());
    }

    /// Applies `change` to `key`'s entry if there is one, then forgets the key if it holds
    /// nothing more, retry record included.
    fn shrink(&self, segment: &TimerSegment, key: &str, change: impl FnOnce(&mut Entry)) {
        let mut segments = self.lock();
        if let Some(keys) = segments.get_mut(segment.id()) {
            let emptied = keys.get_mut(key).is_some_and(|entry| {
                change(entry);
                entry.is_empty()
            });
            if emptied {
                keys.remove(key);
            }
            if keys.is_empty() {
                segments.remove(segment.id());
            }
        }
    }
}

impl fmt::Debug for MemoryDeferStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDeferStore")
            .field("len", &self.len())
            .finish()
    }
}

impl DeferStore for MemoryDeferStore {
    fn load<'a>(&'a self, segment: &'a TimerSegment) -> BoxFuture<'a, Result<Vec<Backlog>>> {
        let backlogs = self
            .lock()
            .get(segment.id())
            .map(|keys| {
                keys.iter()
                    .filter(|(_, entry)| !entry.is_empty())
                    .map(|(key, entry)| Backlog {
                        key: key.clone(),
                        offsets: entry.offsets.iter().copied().collect(),
                        timers: entry
                            .timers
                            .iter()
                            .map(|(&time, (after_offset, trace))| {
                                DeferredTimer::new(time, *after_offset).with_trace(trace.clone())
                            })
                            .collect(),
                        retries: entry.retries,
                        next_retry_ms: entry.next_retry_ms,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(async { Ok(backlogs) })
    }

    fn append<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>> {
        self.change(segment, key, |entry| {
            entry.offsets.insert(offset);
        });
        Box::pin(async { Ok(()) })
    }

    fn reschedule<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        retries: u32,
        next_retry_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        self.change(segment, key, |entry| {
            entry.retries = retries;
            entry.next_retry_ms = next_retry_ms;
        });
        Box::pin(async { Ok(()) })
    }

    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>> {
        self.shrink(segment, key, |entry| {
            entry.offsets.remove(&offset);
        });
        Box::pin(async { Ok(()) })
    }

    fn append_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        timer: DeferredTimer,
    ) -> BoxFuture<'a, Result<()>> {
        self.change(segment, key, |entry| {
            let DeferredTimer {
                time,
                after_offset,
                trace,
            } = timer;
            let kept = entry.timers.entry(time).or_default();
            kept.0 = after_offset;
            // As in Cassandra, where an absent value is left unset rather than written.
            kept.1.parent = trace.parent.or(kept.1.parent);
            kept.1.baggage = trace.baggage.or_else(|| kept.1.baggage.take());
        });
        Box::pin(async { Ok(()) })
    }

    fn remove_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        self.shrink(segment, key, |entry| {
            entry.timers.remove(&time);
        });
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{Backlog, DeferStore, MemoryDeferStore, TimerSegment};

    fn backlog(key: &str, offsets: &[i64], retries: u32, next_retry_ms: i64) -> Backlog {
        Backlog {
            key: key.into(),
            offsets: offsets.to_vec(),
            timers: Vec::new(),
            retries,
            next_retry_ms,
        }
    }

    #[tokio::test]
    async fn loads_keys_in_order_with_offsets_ascending_per_segment() {
        let store = MemoryDeferStore::default();
        let (a, b) = (
            TimerSegment::new("g", "t", 0),
            TimerSegment::new("g", "t", 1),
        );
        for (key, offset) in [("k2", 9), ("k1", 30), ("k1", 4), ("k1", 30)] {
            store.append(&a, key, offset).await.unwrap();
        }
        store.append(&b, "k1", 1).await.unwrap();
        store.reschedule(&a, "k1", 3, 5_000).await.unwrap();
        assert_eq!(
            store.load(&a).await.unwrap(),
            [backlog("k1", &[4, 30], 3, 5_000), backlog("k2", &[9], 0, 0)]
        );
        assert_eq!(store.load(&b).await.unwrap(), [backlog("k1", &[1], 0, 0)]);
        assert_eq!(store.len(), 4);
    }

    #[tokio::test]
    async fn removing_the_last_offset_forgets_the_key_and_its_retries() {
        let store = MemoryDeferStore::default();
        let segment = TimerSegment::new("g", "t", 0);
        store.append(&segment, "k", 1).await.unwrap();
        store.append(&segment, "k", 2).await.unwrap();
        store.reschedule(&segment, "k", 5, 9_000).await.unwrap();
        store.remove(&segment, "k", 1).await.unwrap();
        store.remove(&segment, "k", 1).await.unwrap();
        assert_eq!(
            store.load(&segment).await.unwrap(),
            [backlog("k", &[2], 5, 9_000)]
        );
        store.remove(&segment, "k", 2).await.unwrap();
        assert!(store.is_empty());
        store.append(&segment, "k", 3).await.unwrap();
        assert_eq!(
            store.load(&segment).await.unwrap(),
            [backlog("k", &[3], 0, 0)]
        );
    }

    #[tokio::test]
    async fn a_retry_record_without_offsets_is_not_loaded() {
        let store = MemoryDeferStore::default();
        let segment = TimerSegment::new("g", "t", 0);
        store.reschedule(&segment, "k", 1, 10).await.unwrap();
        assert!(store.load(&segment).await.unwrap().is_empty());
        store.remove(&segment, "k", 7).await.unwrap();
        store.append(&segment, "k", 8).await.unwrap();
        assert_eq!(
            store.load(&segment).await.unwrap(),
            [backlog("k", &[8], 0, 0)]
        );
    }

    #[test]
    fn one_store_per_process_and_a_fresh_one_after_fork() {
        let slot = Mutex::new(None);
        let parent = MemoryDeferStore::shared_in(&slot, 1);
        assert!(Arc::ptr_eq(&parent, &MemoryDeferStore::shared_in(&slot, 1)));
        let child = MemoryDeferStore::shared_in(&slot, 2);
        assert!(!Arc::ptr_eq(&parent, &child));
        assert!(Arc::ptr_eq(&child, &MemoryDeferStore::shared_in(&slot, 2)));
    }
}
