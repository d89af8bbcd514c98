//! Keyed state in process memory, for mock mode and tests.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::cell::{CellKey, CellScan, Commit, Head, ItemRows};
use super::error::StateError;
use super::store::StateStore;
use crate::error::Result;

/// A [`StateStore`] in process memory, with the same semantics as the Cassandra store:
/// conditional atomic commits, per-write expiry, identity pinning and epochs.
///
/// [`MemoryStateStore::shared`] is the one instance every mock-mode consumer of the process
/// uses (like the memory timer store), so a consumer that takes a partition over in the same
/// process sees what the previous owner committed. Nothing survives the process.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::state::MemoryStateStore;
///
/// assert!(Arc::ptr_eq(&MemoryStateStore::shared(), &MemoryStateStore::shared()));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<(String, String), KeyState>,
    identities: HashMap<(String, String), String>,
    epochs: HashMap<(String, String, i32), i64>,
}

#[derive(Debug, Default)]
struct KeyState {
    head: Head,
    cells: BTreeMap<CellKey, Stored>,
}

#[derive(Debug)]
struct Stored {
    data: Vec<u8>,
    expires: Option<Instant>,
}

impl Stored {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// A process-wide store and the process that created it.
type Slot = Mutex<Option<(u32, Arc<MemoryStateStore>)>>;

impl MemoryStateStore {
    /// The store every mock-mode consumer in this process shares; a forked child gets a new,
    /// empty one.
    pub fn shared() -> Arc<Self> {
        static SHARED: Slot = Mutex::new(None);
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        match &*slot {
            Some((owner, store)) if *owner == pid => Arc::clone(store),
            _ => {
                let store = Arc::new(Self::default());
                *slot = Some((pid, Arc::clone(&store)));
                store
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expiry(now: Instant, ttl: Option<u32>) -> Option<Instant> {
    ttl.map(|seconds| now + Duration::from_secs(u64::from(seconds)))
}

impl StateStore for MemoryStateStore {
    fn pin<'a>(
        &'a self,
        group: &'a str,
        name: &'a str,
        identity: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let mut inner = self.lock();
        let stored = inner
            .identities
            .entry((group.to_owned(), name.to_owned()))
            .or_insert_with(|| identity.to_owned());
        let result = if stored == identity {
            Ok(())
        } else {
            Err(StateError::IdentityMismatch {
                group: group.to_owned(),
                name: name.to_owned(),
                stored: stored.clone(),
                declared: identity.to_owned(),
            }
            .into())
        };
        Box::pin(std::future::ready(result))
    }

    fn claim<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        partition: i32,
    ) -> BoxFuture<'a, Result<i64>> {
        let mut inner = self.lock();
        let epoch = inner
            .epochs
            .entry((group.to_owned(), topic.to_owned(), partition))
            .or_default();
        *epoch += 1;
        Box::pin(std::future::ready(Ok(*epoch)))
    }

    fn head<'a>(&'a self, group: &'a str, key: &'a str) -> BoxFuture<'a, Result<Head>> {
        let head = self
            .lock()
            .keys
            .get(&(group.to_owned(), key.to_owned()))
            .map(|state| state.head.clone())
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(head)))
    }

    fn get<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        cell: &'a CellKey,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        let now = Instant::now();
        let data = self
            .lock()
            .keys
            .get(&(group.to_owned(), key.to_owned()))
            .and_then(|state| state.cells.get(cell))
            .filter(|stored| stored.live(now))
            .map(|stored| stored.data.clone());
        Box::pin(std::future::ready(Ok(data)))
    }

    fn scan<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        scan: &'a CellScan,
    ) -> BoxFuture<'a, Result<ItemRows>> {
        let now = Instant::now();
        let at = |item: &Vec<u8>| CellKey {
            name: scan.name.clone(),
            generation: scan.generation,
            section: scan.section,
            item: item.clone(),
        };
        let section_start = at(&Vec::new());
        let lower = match &scan.lower {
            Bound::Included(item) => Bound::Included(at(item)),
            Bound::Excluded(item) => Bound::Excluded(at(item)),
            Bound::Unbounded => Bound::Included(section_start.clone()),
        };
        let inner = self.lock();
        let mut found = Vec::new();
        if let Some(state) = inner.keys.get(&(group.to_owned(), key.to_owned())) {
            let in_section = state
                .cells
                .range((lower, Bound::Unbounded))
                .take_while(|(cell, _)| {
                    cell.name == scan.name
                        && cell.generation == scan.generation
                        && cell.section == scan.section
                        && match &scan.upper {
                            Bound::Included(item) => cell.item <= *item,
                            Bound::Excluded(item) => cell.item < *item,
                            Bound::Unbounded => true,
                        }
                })
                .filter(|(_, stored)| stored.live(now))
                .map(|(cell, stored)| (cell.item.clone(), stored.data.clone()));
            found = in_section.collect();
        }
        if scan.reverse {
            found.reverse();
        }
        if let Some(limit) = scan.limit {
            found.truncate(limit);
        }
        Box::pin(std::future::ready(Ok(found)))
    }

    fn commit<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        commit: &'a Commit,
    ) -> BoxFuture<'a, Result<()>> {
        let now = Instant::now();
        let mut inner = self.lock();
        let state = inner
            .keys
            .entry((group.to_owned(), key.to_owned()))
            .or_default();
        let head = &mut state.head;
        let result = if head.seq != commit.expected_seq || head.epoch != commit.expected_epoch {
            Err(if head.epoch > commit.epoch {
                StateError::Fenced {
                    key: key.to_owned(),
                    mine: u64::try_from(commit.epoch).unwrap_or(0),
                    current: u64::try_from(head.epoch).unwrap_or(0),
                }
            } else {
                StateError::Conflict {
                    key: key.to_owned(),
                }
            }
            .into())
        } else {
            head.seq += 1;
            head.epoch = commit.epoch;
            if let Some(event) = &commit.event {
                head.markers.insert(event.source(), event.offset);
            }
            for (name, new, old) in &commit.generations {
                head.generations.insert(name.clone(), *new);
                state
                    .cells
                    .retain(|cell, _| !(cell.name == *name && cell.generation == *old));
            }
            for write in &commit.cells {
                match &write.data {
                    Some(data) => {
                        let stored = Stored {
                            data: data.clone(),
                            expires: expiry(now, write.ttl),
                        };
                        state.cells.insert(write.cell.clone(), stored);
                    }
                    None => {
                        state.cells.remove(&write.cell);
                    }
                }
            }
            state.cells.retain(|_, stored| stored.live(now));
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }
}
