//! State shared by the poll thread, the rebalance callbacks and the partition tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consumer::backlogs::Backlogs;
use crate::consumer::decode::Record;
use crate::consumer::deferral::Deferral;
use crate::consumer::poll::Signal;
use crate::consumer::reachability::Reachability;
use crate::handler::{Handler, Reloader};
use crate::metrics::ConsumerMetrics;
use crate::probe::Heartbeat;
use crate::qos::FairScheduler;
use crate::state::ConsumerState;
use crate::telemetry::Telemetry;
use crate::timers::{PartitionTimers, TimerStore};

/// A topic and partition.
pub(crate) type TopicPartition = (Arc<str>, i32);

/// Tunables the consumer reads on its hot paths, copied out of the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) group_id: String,
    /// At least 1, as `Config` guarantees.
    pub(crate) max_uncommitted: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) stall_threshold: Duration,
    /// How far ahead each partition keeps its timers in memory (`slab_size`).
    pub(crate) timer_window: Duration,
    /// On the mock cluster: enables test hooks such as [`Consumer::fire_timers`].
    ///
    /// [`Consumer::fire_timers`]: super::Consumer::fire_timers
    pub(crate) mock: bool,
    /// The group's spans and how they relate upstream (`message_spans`, `timer_spans`).
    pub(crate) spans: crate::consumer::spans::Spans,
    /// Whether records without a payload reach the handler as excise messages rather than
    /// being skipped ([`Handler::takes_excise`]).
    pub(crate) excise: bool,
    /// The attempts a round of in-place retries makes before pipeline mode defers an event
    /// (`max_retries + 1`): a deferred event's `Context::retries` counts on from them.
    pub(crate) attempts_per_round: u32,
}

/// A partition's progress, written by its task and read by the poll thread and probes.
#[derive(Debug)]
pub(crate) struct Progress {
    /// The next offset to commit, or -1 when nothing has completed yet.
    pub(crate) next_commit: AtomicI64,
    /// Whether some taken offset has not completed.
    pub(crate) busy: AtomicBool,
    /// Milliseconds since [`Shared::epoch`] at which the watermark last moved (or work arrived
    /// on an idle partition).
    pub(crate) last_progress_ms: AtomicU64,
    /// Beaten by the partition's timer loader and scheduler (see `health.rs`).
    pub(crate) timer_loader: Arc<Heartbeat>,
    pub(crate) timer_scheduler: Arc<Heartbeat>,
    /// High watermark minus committed offset, from librdkafka's statistics; -1 until known.
    pub(crate) lag: AtomicI64,
}

/// The handles that control one partition's task.
#[derive(Debug)]
pub(crate) struct PartitionHandle {
    /// Records from the poll thread, undecoded (see [`Record::decode`]).
    pub(crate) sender: mpsc::Sender<Record>,
    pub(crate) progress: Arc<Progress>,
    /// The partition's deferred backlogs (pipeline mode with deferral), for test hooks.
    pub(crate) backlogs: Option<Arc<Backlogs>>,
    /// The partition's timers: `/metrics` reports their pending count, and mock mode's test
    /// hooks reach them from outside the partition's task.
    pub(crate) timers: Arc<PartitionTimers>,
    /// Stop taking new work; let running handlers finish.
    pub(crate) drain: CancellationToken,
    /// Ask running handlers to stop.
    pub(crate) cancel: CancellationToken,
    /// Drop running handlers.
    pub(crate) terminate: CancellationToken,
    pub(crate) task: JoinHandle<()>,
}

/// Counters that tests and benchmarks read.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Times the consumer paused its partitions because it was full.
    pub pauses: AtomicU64,
    /// Times it resumed them.
    pub resumes: AtomicU64,
    /// The most messages ever buffered or in flight at once.
    pub peak_in_flight: AtomicUsize,
    /// Messages handed to handlers.
    pub dispatched: AtomicU64,
    /// Records skipped because they could not be decoded.
    pub skipped: AtomicU64,
    /// Timers handed to handlers.
    pub timers_fired: AtomicU64,
    /// Messages parked in a deferred key's backlog (the failing one and those queued behind).
    pub deferred: AtomicU64,
    /// Deferred messages handled on a retry (succeeded, or given up with a logged reason).
    pub undeferred: AtomicU64,
    /// Application timers parked in a deferred key's backlog (the failing one and those that
    /// came due behind it).
    pub deferred_timers: AtomicU64,
    /// Deferred timers handled on a retry (succeeded, or given up with a logged reason).
    pub undeferred_timers: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) handler: Arc<dyn Handler>,
    /// The stack's handler permits: an event takes its first one before entering the stack.
    pub(crate) scheduler: FairScheduler,
    /// With the benchmarks' yardstick on (`qos::baseline`), plain permits held per event instead.
    #[cfg(feature = "bench")]
    pub(crate) baseline_permits: Option<Semaphore>,
    pub(crate) runtime: Handle,
    /// Deferred retry, in pipeline mode with `defer_enabled`.
    pub(crate) deferral: Option<Arc<Deferral>>,
    /// Where timers persist.
    pub(crate) timer_store: Arc<dyn TimerStore>,
    /// Due timers waiting for or running a handler, over all partitions: `max_uncommitted`.
    pub(crate) timer_permits: Arc<Semaphore>,
    /// Messages buffered or in flight across all partitions.
    pub(crate) in_flight: AtomicUsize,
    /// Messages ever released (see [`Shared::release`]): the poll thread tells a full consumer
    /// that still moves from a stalled one by whether this changes.
    pub(crate) released: AtomicUsize,
    pub(crate) paused: AtomicBool,
    /// Set by [`Consumer::pause`](super::Consumer::pause): take no records, keep the assignment
    /// paused.
    pub(crate) quiet: AtomicBool,
    pub(crate) signal: Signal,
    pub(crate) partitions: Mutex<Partitions>,
    pub(crate) shutdown: AtomicBool,
    pub(crate) epoch: Instant,
    pub(crate) stats: ConsumerStats,
    /// Beaten by the poll loop on every turn (see `health.rs`).
    pub(crate) poll_heartbeat: Heartbeat,
    /// Counted by the handler stack and the partition tasks; scraped by `/metrics`.
    pub(crate) metrics: Arc<ConsumerMetrics>,
    /// Whether any broker answers, as the poll thread last learned.
    pub(crate) reachability: Reachability,
    /// The client's telemetry emitter: partitions' timers report to it, shutdown flushes it.
    pub(crate) telemetry: Telemetry,
    /// Registered keyed-state collections and their store; `None` when there are none.
    pub(crate) state: Option<ConsumerState>,
    /// Reads message collections' references back; `None` when none is registered.
    pub(crate) reloader: Option<Reloader>,
}

/// The partitions this consumer owns. The poll thread looks each record's partition up here,
/// so the table uses foldhash rather than SipHash.
pub(crate) type Partitions = HashMap<TopicPartition, PartitionHandle, foldhash::fast::RandomState>;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn partitions(&self) -> MutexGuard<'_, Partitions> {
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts `count` more messages as buffered.
    pub(crate) fn acquire(&self, count: usize) {
        let now = self.in_flight.fetch_add(count, Ordering::AcqRel) + count;
        self.stats.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts `count` messages as finished, waking the poll thread when that frees capacity
    /// it may be waiting for.
    pub(crate) fn release(&self, count: usize) {
        if count == 0 {
            return;
        }
        let before = self.in_flight.fetch_sub(count, Ordering::AcqRel);
        self.released.fetch_add(count, Ordering::Release);
        let after = before.saturating_sub(count);
        let max = self.settings.max_uncommitted;
        let crossed_low = self.paused.load(Ordering::Acquire) && after <= resume_mark(max);
        if before >= max || crossed_low {
            self.signal.notify();
        }
    }
}

/// Paused partitions resume once buffered work falls to half the limit, so a consumer at its
/// limit does not pause and resume on every message.
pub(crate) fn resume_mark(max_uncommitted: usize) -> usize {
    max_uncommitted / 2
}
