//! The group consumer: per-key ordering with cross-key concurrency, out-of-order completion
//! with watermark commits, backpressure, rebalances and graceful shutdown.
//!
//! One poll thread reads records from Kafka (see [`poll`]); one tokio task per assigned
//! partition runs handlers (see [`partition`]). Delivery is at least once: an offset is
//! committed only after its handler finished (or its record was skipped as undecodable), so a
//! crash or revocation redelivers exactly what had not completed.

mod backlogs;
mod decode;
mod deferral;
mod deferred_timers;
mod drain;
mod event;
mod health;
mod keyed;
mod metrics;
mod offsets;
mod partition;
mod poll;
mod reachability;
mod reload;
mod retry_deferred;
mod shared;
mod spans;
mod subscription;
mod test_hooks;
mod timer_event;

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use shared::ConsumerStats;
pub(crate) use subscription::Subscription;

use poll::PollThread;
use shared::Shared;

/// Time a shutdown allows, past `shutdown_timeout`, for the final commit and leaving the group.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

use crate::metrics::ConsumerMetrics;
use crate::probe::Registration;

/// A running group consumer. Dropping it starts a graceful shutdown in the background; call
/// [`Consumer::shutdown`] to wait for that to finish.
///
/// [`Consumer::subscribe`] wraps the handler in the failure-handling middleware and starts a
/// consumer with the result; the consumer itself runs whatever handler it is given.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use prosody_engine::{Config, Consumer, Context, Handler, HandlerFuture, Message};
/// struct Count;
/// impl Handler for Count {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
/// # async fn demo(config: Config) -> prosody_engine::Result<()> {
/// let consumer = Consumer::subscribe(&config, Arc::new(Count), tokio::runtime::Handle::current())?;
/// consumer.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Consumer {
    shared: Arc<Shared>,
    thread: Option<PollThread>,
    /// Its place on the probe server, left once the consumer has stopped.
    probe: Option<Registration>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.shared.settings.group_id)
            .field("assigned_partitions", &self.assigned_partitions())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// How many partitions this consumer currently owns.
    pub fn assigned_partitions(&self) -> usize {
        self.shared.partitions().len()
    }

    /// Whether the poll loop or a partition has made no progress for `stall_threshold` while
    /// it had work. The liveness probe (`/livez`) answers from the same check.
    pub fn is_stalled(&self) -> bool {
        self.shared.is_stalled()
    }

    /// Why no Kafka broker answers (since when, the servers tried, librdkafka's reason), or
    /// `None` while one does. `/readyz` reports the same.
    pub fn broker_error(&self) -> Option<String> {
        self.shared.reachability.problem()
    }

    /// Messages taken and not yet committable: buffered, being handled, or finished behind an
    /// offset of their partition that has not (what `max_uncommitted` bounds).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Stops taking new messages and pauses every assigned partition (also those assigned
    /// later), keeping the consumer in its group. Handlers already running or buffered finish,
    /// and their offsets commit; timers of owned partitions still fire. [`resume`](Self::resume)
    /// undoes it.
    pub fn pause(&self) {
        self.shared.quiet.store(true, Ordering::Release);
        self.shared.signal.notify();
    }

    /// Takes messages again after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.shared.quiet.store(false, Ordering::Release);
        self.shared.signal.notify();
    }

    /// Whether [`pause`](Self::pause) is in effect.
    pub fn is_paused(&self) -> bool {
        self.shared.quiet.load(Ordering::Acquire)
    }

    /// The counters `/metrics` reports for this consumer.
    pub(crate) fn metrics(&self) -> &ConsumerMetrics {
        &self.shared.metrics
    }

    /// Counters for tests and benchmarks.
    pub fn stats(&self) -> &ConsumerStats {
        &self.shared.stats
    }

    /// Stops taking messages, lets running handlers finish (cancelling them near the end of
    /// `shutdown_timeout`), commits what completed and leaves the group, then flushes the
    /// telemetry emitter (for at most a few seconds).
    pub async fn shutdown(mut self) {
        let limit = self.close_limit();
        if let Some(thread) = self.begin_shutdown() {
            let closed = tokio::task::spawn_blocking(move || thread.wait(limit)).await;
            self.report_unclosed(closed.unwrap_or(true), limit);
        }
        self.probe.take();
        // Every event is emitted by now; what the emitter holds goes out (bounded) before the
        // caller is told the consumer stopped.
        self.shared.telemetry.flush().await;
        crate::otel::flush().await;
    }

    /// [`Consumer::shutdown`] for callers outside an async context.
    pub fn shutdown_blocking(mut self) {
        let limit = self.close_limit();
        if let Some(thread) = self.begin_shutdown() {
            self.report_unclosed(thread.wait(limit), limit);
        }
        self.probe.take();
        if self.shared.telemetry.is_enabled() {
            self.shared.runtime.block_on(self.shared.telemetry.flush());
        }
        if crate::otel::enabled() {
            self.shared.runtime.block_on(crate::otel::flush());
        }
    }

    /// How long a shutdown waits for the consumer to close: the drain's own limit, plus time
    /// for the final commit and leaving the group.
    fn close_limit(&self) -> std::time::Duration {
        self.shared.settings.shutdown_timeout + CLOSE_GRACE
    }

    fn report_unclosed(&self, closed: bool, limit: std::time::Duration) {
        if !closed {
            tracing::error!(
                group = %self.shared.settings.group_id,
                ?limit,
                "the consumer did not close in time; returning without it (librdkafka may \
                 still be committing or leaving the group in the background)"
            );
        }
    }

    fn begin_shutdown(&mut self) -> Option<PollThread> {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.signal.notify();
        self.thread.take()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // The poll thread finishes the shutdown on its own; joining here could block an async
        // runtime thread.
        let _ = self.begin_shutdown();
    }
}
