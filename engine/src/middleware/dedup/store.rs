use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use futures::future::BoxFuture;

use super::DedupKey;
use crate::error::Result;

/// Remembers which events were handled. Implemented in memory by [`MemoryDedupStore`] and,
/// persistently, by [`CassandraDedupStore`](super::CassandraDedupStore).
///
/// An error from either method means the store could not answer; the [`Dedup`](super::Dedup)
/// layer reports it as a transient handler error, so it is retried per the mode and no
/// message is dropped.
///
/// ```
/// use prosody_engine::middleware::{DedupKey, DedupStore, MemoryDedupStore};
///
/// # futures::executor::block_on(async {
/// let store = MemoryDedupStore::new(100);
/// let key = DedupKey::new("group", "topic", "key", "id", "v1");
/// assert!(!store.contains(key).await?);
/// store.insert(key).await?;
/// assert!(store.contains(key).await?);
/// # Ok::<(), prosody_engine::Error>(()) }).unwrap();
/// ```
pub trait DedupStore: Send + Sync + 'static {
    /// Whether `key` was recorded as handled.
    fn contains(&self, key: DedupKey) -> BoxFuture<'_, Result<bool>>;

    /// Records `key` as handled.
    fn insert(&self, key: DedupKey) -> BoxFuture<'_, Result<()>>;

    /// A hint that [`contains`](Self::contains) will soon be asked about `key`: a store that
    /// does I/O may start the lookup now, without waiting, and answer that call from it. The
    /// default does nothing.
    fn prefetch(&self, key: DedupKey) {
        let _ = key;
    }

    /// Whether [`prefetch`](Self::prefetch) does anything. The [`Dedup`](super::Dedup) layer
    /// hashes a message's key for it only when it does. The default is `false`.
    fn prefetches(&self) -> bool {
        false
    }
}

/// An in-memory least-recently-used set of handled events, shared by every partition of a
/// consumer. The least recently inserted or found key is forgotten first once `capacity` keys
/// are held.
///
/// See [`DedupStore`] for an example.
pub struct MemoryDedupStore {
    capacity: usize,
    lru: Mutex<Lru>,
}

impl MemoryDedupStore {
    /// A store holding up to `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            lru: Mutex::default(),
        }
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is held, without counting as a use of it.
    pub(super) fn holds(&self, key: DedupKey) -> bool {
        self.lock().live.contains_key(&key)
    }

    /// Entries in the recency queue, stale ones included.
    #[cfg(test)]
    pub(super) fn queue_len(&self) -> usize {
        self.lock().order.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDedupStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl DedupStore for MemoryDedupStore {
    fn contains(&self, key: DedupKey) -> BoxFuture<'_, Result<bool>> {
        let found = self.lock().touch(key, self.capacity);
        Box::pin(async move { Ok(found) })
    }

    fn insert(&self, key: DedupKey) -> BoxFuture<'_, Result<()>> {
        self.lock().insert(key, self.capacity);
        Box::pin(async { Ok(()) })
    }
}

/// Recency order as a queue of `(key, stamp)` entries: a key's live entry is the one whose
/// stamp matches `live`; older entries of the same key are stale and skipped. Every
/// deduplicated event looks its key up at least twice, and the key is already a 128-bit hash,
/// so the table uses foldhash rather than SipHash.
#[derive(Debug, Default)]
struct Lru {
    live: HashMap<DedupKey, u64, foldhash::fast::RandomState>,
    order: VecDeque<(DedupKey, u64)>,
    clock: u64,
}

impl Lru {
    fn touch(&mut self, key: DedupKey, capacity: usize) -> bool {
        if !self.live.contains_key(&key) {
            return false;
        }
        self.insert(key, capacity);
        true
    }

    fn insert(&mut self, key: DedupKey, capacity: usize) {
        self.clock += 1;
        self.live.insert(key, self.clock);
        self.order.push_back((key, self.clock));
        while self.live.len() > capacity {
            let Some((oldest, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.live.get(&oldest) == Some(&stamp) {
                self.live.remove(&oldest);
            }
        }
        if self.order.len() > capacity.saturating_mul(2).saturating_add(16) {
            let live = &self.live;
            self.order
                .retain(|(key, stamp)| live.get(key) == Some(stamp));
        }
    }
}
