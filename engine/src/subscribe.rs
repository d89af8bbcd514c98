//! Subscribing: the one place that puts the middleware stack and the consumer together.
//!
//! The consumer runs whatever handler it is handed and knows nothing of middleware; the
//! middleware wraps handlers and knows nothing of the consumer. [`Consumer::subscribe`] checks
//! that the configuration can join a group, builds the stack for `config.mode` around the user's
//! handler (see [`crate::middleware::stack`]) and starts a consumer with it.

use std::sync::Arc;

use tokio::runtime::Handle;

use crate::config::{Config, Mode};
use crate::consumer::{Consumer, Subscription};
use crate::error::Result;
use crate::handler::Handler;
use crate::kafka::Producer;
use crate::middleware::{stack, FailureSink};

impl Consumer {
    /// Joins `group_id` and starts handling `subscribed_topics` with `handler`, wrapped in the
    /// failure handling for `config.mode`. Partition tasks run on `runtime`; the poll loop runs
    /// on a thread of its own.
    ///
    /// # Errors
    ///
    /// When `group_id` or `subscribed_topics` is missing, when `cassandra_nodes` is missing
    /// outside mock mode, or when a Kafka client cannot be created.
    pub fn subscribe(config: &Config, handler: Arc<dyn Handler>, runtime: Handle) -> Result<Self> {
        let subscription = Subscription::new(config)?;
        let inactive = config.inactive_options();
        if !inactive.is_empty() {
            tracing::warn!(
                mode = %config.mode,
                options = inactive.join(", "),
                "these options are set but do nothing in this mode"
            );
        }
        let sink = failure_sink(config, &runtime)?;
        let scheduler = stack::scheduler(config);
        let handler = stack::build_with(config, handler, sink, scheduler.clone())?;
        subscription.start(handler, scheduler, runtime)
    }
}

/// The producer that low-latency mode writes its failure topic with; other modes need none.
fn failure_sink(config: &Config, runtime: &Handle) -> Result<Option<Arc<dyn FailureSink>>> {
    match config.mode {
        Mode::LowLatency => {
            // `subscribe` may be called from a plain thread; the producer is made inside the
            // consumer's runtime either way.
            let _guard = runtime.enter();
            Ok(Some(Arc::new(Producer::new(config)?)))
        }
        Mode::Pipeline | Mode::BestEffort => Ok(None),
    }
}
