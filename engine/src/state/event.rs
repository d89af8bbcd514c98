//! How a consumer's events reach their keys' state: one [`StateTxn`] per handler attempt,
//! begun on first use and settled by the consumer when the attempt ends.
//!
//! - [`ConsumerState`]: a subscribed consumer's registered collections and their store.
//! - [`PartitionState`]: one assignment of a partition. Its epoch is claimed from the store
//!   when the partition is assigned ([`PartitionState::claim`]), before its first event runs:
//!   an epoch claimed later, on first use, could outrank the partition's next owner.
//! - [`EventState`]: one attempt at one event. It holds no transaction until the handler asks
//!   for one ([`StateHandle::txn`]); then the key's head is read once. When the attempt ends,
//!   [`EventState::finish`] commits the transaction (success) or drops it (failure), and any
//!   later use fails with [`StateError::Finished`].
//!
//! The transaction sits behind an async mutex because a handler (the Ruby bridge, for one)
//! may run its state operations as tasks of their own; they run one at a time.

use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::cell::EventRef;
use super::error::StateError;
use super::registry::Registry;
use super::store::StateStore;
use super::txn::{Outcome, StateTxn, TxnScope};
use crate::error::{Error, Result};

/// A consumer's registered collections and the store they persist in.
#[derive(Clone)]
pub(crate) struct ConsumerState {
    store: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    group: Arc<str>,
}

impl std::fmt::Debug for ConsumerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerState")
            .field("group", &self.group)
            .field("collections", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl ConsumerState {
    pub(crate) fn new(store: Arc<dyn StateStore>, registry: Arc<Registry>, group: &str) -> Self {
        Self {
            store,
            registry,
            group: group.into(),
        }
    }

    /// Whether a collection stores message references (see [`Registry::holds_messages`]).
    pub(crate) fn holds_messages(&self) -> bool {
        self.registry.holds_messages()
    }

    /// The state of a new assignment of `topic`/`partition`, with no epoch claimed yet.
    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Arc<PartitionState> {
        Arc::new(PartitionState {
            consumer: self.clone(),
            topic: topic.into(),
            partition,
            epoch: OnceCell::new(),
        })
    }
}

/// One assignment of a partition, as keyed state sees it.
#[derive(Debug)]
pub(crate) struct PartitionState {
    consumer: ConsumerState,
    topic: Arc<str>,
    partition: i32,
    /// This owner's epoch, claimed once per assignment; a failed claim is tried again by the
    /// next event that uses state.
    epoch: OnceCell<u64>,
}

impl PartitionState {
    /// Claims this assignment's epoch; the partition's task awaits it before its first event.
    ///
    /// Claiming on the first use of state instead would let a zombie outrank its successor: a
    /// consumer whose session expired while it still held a partition's messages, and whose
    /// handlers first touched state only after the next owner had claimed the partition, would
    /// get the greater epoch and overwrite the next owner's writes (and fence it). A claim that
    /// fails (Cassandra unreachable) is logged, and the first event that uses state tries again.
    pub(crate) async fn claim(&self) {
        if let Err(error) = self.epoch().await {
            tracing::warn!(
                topic = %self.topic,
                partition = self.partition,
                %error,
                "could not claim keyed state for the assigned partition; the first event that uses state tries again"
            );
        }
    }

    async fn epoch(&self) -> Result<u64> {
        let consumer = &self.consumer;
        let epoch = self
            .epoch
            .get_or_try_init(|| async {
                let claimed = consumer
                    .store
                    .claim(&consumer.group, &self.topic, self.partition)
                    .await?;
                Ok::<u64, Error>(u64::try_from(claimed).unwrap_or(0))
            })
            .await?;
        Ok(*epoch)
    }

    /// The state of one attempt at `event` of `key`.
    pub(crate) fn attempt(self: &Arc<Self>, key: Arc<str>, event: EventId) -> EventState {
        EventState(Arc::new(Mutex::new(Attempt {
            partition: Arc::clone(self),
            key,
            event,
            txn: Slot::Unused,
            fenced: None,
        })))
    }
}

/// Where an attempt's transaction is in its life.
#[derive(Debug)]
enum Slot {
    /// The handler has not used state.
    Unused,
    /// Begun on first use; boxed, so an attempt that uses no state stays small.
    Open(Box<StateTxn>),
    /// The attempt ended.
    Closed,
}

/// Which event an attempt belongs to, so that a commit marks it applied and a redelivery of it
/// is recognised (see [`EventRef`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventId {
    /// The message at this offset of the partition.
    Offset(i64),
    /// A timer due at this time, in milliseconds since the Unix epoch.
    Timer(i64),
}

#[derive(Debug)]
struct Attempt {
    partition: Arc<PartitionState>,
    key: Arc<str>,
    event: EventId,
    txn: Slot,
    /// The fencing error beginning the transaction met, so the attempt ends with it whatever
    /// the handler made of it.
    fenced: Option<StateError>,
}

impl Attempt {
    async fn begin(&mut self) -> Result<StateTxn> {
        let partition = &self.partition;
        let consumer = &partition.consumer;
        let scope = TxnScope {
            group: consumer.group.to_string(),
            key: self.key.to_string(),
            epoch: partition.epoch().await?,
            event: Some(match self.event {
                EventId::Offset(offset) => {
                    EventRef::new(&*partition.topic, partition.partition, offset)
                }
                EventId::Timer(time_ms) => EventRef::timer(time_ms),
            }),
        };
        let begun = StateTxn::begin(
            Arc::clone(&consumer.store),
            Arc::clone(&consumer.registry),
            scope,
        )
        .await;
        if let Err(Error::KeyedState(fenced @ StateError::Fenced { .. })) = &begun {
            self.fenced = Some(fenced.clone());
        }
        begun
    }
}

/// One attempt at one event: its transaction, begun on first use. Clones share it: the
/// handler's handles and the layer that settles it.
#[derive(Debug, Clone)]
pub(crate) struct EventState(Arc<Mutex<Attempt>>);

impl EventState {
    /// Ends the attempt: commits its transaction, if one was begun, when `succeeded`, and drops
    /// it otherwise. Later uses of its handles fail with [`StateError::Finished`].
    ///
    /// # Errors
    ///
    /// The commit's: a store failure, [`StateError::Conflict`] or [`StateError::Fenced`]. When
    /// the handler saw a fencing error, [`StateError::Fenced`] even if it failed or no commit
    /// was due.
    pub(crate) async fn finish(&self, succeeded: bool) -> Result<Outcome> {
        let mut attempt = self.0.lock().await;
        let outcome = match std::mem::replace(&mut attempt.txn, Slot::Closed) {
            Slot::Open(mut txn) if succeeded => txn.commit().await,
            _ => Ok(Outcome::NoOp),
        };
        match attempt.fenced.take() {
            Some(fenced) if outcome.is_ok() => Err(fenced.into()),
            _ => outcome,
        }
    }
}

/// A handler's way to its event's state: cheap to clone, valid while its attempt runs.
///
/// Take it from [`Context::state`](crate::Context::state), then [`StateHandle::txn`] for the
/// transaction. Don't call [`StateTxn::commit`] on it: the consumer commits when the handler
/// succeeds (and before the event's offset commits), and drops the writes when it fails.
#[derive(Debug, Clone)]
pub struct StateHandle {
    key: Arc<str>,
    attempt: EventState,
}

impl StateHandle {
    pub(crate) fn new(key: Arc<str>, attempt: EventState) -> Self {
        Self { key, attempt }
    }

    /// The event's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The attempt's transaction, begun (the key's head read) on first use. Operations on it
    /// run one at a time; hold the guard only for the operations at hand.
    ///
    /// # Errors
    ///
    /// [`StateError::Finished`] once the attempt ended; a store failure or
    /// [`StateError::Fenced`] when beginning.
    pub async fn txn(&self) -> Result<StateGuard> {
        let mut attempt = Arc::clone(&self.attempt.0).lock_owned().await;
        match attempt.txn {
            Slot::Open(_) => {}
            Slot::Closed => return Err(self.finished()),
            Slot::Unused => {
                let txn = attempt.begin().await?;
                attempt.txn = Slot::Open(Box::new(txn));
            }
        }
        OwnedMutexGuard::try_map(attempt, |attempt| match &mut attempt.txn {
            Slot::Open(txn) => Some(&mut **txn),
            Slot::Unused | Slot::Closed => None,
        })
        .map(StateGuard)
        .map_err(|_| self.finished())
    }

    fn finished(&self) -> Error {
        StateError::Finished {
            key: self.key.to_string(),
        }
        .into()
    }
}

/// Exclusive use of an attempt's [`StateTxn`]; dereferences to it.
#[derive(Debug)]
pub struct StateGuard(OwnedMappedMutexGuard<Attempt, StateTxn>);

impl std::ops::Deref for StateGuard {
    type Target = StateTxn;

    fn deref(&self) -> &StateTxn {
        &self.0
    }
}

impl std::ops::DerefMut for StateGuard {
    fn deref_mut(&mut self) -> &mut StateTxn {
        &mut self.0
    }
}
