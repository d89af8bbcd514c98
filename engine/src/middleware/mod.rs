//! Middleware: each failure-handling concern as a layer wrapped around a [`Handler`].
//!
//! A wrapper implements [`Handler`] itself and holds its inner handler in an [`Arc`], so layers
//! compose like `tower` services: the outermost layer sees an event first and its result last.
//! [`stack::build`] composes the layers for the configured [`Mode`](crate::Mode); its docs state
//! the order and why.
//!
//! | Layer | Concern |
//! |---|---|
//! | [`Filter`] | loop prevention (`source-system` header) and `allowed_events` prefixes |
//! | [`Timeout`] | cancels a handler that runs past `timeout`; one that then fails is transient |
//! | [`Defer`] | pipeline mode: marks a message that keeps failing for deferral, while the failure rate allows |
//! | [`Qos`] | a fair handler permit per attempt; hot keys held back; the failure rate fed |
//! | [`Retry`] | in-place retries with full-jitter exponential backoff, per a [`RetryPolicy`] |
//! | [`FailureTopic`] | low-latency mode: writes a finally failing message to `failure_topic` |
//! | [`BestEffort`] | best-effort mode: logs a failure and moves on |
//! | [`Dedup`] | skips a message whose payload `id` was already handled, per a [`DedupStore`] |
//! | [`Respond`] | answers a request naming the consumer's subsystem, on its final outcome |
//! | [`Lifecycle`] | emits each attempt's dispatched and succeeded/failed events to the telemetry topic |
//!
//! Skipping a message means returning `Ok(())` without calling the inner handler, so its offset
//! is committed. A [`ErrorClass::Terminal`](crate::ErrorClass::Terminal) error passes through
//! every layer untouched: it means the offset must not be committed.
//!
//! Timers pass through [`Filter`], [`Dedup`] and [`FailureTopic`] untouched; [`Timeout`],
//! [`Retry`] and [`BestEffort`] treat them as they treat messages.

use std::sync::Arc;

use crate::handler::Handler;

mod best_effort;
mod dedup;
mod defer;
mod failure_topic;
mod filter;
mod lifecycle;
mod measure;
mod qos;
mod respond;
mod retry;
pub mod stack;
mod timeout;

#[cfg(test)]
pub(crate) mod test_support;

pub use best_effort::{BestEffort, BestEffortLayer};
pub use dedup::{
    CassandraDedupStore, Dedup, DedupKey, DedupLayer, DedupStore, MemoryDedupStore,
    DEDUP_REQUEST_TIMEOUT,
};
pub use defer::{Defer, DeferLayer};
pub use failure_topic::{
    FailureSink, FailureTopic, FailureTopicLayer, CONSUMER_GROUP_HEADER, ERROR_HEADER,
    SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER, SOURCE_TIMESTAMP_HEADER, SOURCE_TOPIC_HEADER,
};
pub use filter::{Filter, FilterLayer};
pub use lifecycle::{Lifecycle, LifecycleLayer};
pub(crate) use measure::Meter;
pub use qos::{Qos, QosLayer};
pub use respond::{ReplySink, Respond, RespondLayer, ALREADY_HANDLED};
pub use retry::{Backoff, Bounded, Retry, RetryForever, RetryLayer, RetryPolicy};
pub use timeout::{Timeout, TimeoutLayer};

/// Wraps a handler in one middleware: the configuration half of a wrapper.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use prosody_engine::middleware::{Layer, TimeoutLayer};
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let handler = TimeoutLayer::new(Duration::from_secs(5)).layer(Arc::new(Noop));
/// assert_eq!(handler.timeout(), Duration::from_secs(5));
/// ```
pub trait Layer<H: ?Sized> {
    /// The wrapper this layer produces.
    type Handler: Handler;

    /// Wraps `inner`.
    fn layer(&self, inner: Arc<H>) -> Self::Handler;
}
