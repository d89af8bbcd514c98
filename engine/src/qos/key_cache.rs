//! Per-key statistics for at most a set number of keys, forgetting the least recently used.
//!
//! Every handler run touches an entry here, so the layout favours that:
//! - A key is known by a 64-bit hash ([`KeyHash`]) taken once per run, with a seed random per
//!   [`KeyHasher`]. Entries hold no key, so a lookup never follows a pointer to a string far
//!   away in memory and never touches a shared reference count. Two keys sharing a hash (about
//!   one chance in 10^12 among 8,192 keys) would pool their statistics: an estimate shifts,
//!   nothing is lost or reordered.
//! - Values sit inline in one hash table: one probe per touch.
//! - Recency is a counter stamped on the entry, not a linked list whose neighbours every touch
//!   would rewrite. When the table is full, the least recently used sixteenth of it (at least
//!   one key) goes at once: finding them takes a pass over the table, so a pass per sixteenth
//!   keeps eviction at a constant cost per insert.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Evicting a sixteenth at a time; see the module docs.
const EVICT_SHARE: usize = 16;

/// A key's identity in a [`KeyCache`]: its hash under one [`KeyHasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyHash(u64);

/// Hashes keys into [`KeyHash`]es, with a seed of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyHasher(foldhash::fast::RandomState);

impl KeyHasher {
    /// `key`'s hash.
    pub(crate) fn hash(&self, key: &str) -> KeyHash {
        KeyHash(self.0.hash_one(key))
    }
}

/// Tables keyed by [`KeyHash`] use it as their hash: it is one already.
pub(crate) type ByHash = BuildHasherDefault<PassThrough>;

/// A set of [`KeyHash`]es.
pub(crate) type KeyHashSet = HashSet<KeyHash, ByHash>;

/// The [`Hasher`] of [`ByHash`]: passes a [`KeyHash`] through.
#[derive(Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (a `KeyHash` is one u64); fold anything else in anyway.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Values of `V` per key, for at most `capacity` keys.
#[derive(Debug)]
pub(crate) struct KeyCache<V> {
    entries: HashMap<KeyHash, Entry<V>, ByHash>,
    capacity: usize,
    /// Stamps uses: a larger stamp is a more recent use.
    uses: u64,
}

// The stamp first, then the value's head: the line a lookup loads holds both.
#[derive(Debug)]
#[repr(C)]
struct Entry<V> {
    used: u64,
    value: V,
}

impl<V> KeyCache<V> {
    /// An empty cache for up to `capacity` keys (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::default(),
            capacity: capacity.max(1),
            uses: 0,
        }
    }

    /// `key`'s value, without counting as a use.
    pub(crate) fn peek(&self, key: KeyHash) -> Option<&V> {
        self.entries.get(&key).map(|entry| &entry.value)
    }

    /// `key`'s value, made by `make` if the key is not cached; counts as a use of `key`.
    pub(crate) fn get_or_insert_with(&mut self, key: KeyHash, make: impl FnOnce() -> V) -> &mut V {
        self.uses += 1;
        let used = self.uses;
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.evict();
        }
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            value: make(),
            used,
        });
        entry.used = used;
        &mut entry.value
    }

    /// Keys cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops the least recently used sixteenth of the keys (at least one).
    fn evict(&mut self) {
        let mut stamps: Vec<u64> = self.entries.values().map(|entry| entry.used).collect();
        if stamps.is_empty() {
            return;
        }
        let count = (stamps.len() / EVICT_SHARE).max(1);
        // Stamps are unique, so exactly `count` entries are at or below the `count`-th smallest.
        let (_, newest_evicted, _) = stamps.select_nth_unstable(count - 1);
        let newest_evicted = *newest_evicted;
        self.entries.retain(|_, entry| entry.used > newest_evicted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_value_per_key() {
        let hasher = KeyHasher::default();
        let mut cache = KeyCache::new(4);
        *cache.get_or_insert_with(hasher.hash("a"), || 0) += 1;
        *cache.get_or_insert_with(hasher.hash("a"), || 0) += 1;
        *cache.get_or_insert_with(hasher.hash("b"), || 10) += 1;
        assert_eq!(cache.peek(hasher.hash("a")), Some(&2));
        assert_eq!(cache.peek(hasher.hash("b")), Some(&11));
        assert_eq!(cache.peek(hasher.hash("c")), None);
    }

    #[test]
    fn forgets_the_least_recently_used_key_when_full() {
        let hasher = KeyHasher::default();
        let mut cache = KeyCache::new(2);
        cache.get_or_insert_with(hasher.hash("a"), || 1);
        cache.get_or_insert_with(hasher.hash("b"), || 2);
        // Using "a" again makes "b" the least recently used.
        cache.get_or_insert_with(hasher.hash("a"), || 0);
        cache.get_or_insert_with(hasher.hash("c"), || 3);
        assert_eq!(cache.peek(hasher.hash("a")), Some(&1));
        assert_eq!(cache.peek(hasher.hash("b")), None);
        assert_eq!(cache.peek(hasher.hash("c")), Some(&3));
    }

    #[test]
    fn never_holds_more_than_its_capacity_and_keeps_recent_keys() {
        let hasher = KeyHasher::default();
        let mut cache = KeyCache::new(100);
        for n in 0..10_000 {
            cache.get_or_insert_with(hasher.hash(&format!("k{n}")), || n);
            assert!(cache.len() <= 100);
        }
        // The most recent keys survive every eviction.
        for n in 9_990..10_000 {
            assert_eq!(cache.peek(hasher.hash(&format!("k{n}"))), Some(&n));
        }
    }
}
