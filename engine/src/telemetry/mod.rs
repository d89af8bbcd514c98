//! The telemetry events topic: lifecycle events (message dispatched, succeeded, failed and
//! sent; timer scheduled, cancelled, dispatched, succeeded and failed) written as JSON to
//! `telemetry_topic`, best effort.
//!
//! A [`Telemetry`] handle is shared by everything a client emits from: its handler stack (the
//! telemetry middleware layer), its partitions' timers and its producer. Emitting is a
//! `try_send` of a small [`Event`] into a bounded channel of [`CAPACITY`]; JSON is written on
//! the emitter task ([`emitter`]), never on the handler path. When the channel is full the
//! emitter has fallen behind: the event is dropped and counted (`/metrics`), with a warning at
//! most every [`WARN_EVERY`], and the caller never waits. A disabled handle (telemetry off)
//! holds nothing and costs one branch.
//!
//! One emitter runs per client; it ends when the last handle is dropped, after a bounded
//! flush. [`Telemetry::flush`] waits for what was emitted so far to reach the broker, within
//! the same bound; a consumer calls it as it shuts down.
//!
//! This module imports only `metrics/`, `error.rs` and `trace.rs`; the Kafka sink and
//! [`Telemetry::start`] live in `kafka/telemetry.rs`.

mod emitter;
mod event;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub(crate) use emitter::Sink;
use emitter::{Command, FLUSH_TIMEOUT};
pub(crate) use event::{Demand, Event, EventType, Trace};

use crate::metrics::TelemetryMetrics;
use crate::rate_limit::RateLimit;

/// Events that may wait for the emitter: a burst of this many is absorbed without a drop.
pub(crate) const CAPACITY: usize = 16_384;

/// The shortest gap between two warnings about dropped events.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// A client's handle on its telemetry emitter; cheap to clone. See the module docs.
///
/// ```
/// let telemetry = prosody_engine::Telemetry::disabled();
/// assert!(!telemetry.is_enabled());
/// ```
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    commands: mpsc::Sender<Command>,
    metrics: Arc<TelemetryMetrics>,
    /// Warnings about dropped events, at most one per [`WARN_EVERY`].
    warnings: RateLimit,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A handle that emits nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether events are written anywhere.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts an emitter writing to `sink` on the current runtime, with room for `capacity`
    /// events in its channel, counting into `metrics` (which the sink may count into too).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (callers enter one first).
    pub(crate) fn spawn(
        sink: Arc<dyn Sink>,
        capacity: usize,
        hostname: Arc<str>,
        metrics: Arc<TelemetryMetrics>,
    ) -> Self {
        let (commands, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(emitter::run(receiver, sink, Arc::clone(&metrics), hostname));
        Self {
            inner: Some(Arc::new(Inner {
                commands,
                metrics,
                warnings: RateLimit::new(WARN_EVERY),
            })),
        }
    }

    /// Emits the event `make` builds, if telemetry is on; never waits (see the module docs).
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(inner) = &self.inner {
            if inner.commands.try_send(Command::Event(make())).is_err() {
                inner.dropped();
            }
        }
    }

    /// What the emitter counts, for `/metrics`; `None` when disabled.
    pub(crate) fn metrics(&self) -> Option<&Arc<TelemetryMetrics>> {
        self.inner.as_ref().map(|inner| &inner.metrics)
    }

    /// Waits until every event emitted before the call has been handed to the producer and
    /// the producer has delivered it, or the flush bound has passed. Returns at once when
    /// disabled.
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let (done, wait) = oneshot::channel();
        // The channel may be full; waiting for room here is fine, as no handler waits on this.
        let queued = tokio::time::timeout(FLUSH_TIMEOUT, async {
            inner.commands.send(Command::Flush(done)).await.is_ok() && wait.await.is_ok()
        });
        let _ = queued.await;
    }
}

impl Inner {
    fn dropped(&self) {
        let total = self.metrics.dropped(1);
        if self.warnings.admit().is_some() {
            tracing::warn!(
                dropped_total = total,
                "telemetry events dropped: the emitter is behind; handlers are not slowed, the events are lost"
            );
        }
    }
}
