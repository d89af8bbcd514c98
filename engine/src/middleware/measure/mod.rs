//! Counting and timing what the stack does, for `/metrics`: a [`Meter`] that the filter, dedup
//! and timeout layers hold and call at the moment something happens.
//!
//! - [`Filter`](super::Filter) counts a skipped message as `filtered`, [`Dedup`](super::Dedup)
//!   one already handled as `deduplicated`.
//! - [`Timeout`](super::Timeout), which bounds exactly one handler attempt, times each attempt
//!   ([`Attempt`]) and counts it `handled` or `failed`, and `retried` when it is not the
//!   event's first (in place, or a deferred event coming back).
//!
//! It is not a layer of its own because a wrapper would box one more future per attempt; the
//! timeout layer boxes its future anyway, and an [`Attempt`] rides inside it. Each count is a
//! short topic scan and a relaxed add (see [`crate::metrics`]). A stack built without metrics
//! (a bare [`stack::build`](super::stack::build)) holds empty meters that do nothing.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use crate::handler::Context;
use crate::metrics::{ConsumerMetrics, Kind, Outcome};

/// Where a layer counts; empty (counting nothing) unless the stack was built with metrics.
#[derive(Clone, Default)]
pub(crate) struct Meter(Option<Arc<ConsumerMetrics>>);

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Meter").field(&self.0.is_some()).finish()
    }
}

impl Meter {
    pub(crate) fn new(metrics: Arc<ConsumerMetrics>) -> Self {
        Self(Some(metrics))
    }

    /// Counts one `outcome` of a message of `topic`.
    pub(crate) fn count_message(&self, topic: &str, outcome: Outcome) {
        if let Some(metrics) = &self.0 {
            metrics.count(topic, Kind::Message, outcome);
        }
    }

    /// Starts timing a handler attempt at a `kind` event of `topic` (for a timer, the topic of
    /// its partition, which its context knows), counting it as retried when it is one.
    pub(crate) fn start(&self, topic: Option<&str>, kind: Kind, context: &Context) -> Attempt {
        let counted = self.0.as_ref().zip(topic).map(|(metrics, topic)| {
            let slot = metrics.topic_slot(topic);
            if context.is_retry() {
                metrics.count_in(slot, kind, Outcome::Retried);
            }
            (Arc::clone(metrics), slot, Instant::now())
        });
        Attempt { counted, kind }
    }
}

/// One handler attempt being timed; [`Attempt::finish`] records it. One dropped unfinished
/// (its handler panicked, or was dropped at the end of a drain) counts as failed.
#[derive(Debug)]
pub(crate) struct Attempt {
    counted: Option<(Arc<ConsumerMetrics>, usize, Instant)>,
    kind: Kind,
}

impl Attempt {
    /// Records the attempt's duration and whether it succeeded.
    pub(crate) fn finish(mut self, succeeded: bool) {
        self.record(succeeded);
    }

    fn record(&mut self, succeeded: bool) {
        if let Some((metrics, slot, started)) = self.counted.take() {
            metrics.observe_handler(self.kind, started.elapsed());
            let outcome = if succeeded {
                Outcome::Handled
            } else {
                Outcome::Failed
            };
            metrics.count_in(slot, self.kind, outcome);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.record(false);
    }
}
