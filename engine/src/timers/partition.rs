//! One partition's timers while this consumer owns it.
//!
//! [`PartitionTimers`] keeps the partition's timers that are due before its *horizon* in an
//! ordered in-memory queue; later ones stay in the [`TimerStore`] until the loader
//! ([`super::tasks`]) moves the horizon forward one window at a time. A timer scheduled before
//! the horizon goes straight into the queue. The scheduler task pops due timers and hands them
//! to the partition's per-key queues.
//!
//! A popped timer is *firing* until its handler finishes. Scheduling the same (key, time)
//! meanwhile marks it rescheduled: it is queued again instead of being deleted. Unscheduling
//! a firing timer only clears that mark; its stored row goes once the handler succeeds (or
//! fails permanently), never before, so a crash mid-handler fires it again (at least once).
//!
//! While a key is deferred, some of its timers wait in its deferred backlog instead of the
//! store ([`DeferredTimers`]). The operations treat them as scheduled: `scheduled` lists the
//! union of both, and `unschedule` and clearing remove from both.
//!
//! Operations fail once the partition is draining: a revoked partition's next owner may have
//! loaded its timers already, so a late write could be missed until the partition moves again.
//! Failing makes the handler's event fail, and the event is redelivered to the new owner.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{DeferredTimers, TimerSegment, TimerStore, TimerTime};
use crate::error::{Error, Result};
use crate::telemetry::{Event, EventType, Telemetry};
use crate::trace::Continuation;

/// One key's timer at one time.
type TimerId = (Arc<str>, TimerTime);

/// A timer and whether it was scheduled again while firing.
type Firing = HashMap<TimerId, bool>;

/// The timers of one owned partition. Shared by its handlers' contexts, loader and scheduler.
pub(crate) struct PartitionTimers {
    pub(super) segment: TimerSegment,
    pub(super) store: Arc<dyn TimerStore>,
    /// How far ahead the loader keeps timers in memory, in seconds (the slab size).
    pub(super) window: u64,
    state: Mutex<State>,
    /// Wakes the scheduler when the earliest timer changes.
    pub(super) wake: Notify,
    /// Fires when the partition starts draining.
    pub(super) closed: CancellationToken,
    /// The key's timers waiting in deferred backlogs, when deferral is on.
    deferred: Option<Arc<dyn DeferredTimers>>,
    /// Told of each timer a handler schedules or cancels.
    telemetry: Telemetry,
}

impl std::fmt::Debug for PartitionTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionTimers")
            .field("segment", &self.segment)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// Every stored timer due before this is in `queue` or `firing`.
    horizon: TimerTime,
    /// A load in flight: its end, and what was unscheduled while it ran (the load may have
    /// read those rows before they were deleted).
    loading: Option<(TimerTime, HashSet<TimerId>)>,
    queue: BTreeSet<(TimerTime, Arc<str>)>,
    /// Timers a test fired ahead of time ([`PartitionTimers::fire_now`]): due whatever their
    /// time says, and served before `queue`.
    early: BTreeSet<(TimerTime, Arc<str>)>,
    firing: Firing,
}

impl State {
    fn covered(&self) -> TimerTime {
        self.loading
            .as_ref()
            .map_or(self.horizon, |(until, _)| (*until).max(self.horizon))
    }
}

impl PartitionTimers {
    pub(crate) fn new(
        segment: TimerSegment,
        store: Arc<dyn TimerStore>,
        window: Duration,
        closed: CancellationToken,
        deferred: Option<Arc<dyn DeferredTimers>>,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            segment,
            store,
            window: window.as_secs().max(1),
            state: Mutex::default(),
            wake: Notify::new(),
            closed,
            deferred,
            telemetry,
        }
    }

    /// Emits a `kind` telemetry event for `key`'s timer at `time`, once the operation is done.
    fn emit(&self, kind: EventType, key: &Arc<str>, time: TimerTime) {
        self.telemetry.emit(|| {
            let mut event = Event::new(
                kind,
                Arc::clone(self.segment.shared_topic()),
                self.segment.partition(),
                Arc::clone(key),
                Arc::clone(self.segment.shared_group()),
            );
            event.scheduled = Some(time.to_system_time());
            event
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The group, topic and partition these timers belong to.
    pub(crate) fn segment(&self) -> &TimerSegment {
        &self.segment
    }

    /// Timers loaded and not yet handled: queued in memory (due within the loaded window) or
    /// firing. Later ones wait in the store, uncounted.
    pub(crate) fn pending(&self) -> usize {
        let state = self.lock();
        state.queue.len() + state.firing.len()
    }

    fn check_open(&self, operation: &'static str, key: &str) -> Result<()> {
        if self.closed.is_cancelled() {
            return Err(Error::Timer {
                operation,
                key: key.to_string(),
                reason:
                    "the partition is being revoked or shut down; the event will be redelivered"
                        .into(),
            });
        }
        Ok(())
    }

    /// Adds a timer for `key` at `time`; scheduling an existing one does nothing. It is stored
    /// even while the key is deferred: if it comes due before the key recovers, it joins the
    /// key's backlog rather than overtaking it.
    pub(crate) async fn schedule(
        &self,
        key: &Arc<str>,
        time: TimerTime,
        trace: Continuation,
    ) -> Result<()> {
        self.check_open("schedule", key)?;
        self.store
            .insert_traced(&self.segment, key, time, trace)
            .await
            .map_err(|e| store_failed("schedule", key, &e))?;
        self.emit(EventType::TimerScheduled, key, time);
        let mut state = self.lock();
        let id = (Arc::clone(key), time);
        if let Some(rescheduled) = state.firing.get_mut(&id) {
            *rescheduled = true;
            return Ok(());
        }
        if let Some((_, removed)) = &mut state.loading {
            removed.remove(&id);
        }
        if state.early.contains(&(time, Arc::clone(key))) {
            return Ok(());
        }
        if time < state.covered() {
            let earliest = state.queue.first().is_none_or(|(first, _)| time < *first);
            state.queue.insert((time, Arc::clone(key)));
            if earliest {
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// Removes the timer for `key` at `time`, if there is one, stored or deferred.
    pub(crate) async fn unschedule(&self, key: &Arc<str>, time: TimerTime) -> Result<()> {
        self.check_open("unschedule", key)?;
        if let Some(deferred) = &self.deferred {
            if deferred.times(key).contains(&time) {
                deferred.remove(key, time).await?;
            }
        }
        let id = (Arc::clone(key), time);
        if let Some(rescheduled) = self.lock().firing.get_mut(&id) {
            *rescheduled = false;
            self.emit(EventType::TimerCancelled, key, time);
            return Ok(());
        }
        self.store
            .remove(&self.segment, key, time)
            .await
            .map_err(|e| store_failed("unschedule", key, &e))?;
        self.emit(EventType::TimerCancelled, key, time);
        let mut state = self.lock();
        state.queue.remove(&(time, Arc::clone(key)));
        state.early.remove(&(time, Arc::clone(key)));
        if let Some((_, removed)) = &mut state.loading {
            removed.insert(id);
        }
        Ok(())
    }

    /// The times scheduled for `key`, stored or deferred, ascending and without duplicates.
    /// The timer now firing (or being retried) is left out unless it was scheduled again.
    pub(crate) async fn scheduled(&self, key: &Arc<str>) -> Result<Vec<TimerTime>> {
        self.check_open("list", key)?;
        let mut times = self
            .store
            .times(&self.segment, key)
            .await
            .map_err(|e| store_failed("list", key, &e))?;
        {
            let state = self.lock();
            times.retain(|time| {
                state
                    .firing
                    .get(&(Arc::clone(key), *time))
                    .is_none_or(|rescheduled| *rescheduled)
            });
        }
        if let Some(deferred) = &self.deferred {
            times.extend(deferred.times(key));
            times.sort_unstable();
            times.dedup();
        }
        Ok(times)
    }

    /// Removes every timer of `key`, stored or deferred (but `keep`, if given).
    pub(crate) async fn clear(&self, key: &Arc<str>, keep: Option<TimerTime>) -> Result<()> {
        for time in self.scheduled(key).await? {
            if Some(time) != keep {
                self.unschedule(key, time).await?;
            }
        }
        Ok(())
    }

    /// Replaces every timer of `key` with one at `time`. The new timer is stored before the
    /// old ones are removed, so a failure part way leaves extra timers, never none.
    pub(crate) async fn clear_and_schedule(
        &self,
        key: &Arc<str>,
        time: TimerTime,
        trace: Continuation,
    ) -> Result<()> {
        self.schedule(key, time, trace).await?;
        self.clear(key, Some(time)).await
    }

    /// The trace context and baggage `key`'s timer at `time` was scheduled with, for its
    /// `trigger` span and its handler; a store failure only costs the link and the baggage, so
    /// it is logged and read as none.
    pub(crate) async fn trace_of(&self, key: &str, time: TimerTime) -> Continuation {
        match self.store.trace(&self.segment, key, time).await {
            Ok(trace) => trace,
            Err(error) => {
                tracing::debug!(segment = %self.segment, key, %time, %error, "could not read a timer's trace context");
                Continuation::default()
            }
        }
    }

    /// Mock mode's test hook: fires every stored timer of `key` now, whatever its time, through
    /// the scheduler like a due one (the handler sees the timer's own time). Returns how many
    /// it queued; a timer already firing is left alone. A test calls this instead of waiting.
    pub(crate) async fn fire_now(&self, key: &Arc<str>) -> Result<usize> {
        self.check_open("fire", key)?;
        let times = self
            .store
            .times(&self.segment, key)
            .await
            .map_err(|e| store_failed("fire", key, &e))?;
        let mut state = self.lock();
        let mut queued = 0;
        for time in times {
            if state.firing.contains_key(&(Arc::clone(key), time)) {
                continue;
            }
            state.queue.remove(&(time, Arc::clone(key)));
            state.early.insert((time, Arc::clone(key)));
            queued += 1;
        }
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok(queued)
    }

    /// How long until the earliest timer is due at `now`: `None` if it is due already, or
    /// `Some(None)` when nothing is queued.
    pub(super) fn wait_until_due(&self, now: SystemTime) -> Option<Option<Duration>> {
        let state = self.lock();
        if !state.early.is_empty() {
            return None;
        }
        let Some((time, _)) = state.queue.first() else {
            return Some(None);
        };
        match time.to_system_time().duration_since(now) {
            Ok(wait) if !wait.is_zero() => Some(Some(wait)),
            _ => None,
        }
    }

    /// Pops the earliest timer if it is due at `now`, marking it firing.
    pub(super) fn pop_due(&self, now: SystemTime) -> Option<(Arc<str>, TimerTime)> {
        let mut state = self.lock();
        if let Some((time, key)) = state.early.pop_first() {
            state.firing.insert((Arc::clone(&key), time), false);
            return Some((key, time));
        }
        let (time, _) = state.queue.first()?;
        if time.to_system_time() > now {
            return None;
        }
        let (time, key) = state.queue.pop_first()?;
        state.firing.insert((Arc::clone(&key), time), false);
        Some((key, time))
    }

    /// Records that a firing timer's handler finished. Returns whether its stored row must now
    /// be deleted: not if it was scheduled again (it is queued instead) or if `settled` is false
    /// (the row stays and the partition's next owner fires it).
    pub(crate) fn finish(&self, key: &Arc<str>, time: TimerTime, settled: bool) -> bool {
        let mut state = self.lock();
        let Some(rescheduled) = state.firing.remove(&(Arc::clone(key), time)) else {
            return false;
        };
        if rescheduled {
            state.queue.insert((time, Arc::clone(key)));
            self.wake.notify_one();
            return false;
        }
        settled
    }

    /// Deletes a fired timer's row, retrying every second until it succeeds or `give_up`
    /// fires; a row left behind only means the timer fires again later.
    pub(crate) async fn delete_fired(
        &self,
        key: &str,
        time: TimerTime,
        give_up: &CancellationToken,
    ) {
        loop {
            match self.store.remove(&self.segment, key, time).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(segment = %self.segment, key, %time, %error, "could not delete a fired timer; retrying");
                }
            }
            tokio::select! {
                () = give_up.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Marks a load of `[horizon, until)` as started and returns its start.
    pub(super) fn begin_load(&self, until: TimerTime) -> TimerTime {
        let mut state = self.lock();
        state.loading = Some((until, HashSet::new()));
        state.horizon
    }

    /// Merges a finished load (or abandons it on `None`) and moves the horizon.
    pub(super) fn end_load(&self, loaded: Option<Vec<(String, TimerTime)>>) {
        let mut state = self.lock();
        let Some((until, removed)) = state.loading.take() else {
            return;
        };
        let Some(loaded) = loaded else { return };
        for (key, time) in loaded {
            let key: Arc<str> = key.into();
            let id = (key, time);
            if removed.contains(&id)
                || state.firing.contains_key(&id)
                || state.early.contains(&(id.1, Arc::clone(&id.0)))
            {
                continue;
            }
            state.queue.insert((time, id.0));
        }
        state.horizon = state.horizon.max(until);
        self.wake.notify_one();
    }

    /// The current horizon.
    pub(super) fn horizon(&self) -> TimerTime {
        self.lock().horizon
    }
}

fn store_failed(operation: &'static str, key: &str, error: &Error) -> Error {
    Error::Timer {
        operation,
        key: key.to_string(),
        reason: error.to_string(),
    }
}
