//! Subscribing: the one place that puts the middleware stack and the consumer together.
//!
//! The consumer runs whatever handler it is handed and knows nothing of middleware; the
//! middleware wraps handlers and knows nothing of the consumer. [`Consumer::subscribe`] checks
//! that the configuration can join a group, builds the stack for `config.mode` around the user's
//! handler (see [`crate::middleware::stack`]) and starts a consumer with it, emitting into the
//! client's telemetry (the stack's lifecycle layer and the partitions' timers share it).

use std::sync::Arc;

use tokio::runtime::Handle;

use crate::config::{Config, Mode};
use crate::consumer::{Consumer, Subscription};
use crate::error::Result;
use crate::handler::{Handler, Stateful};
use crate::kafka::Producer;
use crate::metrics::ConsumerMetrics;
use crate::middleware::{stack, FailureSink, RespondLayer};
use crate::state::{CassandraStateStore, ConsumerState, MemoryStateStore, Registry, StateStore};
use crate::telemetry::Telemetry;

impl Consumer {
    /// Joins `group_id` and starts handling `subscribed_topics` with `handler`, wrapped in the
    /// failure handling for `config.mode`. Partition tasks run on `runtime`; the poll loop runs
    /// on a thread of its own. With `telemetry_enabled`, it starts a telemetry emitter of its
    /// own; [`Consumer::subscribe_with_telemetry`] shares a client's instead.
    ///
    /// # Errors
    ///
    /// When `group_id` or `subscribed_topics` is missing, when `cassandra_nodes` is missing
    /// outside mock mode, or when a Kafka client cannot be created.
    pub fn subscribe(config: &Config, handler: Arc<dyn Handler>, runtime: Handle) -> Result<Self> {
        let subscription = Subscription::new(config)?;
        let telemetry = Telemetry::start(config, &runtime)?;
        Self::start(config, subscription, handler, runtime, telemetry, None)
    }

    /// [`Consumer::subscribe`], emitting lifecycle events into `telemetry` (the client's,
    /// shared with its producer) instead of an emitter of its own. A disabled handle emits
    /// nothing, whatever `telemetry_enabled` says.
    ///
    /// # Errors
    ///
    /// As [`Consumer::subscribe`].
    pub fn subscribe_with_telemetry(
        config: &Config,
        handler: Arc<dyn Handler>,
        runtime: Handle,
        telemetry: Telemetry,
    ) -> Result<Self> {
        let subscription = Subscription::new(config)?;
        Self::start(config, subscription, handler, runtime, telemetry, None)
    }

    /// [`Consumer::subscribe_with_telemetry`], with keyed state: the handler reaches the
    /// `collections` of each event's key through [`Context::state`](crate::Context::state).
    /// In mock mode the state lives in the process-wide
    /// [`MemoryStateStore`], otherwise in Cassandra. An
    /// attempt's writes commit when its handler succeeds, before its offset can commit; a
    /// failed attempt leaves nothing. An empty registry subscribes without keyed state. A
    /// registry with a [`subsystem`](Registry::subsystem) keeps the state under that name
    /// rather than `group_id`: one consumer group per subsystem.
    ///
    /// # Errors
    ///
    /// As [`Consumer::subscribe`].
    pub fn subscribe_with_state(
        config: &Config,
        handler: Arc<dyn Handler>,
        runtime: Handle,
        telemetry: Telemetry,
        collections: Registry,
    ) -> Result<Self> {
        let subscription = Subscription::new(config)?;
        Self::start(
            config,
            subscription,
            handler,
            runtime,
            telemetry,
            Some(collections),
        )
    }

    fn start(
        config: &Config,
        subscription: Subscription<'_>,
        handler: Arc<dyn Handler>,
        runtime: Handle,
        telemetry: Telemetry,
        collections: Option<Registry>,
    ) -> Result<Self> {
        // Asked of the user's handler itself: the stack built around it does not forward it.
        let subscription = subscription.taking_excise(handler.takes_excise());
        let subsystem = collections
            .as_ref()
            .and_then(|registry| registry.subsystem().map(str::to_owned));
        let state = collections
            .filter(|registry| !registry.is_empty())
            .map(|registry| keyed_state(config, registry));
        // Innermost, so each attempt's writes are settled by that attempt's own outcome.
        let handler: Arc<dyn Handler> = match state {
            Some(_) => Arc::new(Stateful::new(handler)),
            None => handler,
        };
        let inactive = config.inactive_options();
        if !inactive.is_empty() {
            tracing::warn!(
                mode = %config.mode,
                options = inactive.join(", "),
                "these options are set but do nothing in this mode"
            );
        }
        crate::otel::start_or_warn(&runtime);
        let metrics = Arc::new(ConsumerMetrics::new(
            config.group_id.as_deref().unwrap_or_default(),
            config.subscribed_topics.iter().map(String::as_str),
        ));
        let producer = failure_producer(config, &runtime)?;
        if let Some(producer) = &producer {
            metrics.attach_producer(Arc::clone(producer.metrics()));
        }
        let respond = subsystem
            .map(|subsystem| respond_layer(config, &runtime, producer.as_ref(), &subsystem))
            .transpose()?;
        let sink = producer.map(|producer| Arc::new(producer) as Arc<dyn FailureSink>);
        let scheduler = stack::scheduler(config);
        if let Some(counts) = telemetry.metrics() {
            metrics.attach_telemetry(Arc::clone(counts));
        }
        let handler = stack::build_measured(
            config,
            handler,
            sink,
            scheduler.clone(),
            &metrics,
            &telemetry,
            respond.as_ref(),
        )?;
        subscription.start(handler, scheduler, metrics, telemetry, state, runtime)
    }

    /// Reports `producer`'s sends in this consumer's `/metrics`, labelled with its group: a
    /// client's producer reports with the client's consumer. Reporting one twice counts once.
    pub fn report_sends_of(&self, producer: &Producer) {
        self.metrics()
            .attach_producer(Arc::clone(producer.metrics()));
    }
}

/// Keyed state for `config`'s group: the process's memory store in mock mode (shared like the
/// mock cluster, so a restarted consumer sees what the last one committed), else Cassandra.
/// With a subsystem, the state is kept under the subsystem's name instead of the group's, so
/// other clients can read its published collections knowing only the subsystem.
fn keyed_state(config: &Config, registry: Registry) -> ConsumerState {
    let store: Arc<dyn StateStore> = if config.mock {
        MemoryStateStore::shared()
    } else {
        Arc::new(CassandraStateStore::from_config(config))
    };
    let group = config.group_id.as_deref().unwrap_or_default();
    let owner = registry.subsystem().unwrap_or(group).to_owned();
    ConsumerState::new(store, Arc::new(registry), &owner)
}

/// Answers requests naming `subsystem`, written with the failure topic's producer when there
/// is one, else a producer of its own.
fn respond_layer(
    config: &Config,
    runtime: &Handle,
    failure_producer: Option<&Producer>,
    subsystem: &str,
) -> Result<RespondLayer> {
    let producer = match failure_producer {
        Some(producer) => producer.clone(),
        None => {
            let _guard = runtime.enter();
            Producer::with_telemetry(config, Telemetry::disabled())?
        }
    };
    Ok(RespondLayer::new(subsystem, Arc::new(producer)))
}

/// The producer that low-latency mode writes its failure topic with; other modes need none.
fn failure_producer(config: &Config, runtime: &Handle) -> Result<Option<Producer>> {
    match config.mode {
        Mode::LowLatency => {
            // `subscribe` may be called from a plain thread; the producer is made inside the
            // consumer's runtime either way.
            // Its writes are the consumer's business, not sends to report as telemetry.
            let _guard = runtime.enter();
            Ok(Some(Producer::with_telemetry(
                config,
                Telemetry::disabled(),
            )?))
        }
        Mode::Pipeline | Mode::BestEffort => Ok(None),
    }
}
