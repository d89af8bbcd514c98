//! One task per assigned partition: per-key ordering, concurrency and offset tracking.
//!
//! The poll thread sends records through a bounded channel whose capacity is
//! `max_uncommitted`; since the poll thread never has more than that many records
//! outstanding in total, a send never finds the channel full. Inside the task, [`KeyQueues`]
//! runs one event per key at a time; the handler stack's fair scheduler caps running handlers
//! at `max_concurrency`. No task is spawned per message: running handlers are futures polled
//! by this task.
//!
//! Shutdown has three steps, driven by [`PartitionHandle`]'s tokens: `drain` stops new work
//! (queued events are abandoned uncommitted), `cancel` asks running handlers to stop, and
//! `terminate` drops them. Only completed offsets are ever published for commit.
//!
//! The partition's timers (see [`crate::timers`]) have a loader and a scheduler task of their
//! own; due timers arrive through a second bounded channel and join the same per-key queues
//! as messages. Both tasks stop when the partition drains; timers not yet fired stay stored
//! for the partition's next owner.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consumer::decode::Record;
use crate::consumer::deferral::STORE_TIMEOUT;
use crate::consumer::deferred_timers::PartitionDeferredTimers;
use crate::consumer::event::{Done, Event, Scope};
use crate::consumer::keyed::KeyQueues;
use crate::consumer::offsets::OffsetTracker;
use crate::consumer::shared::{PartitionHandle, Progress, Shared, TopicPartition};
use crate::handler::KeyedPartition;
use crate::timers::{self, PartitionTimers, TimerSegment};

/// Due timers in transit from the scheduler; each holds a timer permit, so this stays small.
const DUE_TIMERS: usize = 16;

/// Starts the task for `partition` (and its timer tasks) and returns its handle.
pub(crate) fn spawn(shared: &Arc<Shared>, partition: &TopicPartition) -> PartitionHandle {
    let (sender, receiver) = mpsc::channel(shared.settings.max_uncommitted);
    let progress = Arc::new(Progress {
        next_commit: AtomicI64::new(-1),
        busy: AtomicBool::new(false),
        last_progress_ms: AtomicU64::new(shared.now_ms()),
        lag: AtomicI64::new(-1),
        timer_loader: Arc::default(),
        timer_scheduler: Arc::default(),
    });
    let (drain, cancel, terminate) = (
        CancellationToken::new(),
        CancellationToken::new(),
        CancellationToken::new(),
    );
    let segment = TimerSegment::new(&shared.settings.group_id, &partition.0, partition.1);
    let deferred = PartitionDeferredTimers::for_partition(shared.deferral.as_ref(), &segment);
    let timers = Arc::new(PartitionTimers::new(
        segment.clone(),
        Arc::clone(&shared.timer_store),
        shared.settings.timer_window,
        drain.clone(),
        deferred.as_ref().map(|(_, view)| Arc::clone(view)),
        shared.telemetry.clone(),
    ));
    let (due_sender, due) = mpsc::channel(DUE_TIMERS);
    let timer_tasks = [
        shared.runtime.spawn(timers::tasks::load(
            Arc::clone(&timers),
            Arc::clone(&progress.timer_loader),
        )),
        shared.runtime.spawn(timers::tasks::schedule(
            Arc::clone(&timers),
            Arc::clone(&progress.timer_scheduler),
            Arc::clone(&shared.timer_permits),
            due_sender,
        )),
    ];
    let backlogs = deferred.map(|(backlogs, _)| backlogs);
    let task = PartitionTask {
        scope: Arc::new(Scope {
            shared: Arc::clone(shared),
            timers: Arc::clone(&timers),
            cancel: cancel.clone(),
            terminate: terminate.clone(),
            drain: drain.clone(),
            label: format!("{}/{}", partition.0, partition.1).into(),
            backlogs: backlogs.clone(),
            segment,
            topic_slot: shared.metrics.topic_slot(&partition.0),
            state: shared.state.as_ref().map(|state| {
                Arc::new(KeyedPartition {
                    state: state.partition(&partition.0, partition.1),
                    reloader: shared.reloader.clone(),
                })
            }),
        }),
        progress: Arc::clone(&progress),
        tracker: OffsetTracker::default(),
        keys: KeyQueues::default(),
    };
    let task = shared.runtime.spawn(task.run(
        receiver,
        due,
        timer_tasks,
        drain.clone(),
        terminate.clone(),
    ));
    PartitionHandle {
        backlogs,
        sender,
        progress,
        timers,
        drain,
        cancel,
        terminate,
        task,
    }
}

struct PartitionTask {
    /// Shared by the partition's running events: one reference count per event.
    scope: Arc<Scope>,
    progress: Arc<Progress>,
    tracker: OffsetTracker,
    keys: KeyQueues<Event>,
}

impl PartitionTask {
    async fn run(
        mut self,
        mut receiver: mpsc::Receiver<Record>,
        mut due: mpsc::Receiver<timers::DueTimer>,
        timer_tasks: [JoinHandle<()>; 2],
        drain: CancellationToken,
        terminate: CancellationToken,
    ) {
        let mut running = FuturesUnordered::new();
        let mut open = true;
        // Created once: a fresh `cancelled()` future per turn of the loop registers with (and
        // then leaves) the token's waiter list every time, twice per message.
        let terminated = terminate.cancelled();
        let drained = drain.cancelled();
        // One timer for the next deferred retry, reset only when that time changes.
        let retry_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(terminated, drained, retry_timer);
        let mut retry_at = None;
        let mut seen_generation = u64::MAX;
        // Keyed state's epoch dates from the assignment (see `PartitionState::claim`).
        if let Some(keyed) = self.scope.state.clone() {
            tokio::select! {
                () = keyed.state.claim() => {}
                () = drain.cancelled() => {}
            }
        }
        if !self.restore_backlogs(&drain).await {
            open = false;
        }
        loop {
            if !open && running.is_empty() {
                break;
            }
            if let Some(backlogs) = self
                .scope
                .backlogs
                .as_ref()
                .filter(|backlogs| backlogs.generation() != seen_generation)
            {
                seen_generation = backlogs.generation();
                let next = backlogs.next_due();
                if next != retry_at {
                    if let Some(at) = next {
                        retry_timer.as_mut().reset(at);
                    }
                    retry_at = next;
                }
            }
            tokio::select! {
                biased;
                () = &mut terminated => break,
                () = &mut retry_timer, if retry_at.is_some() && open => {
                    retry_at = None;
                    let due = self
                        .scope
                        .backlogs
                        .as_ref()
                        .map(|backlogs| backlogs.take_due(tokio::time::Instant::now()))
                        .unwrap_or_default();
                    for key in due {
                        if let Some(event) = self.offer(Event::Retry(key)) {
                            running.push(self.scope.run(event));
                        }
                    }
                }
                Some(done) = running.next(), if !running.is_empty() => {
                    self.finish(&done);
                    // While draining, the key's next event is dropped unstarted: its offset
                    // stays uncommitted for the next owner (and is released below).
                    if let Some(next) = self.keys.finish(&done.key).filter(|_| open) {
                        running.push(self.scope.run(next));
                    }
                }
                () = &mut drained, if open => {
                    open = false;
                    receiver.close();
                    due.close();
                }
                Some(timer) = due.recv(), if open => {
                    let late = SystemTime::now().duration_since(timer.time.to_system_time());
                    self.scope.shared.metrics.observe_fire_lag(late.unwrap_or_default());
                    if let Some(event) = self.offer(Event::Timer(timer)) {
                        running.push(self.scope.run(event));
                    }
                }
                record = receiver.recv(), if open => match record {
                    Some(record) => {
                        if let Some(event) = self.receive(record) {
                            running.push(self.scope.run(event));
                        }
                    }
                    None => open = false,
                },
            }
            if !open && running.is_empty() {
                break;
            }
        }
        for task in timer_tasks {
            task.abort();
        }
        // Whatever was never started (or was dropped by `terminate`) stays uncommitted, so the
        // partition's next owner receives it again. Unfired timers stay in the store. The
        // consumer's uncommitted count gets back every offset this partition still holds.
        let mut abandoned = self.tracker.uncommitted();
        receiver.close();
        while receiver.try_recv().is_ok() {
            abandoned += 1;
        }
        self.scope.shared.release(abandoned);
    }

    /// Reads the partition's deferred backlogs before any of its messages run, so a deferred
    /// key's messages keep joining its backlog. `false` if the partition drained first.
    async fn restore_backlogs(&self, drain: &CancellationToken) -> bool {
        let (Some(backlogs), Some(deferral)) = (&self.scope.backlogs, &self.scope.shared.deferral)
        else {
            return true;
        };
        loop {
            let loaded =
                tokio::time::timeout(STORE_TIMEOUT, deferral.store.load(&self.scope.segment));
            match loaded.await.unwrap_or_else(|_| {
                Err(crate::error::Error::State(
                    "the deferral store did not answer within 5 s",
                ))
            }) {
                Ok(loaded) => {
                    backlogs.restore(loaded);
                    if backlogs.len() > 0 {
                        tracing::info!(partition = %self.scope.label, keys = backlogs.len(), "resuming deferred keys");
                    }
                    return true;
                }
                Err(error) => {
                    tracing::warn!(partition = %self.scope.label, %error, "could not read the deferred backlogs; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = drain.cancelled() => return false,
                    }
                }
            }
        }
    }

    /// Takes a record from the poll thread: decodes it and queues its message behind its key,
    /// returning the message if the key was idle, to start now. A redelivered offset is dropped
    /// and a record that cannot be decoded completes at once; either frees its place.
    fn receive(&mut self, record: Record) -> Option<Event> {
        let offset = record.offset();
        if !self.take(offset) {
            self.scope.shared.release(1);
            return None;
        }
        let shared = &self.scope.shared;
        match record.decode(&shared.stats.skipped, shared.settings.excise) {
            Some(message) => {
                // Lookups the stack needs for this message start now, while it waits its turn.
                shared.handler.prefetch(&message);
                self.offer(Event::Message(message))
            }
            None => {
                self.complete(offset);
                None
            }
        }
    }

    /// Queues `event` behind its key; returns it if the key was idle, to start now.
    fn offer(&mut self, event: Event) -> Option<Event> {
        let key = Arc::clone(event.key());
        self.keys.offer(&key, event)
    }

    fn finish(&mut self, done: &Done) {
        if let Some(offset) = done.commit {
            self.complete(offset);
        }
    }

    fn take(&mut self, offset: i64) -> bool {
        let was_busy = self.tracker.has_pending();
        let taken = self.tracker.take(offset);
        if taken && !was_busy {
            // An idle partition that receives work starts its stall clock now.
            self.progress
                .last_progress_ms
                .store(self.scope.shared.now_ms(), Ordering::Release);
            self.progress.busy.store(true, Ordering::Release);
        }
        taken
    }

    /// Marks `offset` done. A message counts against `max_uncommitted` from the moment the
    /// poll thread takes it until the watermark passes it, not just while it runs: a key
    /// stuck at one offset lets at most that many more messages be taken behind it, which
    /// bounds what a crash would redeliver.
    fn complete(&mut self, offset: i64) {
        let passed = self.tracker.complete(offset);
        if passed > 0 {
            self.scope.shared.release(passed);
            if let Some(next) = self.tracker.next_to_commit() {
                self.progress.next_commit.store(next, Ordering::Release);
            }
            self.progress
                .last_progress_ms
                .store(self.scope.shared.now_ms(), Ordering::Release);
        }
        self.progress
            .busy
            .store(self.tracker.has_pending(), Ordering::Release);
    }
}
