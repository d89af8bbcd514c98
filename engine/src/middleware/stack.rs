//! Composes the middleware for the configured [`Mode`].
//!
//! # Order
//!
//! Outermost first (the first layer sees the message first and the result last):
//!
//! | Mode | Layers |
//! |---|---|
//! | `pipeline` | [`Filter`] → ([`Respond`]) → [`Defer`] (with in-place retries, as [`Retry`]\([`Bounded`])) → [`Dedup`] → [`Qos`] → ([`Lifecycle`]) → [`Timeout`] → handler |
//! | `pipeline`, `defer_enabled: false` | [`Filter`] → ([`Respond`]) → [`Retry`]\([`RetryForever`]) → [`Dedup`] → [`Qos`] → ([`Lifecycle`]) → [`Timeout`] → handler |
//! | `low_latency` | [`Filter`] → [`FailureTopic`] → ([`Respond`]) → [`Retry`]\([`Bounded`]) → [`Dedup`] → [`Qos`] → ([`Lifecycle`]) → [`Timeout`] → handler |
//! | `best_effort` | [`Filter`] → [`BestEffort`] → ([`Respond`]) → [`Dedup`] → [`Qos`] → ([`Lifecycle`]) → [`Timeout`] → handler |
//!
//! [`Lifecycle`] is there only when the client's telemetry is on; [`Respond`] only for a
//! consumer with a subsystem, which answers requests. It sits where each event's outcome is
//! final: outside the retries and deferral, inside the layers that swallow a final failure.
//!
//! [`Dedup`] is left out when `idempotence_cache_size` is 0. Otherwise its store is a
//! [`MemoryDedupStore`] with `mock: true`, and a [`CassandraDedupStore`] (an in-memory cache of
//! `idempotence_cache_size` keys in front of Cassandra) without. Each [`build`] creates a fresh
//! store, so every consumer has its own cache; only Cassandra is shared. Building does no I/O:
//! the Cassandra session connects on the first lookup, and while it cannot, lookups fail as
//! transient errors that the mode's layer handles (below).
//!
//! Why this order:
//!
//! 1. **Filter outermost.** Filtering is a pure check of a header and the payload `type`; it
//!    cannot fail, so nothing needs retrying or timing out. Running it first means a skipped
//!    message costs no dedup lookup and is never recorded as handled, which would evict useful
//!    entries and could later suppress an event that was never processed. Upstream filters in
//!    the partition stream, before every layer, for the same reasons.
//! 2. **The mode's layer next: the durability boundary.** Its result decides whether the
//!    offset commits (`Ok`, transient, permanent) or not (terminal). Everything inside it,
//!    dedup store errors included, gets the mode's treatment: retried `max_retries` times in
//!    place then deferred while the failure rate allows, else retried in place (pipeline; with
//!    `defer_enabled: false`, retried forever), retried `max_retries` times then written to
//!    `failure_topic` (low latency), or logged (best effort). [`FailureTopic`] sits outside the bounded [`Retry`] so it sees only the
//!    final error.
//! 3. **Dedup inside the retries.** Each attempt checks the store, runs the handler and records
//!    the outcome as one unit, so a store outage is retried like any transient failure and a
//!    transient handler failure is never recorded.
//! 4. **A permit per attempt.** [`Qos`] sits just outside [`Timeout`] and releases the handler
//!    permit as soon as the attempt ends: back-off sleeps and deferral hold none, and each retry
//!    asks the fair scheduler again (from its failure share). An event's first permit is taken
//!    by the consumer before the event enters the stack ([`build_with`]), so it also covers the
//!    filter and dedup lookup of that first attempt. That lookup usually started when the
//!    message arrived ([`Handler::prefetch`], which every layer passes inward), so the permit
//!    waits only for what is left of it. In pipeline mode [`Qos`] also holds back
//!    hot keys and measures the failure rate.
//! 5. **Lifecycle events per attempt, inside the permit.** [`Lifecycle`] reports an attempt as
//!    dispatched when it has its permit and starts, and its outcome as the handler (timeout
//!    included) gives it; retries are further attempts, so they show up as further dispatches.
//! 6. **Timeout innermost.** It bounds exactly one handler attempt and gives each attempt its
//!    own child context, so a retry after a timeout starts with a fresh deadline and an
//!    uncancelled context, and dedup store I/O does not count against the handler's time.
//!
//! Timers skip [`Filter`], [`Dedup`] and [`FailureTopic`]; they are timed out and retried (or
//! given up in best-effort mode) like messages.
//!
//! [`Filter`]: super::Filter
//! [`Handler::prefetch`]: crate::Handler::prefetch
//! [`Retry`]: super::Retry
//! [`RetryForever`]: super::RetryForever
//! [`Bounded`]: super::Bounded
//! [`Dedup`]: super::Dedup
//! [`Timeout`]: super::Timeout
//! [`Qos`]: super::Qos
//! [`Lifecycle`]: super::Lifecycle
//! [`Defer`]: super::Defer
//! [`FailureTopic`]: super::FailureTopic
//! [`BestEffort`]: super::BestEffort
//! [`Respond`]: super::Respond
//! [`MemoryDedupStore`]: super::MemoryDedupStore
//! [`CassandraDedupStore`]: super::CassandraDedupStore

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::metrics::ConsumerMetrics;
use crate::middleware::{
    Backoff, BestEffortLayer, Bounded, CassandraDedupStore, DedupLayer, DedupStore, DeferLayer,
    FailureSink, FailureTopicLayer, FilterLayer, Layer, LifecycleLayer, MemoryDedupStore, Meter,
    QosLayer, RespondLayer, RetryForever, RetryLayer, TimeoutLayer,
};
use crate::qos::{FailureRate, FairScheduler, HotKeys, SchedulerSettings};
use crate::telemetry::Telemetry;

/// Wraps `inner` in the layers for `config.mode`, in the order the module docs give.
///
/// `failure_sink` (normally the client's [`Producer`](crate::Producer)) is required in
/// low-latency mode and ignored otherwise.
///
/// # Errors
///
/// In low-latency mode, when `failure_sink` is `None` (or `failure_topic` is unset, which a
/// parsed [`Config`] never allows).
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::middleware::stack;
/// use prosody_engine::{Config, Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let config = Config::from_options_with_env([("group_id", "billing")], |_| None)?;
/// let handler = stack::build(&config, Arc::new(Noop), None)?;
/// # let _ = handler;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build(
    config: &Config,
    inner: Arc<dyn Handler>,
    failure_sink: Option<Arc<dyn FailureSink>>,
) -> Result<Arc<dyn Handler>> {
    build_with(config, inner, failure_sink, scheduler(config))
}

/// The fair scheduler for `max_concurrency` permits and the `scheduler_*` options.
#[must_use]
pub fn scheduler(config: &Config) -> FairScheduler {
    FairScheduler::new(SchedulerSettings {
        permits: config.max_concurrency,
        failure_weight: config.scheduler_failure_weight,
        max_wait: config.scheduler_max_wait,
        wait_weight: config.scheduler_wait_weight,
        cache_size: config.scheduler_cache_size,
    })
}

/// Like [`build`], with the permits of `scheduler`, which the consumer shares: it takes each
/// event's first permit before the event enters the stack, so events waiting for one wait
/// cheaply, outside the stack.
///
/// # Errors
///
/// As [`build`].
pub fn build_with(
    config: &Config,
    inner: Arc<dyn Handler>,
    failure_sink: Option<Arc<dyn FailureSink>>,
    scheduler: FairScheduler,
) -> Result<Arc<dyn Handler>> {
    compose(
        config,
        inner,
        failure_sink,
        scheduler,
        &Meter::default(),
        &Telemetry::disabled(),
        None,
    )
}

/// Like [`build_with`], counting into `metrics` for `/metrics` (the filter and dedup layers
/// count what they skip, and the timeout layer times and counts each handler attempt, see
/// `middleware/measure`), and emitting each attempt's lifecycle into `telemetry` when it is on.
/// With `respond`, the consumer answers requests for its subsystem.
pub(crate) fn build_measured(
    config: &Config,
    inner: Arc<dyn Handler>,
    failure_sink: Option<Arc<dyn FailureSink>>,
    scheduler: FairScheduler,
    metrics: &Arc<ConsumerMetrics>,
    telemetry: &Telemetry,
    respond: Option<&RespondLayer>,
) -> Result<Arc<dyn Handler>> {
    let meter = Meter::new(Arc::clone(metrics));
    if let Some(respond) = respond {
        metrics.attach_responses(Arc::clone(respond.metrics()));
    }
    compose(
        config,
        inner,
        failure_sink,
        scheduler,
        &meter,
        telemetry,
        respond,
    )
}

fn compose(
    config: &Config,
    inner: Arc<dyn Handler>,
    failure_sink: Option<Arc<dyn FailureSink>>,
    scheduler: FairScheduler,
    meter: &Meter,
    telemetry: &Telemetry,
    respond: Option<&RespondLayer>,
) -> Result<Arc<dyn Handler>> {
    let group_id = config.group_id.clone().unwrap_or_default();
    let backoff = Backoff::new(config.retry_base, config.max_retry_delay);

    let timeout = TimeoutLayer::new(config.timeout).metered(meter.clone());
    let mut handler = wrap(&timeout, inner);
    if telemetry.is_enabled() {
        let lifecycle = LifecycleLayer::new(telemetry.clone(), &group_id);
        handler = wrap(&lifecycle, handler);
    }
    let baseline = crate::qos::baseline_enabled();
    let deferring = config.mode == Mode::Pipeline && config.defer_enabled && !baseline;
    let failure_rate = Arc::new(FailureRate::new(config.defer_failure_window));
    if !baseline {
        let mut qos = qos_layer(config, scheduler);
        if deferring {
            qos = qos.counting_successes(Arc::clone(&failure_rate));
        }
        handler = wrap(&qos, handler);
    }
    if config.idempotence_cache_size > 0 {
        let store: Arc<dyn DedupStore> = if config.mock {
            Arc::new(MemoryDedupStore::new(config.idempotence_cache_size))
        } else {
            Arc::new(CassandraDedupStore::from_config(config))
        };
        let dedup = DedupLayer::new(
            store,
            group_id.as_str(),
            config.idempotence_version.as_str(),
        )
        .metered(meter.clone());
        handler = wrap(&dedup, handler);
    }
    let answering = |handler| match respond {
        Some(respond) => wrap(respond, handler),
        None => handler,
    };
    handler = match config.mode {
        Mode::Pipeline if deferring => {
            let defer = DeferLayer::new(failure_rate, config.defer_failure_threshold, backoff)
                .retrying_first(config.max_retries, backoff)
                .successes_counted_inside();
            answering(wrap(&defer, handler))
        }
        Mode::Pipeline => answering(wrap(&RetryLayer::new(RetryForever, backoff), handler)),
        Mode::LowLatency => {
            let failure_topic = failure_topic_layer(config, failure_sink, &group_id, backoff)?;
            let retry = RetryLayer::new(Bounded(config.max_retries), backoff);
            wrap(&failure_topic, answering(wrap(&retry, handler)))
        }
        Mode::BestEffort => wrap(&BestEffortLayer, answering(handler)),
    };
    let filter = FilterLayer::new(config.group_id.clone(), config.allowed_events.clone())
        .metered(meter.clone());
    Ok(wrap(&filter, handler))
}

/// The [`Qos`](super::Qos) layer over `scheduler`'s permits; in pipeline mode also hot-key
/// protection (unless `monopolization_enabled` is false).
fn qos_layer(config: &Config, scheduler: FairScheduler) -> QosLayer {
    let pipeline = config.mode == Mode::Pipeline;
    let hot_keys = (pipeline && config.monopolization_enabled).then(|| {
        Arc::new(HotKeys::new(
            config.monopolization_window,
            config.monopolization_threshold,
            config.monopolization_cache_size,
        ))
    });
    QosLayer::new(scheduler, hot_keys)
}

fn wrap<L>(layer: &L, inner: Arc<dyn Handler>) -> Arc<dyn Handler>
where
    L: Layer<dyn Handler>,
{
    Arc::new(layer.layer(inner))
}

fn failure_topic_layer(
    config: &Config,
    sink: Option<Arc<dyn FailureSink>>,
    group_id: &str,
    backoff: Backoff,
) -> Result<FailureTopicLayer> {
    // Parsing a `Config` already refuses low-latency mode without `failure_topic`
    // (`check_consistency`), so the topic is checked there; what a caller of `build` can still
    // leave out is the sink (or, in a `Config` assembled by hand, the topic with it).
    match (config.failure_topic.as_deref(), sink) {
        (Some(topic), Some(sink)) => Ok(FailureTopicLayer::new(sink, topic, group_id, backoff)),
        _ => Err(Error::State(
            "low_latency mode needs `failure_topic` (PROSODY_FAILURE_TOPIC) and a sink to write it with: set the option and pass a producer to the middleware stack",
        )),
    }
}
