//! Starting a consumer: checking that a configuration can join a group, then handing the
//! handler stack to a new poll thread and its partition tasks.
//!
//! The checks come before anything is built, so a configuration that cannot subscribe fails
//! with the option at fault before the caller builds a middleware stack or a producer for it.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::config::{Config, Mode};
use crate::consumer::deferral::Deferral;
use crate::consumer::poll::{PollLoop, Signal};
use crate::consumer::reachability::Reachability;
use crate::consumer::reload::KafkaLoad;
use crate::consumer::shared::{ConsumerStats, Settings, Shared};
use crate::consumer::Consumer;
use crate::defer::{CassandraDeferStore, DeferStore, MemoryDeferStore};
use crate::error::{Error, Result};
use crate::handler::{Handler, Reloader};
use crate::kafka::loader::MessageLoader;
use crate::metrics::ConsumerMetrics;
use crate::probe::{self, Heartbeat};
use crate::qos::FairScheduler;
use crate::state::ConsumerState;
use crate::telemetry::Telemetry;
use crate::timers::{CassandraTimerStore, MemoryTimerStore, TimerStore};

/// A configuration checked for joining a group: it names a group and topics, and has
/// Cassandra nodes unless `mock` is set (in which case the subscribed topics now exist).
#[derive(Debug)]
pub(crate) struct Subscription<'a> {
    config: &'a Config,
    group_id: String,
    excise: bool,
}

impl<'a> Subscription<'a> {
    /// Checks that `config` can subscribe.
    pub(crate) fn new(config: &'a Config) -> Result<Self> {
        let group_id = config.group_id.clone().ok_or(Error::State(
            "cannot subscribe without `group_id` (PROSODY_GROUP_ID)",
        ))?;
        if config.subscribed_topics.is_empty() {
            return Err(Error::State(
                "cannot subscribe without `subscribed_topics` (PROSODY_SUBSCRIBED_TOPICS)",
            ));
        }
        if config.mock {
            crate::kafka::ensure_mock_topics(&config.subscribed_topics)?;
        } else if config.cassandra_nodes.is_empty() {
            return Err(Error::State(
                "cannot subscribe without `cassandra_nodes` (PROSODY_CASSANDRA_NODES): timers and deduplication records persist in Cassandra unless `mock` is true",
            ));
        }
        Ok(Self {
            config,
            group_id,
            excise: false,
        })
    }

    /// The same subscription, handing excise records to the handler when `excise` is true
    /// (see [`Handler::takes_excise`]) instead of skipping them.
    pub(crate) fn taking_excise(mut self, excise: bool) -> Self {
        self.excise = excise;
        self
    }

    /// Joins the group and starts calling `handler`, a fully built stack, for each event.
    /// Partition tasks run on `runtime`; the poll loop runs on a thread of its own.
    pub(crate) fn start(
        self,
        handler: Arc<dyn Handler>,
        scheduler: FairScheduler,
        metrics: Arc<ConsumerMetrics>,
        telemetry: Telemetry,
        state: Option<ConsumerState>,
        runtime: Handle,
    ) -> Result<Consumer> {
        let Self {
            config,
            group_id,
            excise,
        } = self;
        // `max_uncommitted` needs no clamping: `Config` parses it with `positive_count`, so it
        // is at least 1. `max_concurrency` is the handler stack's business (its fair scheduler).
        let spans =
            crate::consumer::spans::Spans::new(&group_id, config.message_spans, config.timer_spans);
        let settings = Settings {
            spans,
            group_id,
            max_uncommitted: config.max_uncommitted,
            poll_interval: config.poll_interval,
            shutdown_timeout: config.shutdown_timeout,
            stall_threshold: config.stall_threshold,
            timer_window: config.slab_size,
            mock: config.mock,
            excise,
            attempts_per_round: config.max_retries.saturating_add(1),
        };
        // One record loader serves deferred retries and message collections alike, so their
        // loads of one record coalesce and share a cache.
        let holds_messages = state.as_ref().is_some_and(ConsumerState::holds_messages);
        let loader = if holds_messages || deferral_enabled(config) {
            let _guard = runtime.enter();
            Some(Arc::new(MessageLoader::new(config, &settings.group_id)?))
        } else {
            None
        };
        let reloader = loader
            .as_ref()
            .filter(|_| holds_messages)
            .map(|loader| Reloader::new(Arc::new(KafkaLoad::new(Arc::clone(loader)))));
        let deferral = loader
            .filter(|_| deferral_enabled(config))
            .map(|loader| Arc::new(deferral(config, loader)));
        let shared = Arc::new(Shared {
            settings,
            handler,
            scheduler,
            #[cfg(feature = "bench")]
            baseline_permits: crate::qos::baseline_enabled()
                .then(|| Semaphore::new(config.max_concurrency)),
            deferral,
            runtime,
            timer_store: timer_store(config),
            timer_permits: Arc::new(Semaphore::new(config.max_uncommitted)),
            in_flight: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            signal: Signal::default(),
            partitions: Mutex::default(),
            shutdown: AtomicBool::new(false),
            epoch: Instant::now(),
            stats: ConsumerStats::default(),
            poll_heartbeat: Heartbeat::default(),
            metrics,
            reachability: Reachability::new(if config.mock {
                "the in-process mock cluster".to_owned()
            } else {
                config.bootstrap_servers.join(",")
            }),
            telemetry,
            state,
            reloader,
        });
        // Before joining the group, so a taken port fails the subscribe with nothing started.
        let probe = config
            .probe_port
            .map(|port| probe::register(&config.probe_host, port, Arc::clone(&shared) as _))
            .transpose()?;
        let thread = PollLoop::start(config, Arc::clone(&shared))?;
        Ok(Consumer {
            shared,
            thread: Some(thread),
            probe,
        })
    }
}

/// The timer store for `config`: the process's in-memory store in mock mode (shared like the
/// mock cluster, so timers follow a partition between consumers), Cassandra otherwise.
fn timer_store(config: &Config) -> Arc<dyn TimerStore> {
    if config.mock {
        return MemoryTimerStore::shared();
    }
    Arc::new(CassandraTimerStore::new(
        crate::Cassandra::shared(config),
        config.slab_size,
        config.cassandra_retention,
    ))
}

/// Whether `config` defers failing keys: pipeline mode with `defer_enabled`.
fn deferral_enabled(config: &Config) -> bool {
    config.mode == Mode::Pipeline && config.defer_enabled
}

/// Deferred retry's store, reading records back through `loader`.
fn deferral(config: &Config, loader: Arc<MessageLoader>) -> Deferral {
    let store: Arc<dyn DeferStore> = if config.mock {
        MemoryDeferStore::shared()
    } else {
        Arc::new(CassandraDeferStore::from_config(config))
    };
    Deferral {
        store,
        loader,
        base: config.defer_base,
        max_delay: config.defer_max_delay,
    }
}
