//! [`StateTxn`]: one event's view of its key's state, committed in one atomic step.
//!
//! Reads see the event's own staged writes over committed data. [`StateTxn::commit`] applies
//! every staged write, the event's marker and the owner's epoch in one conditional write;
//! dropping the transaction (or [`StateTxn::rollback`]) leaves nothing behind.

mod collections;
mod deque;
mod merge;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use super::cell::{CellKey, CellWrite, Commit, EventRef, Head};
use super::definition::{Definition, StateKind};
use super::error::StateError;
use super::registry::Registry;
use super::store::StateStore;
use crate::error::{Error, Result};

/// What a commit, flush or rollback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Writes were applied (or, for a rollback, dropped).
    Applied,
    /// There was nothing to apply or drop.
    NoOp,
}

/// A staged write: new data (`None` deletes) and its TTL.
#[derive(Debug, Clone)]
struct Staged {
    data: Option<Vec<u8>>,
    ttl: Option<u32>,
}

/// Which key a transaction works on, and for whom.
#[derive(Debug, Clone)]
pub struct TxnScope {
    /// The consumer group.
    pub group: String,
    /// The event's key.
    pub key: String,
    /// The owner's epoch for the key's partition, from [`StateStore::claim`].
    pub epoch: u64,
    /// The message being handled; `None` for events without an offset (timers), whose
    /// redelivery is not detected.
    pub event: Option<EventRef>,
}

/// One event's transaction over its key's collections.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::state::{
///     Definition, EventRef, MemoryStateStore, Outcome, Registry, StateStore, StateTxn, TxnScope,
/// };
///
/// # futures::executor::block_on(async {
/// let total = Definition::value("total").build()?;
/// let registry = Arc::new(Registry::new(None, [total.clone()])?);
/// let store = Arc::new(MemoryStateStore::default());
/// let epoch = store.claim("billing", "orders", 0).await? as u64;
/// let scope = |offset| TxnScope {
///     group: "billing".into(),
///     key: "customer-7".into(),
///     epoch,
///     event: Some(EventRef::new("orders", 0, offset)),
/// };
///
/// let mut txn = StateTxn::begin(store.clone(), registry.clone(), scope(5)).await?;
/// txn.value_set(&total, b"12".to_vec().into()).await?;
/// assert_eq!(txn.commit().await?, Outcome::Applied);
///
/// // The same message again: already applied, so its writes are not repeated.
/// let again = StateTxn::begin(store, registry, scope(5)).await?;
/// assert!(again.already_applied());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct StateTxn {
    store: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    scope: TxnScope,
    epoch: i64,
    head: Head,
    applied: bool,
    staged: BTreeMap<(String, u8, Vec<u8>), Staged>,
    cleared: BTreeSet<String>,
    pinned: HashSet<String>,
    finished: bool,
}

impl std::fmt::Debug for StateTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateTxn")
            .field("scope", &self.scope)
            .field("head", &self.head)
            .field("staged", &self.staged.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl StateTxn {
    /// Starts a transaction: reads the key's head once.
    ///
    /// # Errors
    ///
    /// A store failure (transient), or [`StateError::Fenced`] when a newer owner already
    /// committed to the key.
    pub async fn begin(
        store: Arc<dyn StateStore>,
        registry: Arc<Registry>,
        scope: TxnScope,
    ) -> Result<Self> {
        let head = store.head(&scope.group, &scope.key).await?;
        let epoch = i64::try_from(scope.epoch).unwrap_or(i64::MAX);
        if head.epoch > epoch {
            return Err(StateError::Fenced {
                key: scope.key.clone(),
                mine: scope.epoch,
                current: u64::try_from(head.epoch).unwrap_or(0),
            }
            .into());
        }
        let applied = scope.event.as_ref().is_some_and(|e| head.has_applied(e));
        Ok(Self {
            store,
            registry,
            scope,
            epoch,
            head,
            applied,
            staged: BTreeMap::new(),
            cleared: BTreeSet::new(),
            pinned: HashSet::new(),
            finished: false,
        })
    }

    /// Whether the event was applied before (a redelivery): the caller should skip the
    /// handler, and [`StateTxn::commit`] writes nothing.
    pub fn already_applied(&self) -> bool {
        self.applied
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.scope.key
    }

    /// Applies every staged write with the event's marker, atomically, and ends the
    /// transaction. [`Outcome::NoOp`] when nothing was staged or the event was applied before.
    ///
    /// # Errors
    ///
    /// A store failure, [`StateError::Conflict`] (retry the event) or
    /// [`StateError::Fenced`]; nothing is applied in any case.
    pub async fn commit(&mut self) -> Result<Outcome> {
        self.check_open()?;
        self.finished = true;
        if self.applied {
            return Ok(Outcome::NoOp);
        }
        let event = self.scope.event.clone();
        self.write(None, event).await
    }

    /// Applies `definition`'s staged writes now, without the event's marker: they stay even if
    /// the event later fails and is retried (at least once). The transaction goes on. For an
    /// event applied before, the writes are dropped and nothing is written.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::commit`], and [`StateError::Unregistered`].
    pub async fn flush(&mut self, definition: &Definition) -> Result<Outcome> {
        let name = self.open_any(definition).await?;
        if self.applied {
            // A redelivered event's writes were applied the first time.
            self.staged.retain(|(staged, _, _), _| *staged != name);
            self.cleared.remove(&name);
            return Ok(Outcome::NoOp);
        }
        self.write(Some(&name), None).await
    }

    /// Drops `definition`'s staged writes; ones already flushed stay.
    ///
    /// # Errors
    ///
    /// [`StateError::Unregistered`], or [`StateError::Finished`].
    pub async fn rollback(&mut self, definition: &Definition) -> Result<Outcome> {
        let name = self.open_any(definition).await?;
        let before = self.staged.len();
        self.staged.retain(|(staged, _, _), _| *staged != name);
        let cleared = self.cleared.remove(&name);
        Ok(if cleared || self.staged.len() != before {
            Outcome::Applied
        } else {
            Outcome::NoOp
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.finished {
            return Err(StateError::Finished {
                key: self.scope.key.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// Checks that `definition` is registered and pins its identity; returns its name.
    async fn open_any(&mut self, definition: &Definition) -> Result<String> {
        self.check_open()?;
        let registered = self.registry.get(definition)?;
        let name = registered.name().to_owned();
        if !self.pinned.contains(&name) {
            let identity = registered.identity();
            self.store.pin(&self.scope.group, &name, &identity).await?;
            self.pinned.insert(name.clone());
        }
        Ok(name)
    }

    /// As `open_any`, and checks the kind the operation works on.
    async fn open(&mut self, definition: &Definition, kind: StateKind) -> Result<String> {
        if definition.kind() != kind {
            return Err(StateError::WrongKind {
                name: definition.name().to_owned(),
                declared: definition.identity(),
                used: kind.as_str(),
            }
            .into());
        }
        self.open_any(definition).await
    }

    /// The generation writes to `name` go to: a new one once cleared in this transaction.
    fn generation(&self, name: &str) -> i64 {
        let committed = self.head.generation(name);
        if self.cleared.contains(name) {
            committed + 1
        } else {
            committed
        }
    }

    /// A cell as this event sees it.
    async fn read(&self, name: &str, section: u8, item: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(staged) = self.staged.get(&(name.to_owned(), section, item.to_vec())) {
            return Ok(staged.data.clone());
        }
        if self.cleared.contains(name) {
            return Ok(None);
        }
        let cell = CellKey {
            name: name.to_owned(),
            generation: self.head.generation(name),
            section,
            item: item.to_vec(),
        };
        self.store
            .get(&self.scope.group, &self.scope.key, &cell)
            .await
    }

    fn stage(
        &mut self,
        name: &str,
        section: u8,
        item: Vec<u8>,
        data: Option<Vec<u8>>,
        ttl: Option<u32>,
    ) {
        self.staged
            .insert((name.to_owned(), section, item), Staged { data, ttl });
    }

    /// Clears `name`: committed cells are hidden now and replaced by a new generation on commit.
    fn clear(&mut self, name: &str) {
        self.staged.retain(|(staged, _, _), _| staged != name);
        self.cleared.insert(name.to_owned());
    }

    /// Writes the staged changes of `only` (or all), with `event`'s marker if given.
    async fn write(&mut self, only: Option<&str>, event: Option<EventRef>) -> Result<Outcome> {
        let chosen = |name: &str| only.is_none_or(|only| only == name);
        let generations: Vec<(String, i64, i64)> = self
            .cleared
            .iter()
            .filter(|name| chosen(name))
            .map(|name| {
                let old = self.head.generation(name);
                (name.clone(), old + 1, old)
            })
            .collect();
        let cells: Vec<CellWrite> = self
            .staged
            .iter()
            .filter(|((name, _, _), _)| chosen(name))
            .map(|((name, section, item), staged)| CellWrite {
                cell: CellKey {
                    name: name.clone(),
                    generation: self.generation(name),
                    section: *section,
                    item: item.clone(),
                },
                data: staged.data.clone(),
                ttl: staged.ttl,
            })
            .collect();
        if cells.is_empty() && generations.is_empty() {
            return Ok(Outcome::NoOp);
        }
        let commit = Commit {
            expected_seq: self.head.seq,
            expected_epoch: self.head.epoch,
            epoch: self.epoch,
            event,
            generations,
            cells,
            head_ttl: self.registry.head_ttl(),
        };
        if let Err(error) = self
            .store
            .commit(&self.scope.group, &self.scope.key, &commit)
            .await
        {
            // What this event read may be stale now: it must start over.
            if matches!(error, Error::KeyedState(_)) {
                self.finished = true;
            }
            return Err(error);
        }
        self.head.seq += 1;
        self.head.epoch = self.epoch;
        if let Some(event) = &commit.event {
            self.head.markers.insert(event.source(), event.offset);
        }
        for (name, new, _) in commit.generations {
            self.head.generations.insert(name.clone(), new);
            self.cleared.remove(&name);
        }
        self.staged.retain(|(name, _, _), _| !chosen(name));
        Ok(Outcome::Applied)
    }
}
