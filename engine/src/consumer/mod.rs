//! The group consumer: per-key ordering with cross-key concurrency, out-of-order completion
//! with watermark commits, backpressure, rebalances and graceful shutdown.
//!
//! One poll thread reads records from librdkafka (see [`poll`]); one tokio task per assigned
//! partition runs handlers (see [`partition`]). Delivery is at least once: an offset is
//! committed only after its handler finished (or its record was skipped as undecodable), so a
//! crash or revocation redelivers exactly what had not completed.

mod decode;
mod event;
mod keyed;
mod offsets;
mod partition;
mod partition_queue;
mod poll;
mod rebalance;
mod shared;
mod signal;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

pub use shared::ConsumerStats;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::kafka::consumer_config;
use poll::PollLoop;
use rebalance::RebalanceContext;
use shared::{Settings, Shared};

/// A running group consumer. Dropping it starts a graceful shutdown in the background; call
/// [`Consumer::shutdown`] to wait for that to finish.
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
    thread: Option<std::thread::JoinHandle<()>>,
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
    /// Joins `group_id` and starts handling `subscribed_topics` with `handler`. Partition tasks
    /// run on `runtime`; the poll loop runs on a thread of its own.
    pub fn subscribe(config: &Config, handler: Arc<dyn Handler>, runtime: Handle) -> Result<Self> {
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
        let handler = Self::with_middleware(config, handler, &runtime)?;
        let settings = Settings {
            group_id: group_id.clone(),
            max_uncommitted: config.max_uncommitted.max(1),
            poll_interval: config.poll_interval,
            shutdown_timeout: config.shutdown_timeout,
            stall_threshold: config.stall_threshold,
            timer_window: config.slab_size,
        };
        let shared = Arc::new(Shared {
            settings,
            handler,
            runtime,
            concurrency: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            timer_store: timer_store(config),
            timer_permits: Arc::new(Semaphore::new(config.max_uncommitted.max(1))),
            in_flight: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            signal: signal::Signal::default(),
            partitions: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            epoch: Instant::now(),
            stats: ConsumerStats::default(),
        });
        let mut client_config = consumer_config(config, &group_id)?;
        client_config.set(
            "queued.min.messages",
            (config.max_uncommitted.max(1000) * 4).to_string(),
        );
        let context = RebalanceContext::new(Arc::clone(&shared));
        let mut consumer: BaseConsumer<RebalanceContext> = client_config
            .create_with_context(context)
            .map_err(|source| Error::Client {
                role: "consumer",
                source,
            })?;
        let waker = Arc::clone(&shared);
        consumer.set_nonempty_callback(move || waker.signal.notify());
        let topics: Vec<&str> = config
            .subscribed_topics
            .iter()
            .map(String::as_str)
            .collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| Error::Subscribe {
                topics: config.subscribed_topics.clone(),
                source,
            })?;
        let poll = PollLoop::new(Arc::new(consumer), Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("prosody-poll".into())
            .spawn(move || poll.run())
            .map_err(|_| Error::State("could not start the consumer's poll thread"))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Wraps `handler` in the failure-handling stack for `config.mode` (see
    /// [`crate::middleware::stack`]). Low-latency mode gets a producer for its failure topic.
    fn with_middleware(
        config: &Config,
        handler: Arc<dyn Handler>,
        runtime: &Handle,
    ) -> Result<Arc<dyn Handler>> {
        let sink: Option<Arc<dyn crate::middleware::FailureSink>> = match config.mode {
            crate::config::Mode::LowLatency => {
                let _guard = runtime.enter();
                Some(Arc::new(crate::producer::Producer::new(config)?))
            }
            _ => None,
        };
        crate::middleware::stack::build(config, handler, sink)
    }

    /// How many partitions this consumer currently owns.
    pub fn assigned_partitions(&self) -> usize {
        self.shared.partitions().len()
    }

    /// Whether a partition has had work outstanding with no progress for `stall_threshold`.
    pub fn is_stalled(&self) -> bool {
        self.shared.is_stalled()
    }

    /// Messages currently buffered or being handled.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Counters for tests and benchmarks.
    pub fn stats(&self) -> &ConsumerStats {
        &self.shared.stats
    }

    /// Stops taking messages, lets running handlers finish (cancelling them near the end of
    /// `shutdown_timeout`), commits what completed and leaves the group.
    pub async fn shutdown(mut self) {
        let thread = self.begin_shutdown();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// [`Consumer::shutdown`] for callers outside an async context.
    pub fn shutdown_blocking(mut self) {
        if let Some(thread) = self.begin_shutdown() {
            let _ = thread.join();
        }
    }

    fn begin_shutdown(&mut self) -> Option<std::thread::JoinHandle<()>> {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.signal.notify();
        self.thread.take()
    }
}

/// The timer store for `config`: the process's in-memory store in mock mode (shared like the
/// mock cluster, so timers follow a partition between consumers), Cassandra otherwise.
fn timer_store(config: &Config) -> Arc<dyn crate::timers::TimerStore> {
    if config.mock {
        return crate::timers::MemoryTimerStore::shared();
    }
    Arc::new(crate::timers::CassandraTimerStore::new(
        crate::Cassandra::shared(config),
        config.slab_size,
        config.cassandra_retention,
    ))
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // The poll thread finishes the shutdown on its own; joining here could block an async
        // runtime thread.
        let _ = self.begin_shutdown();
    }
}
