//! [`QosLayer`]: the configuration half of [`Qos`].

use std::sync::Arc;

use super::Qos;
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::qos::{FailureRate, FairScheduler, HotKeys};

/// Wraps a handler in [`Qos`]. Every wrapper a layer makes shares its scheduler, hot-key
/// tracker and failure rate.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use prosody_engine::middleware::{Layer, QosLayer};
/// use prosody_engine::qos::{FairScheduler, SchedulerSettings};
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let scheduler = FairScheduler::new(SchedulerSettings {
///     permits: 4,
///     failure_weight: 0.3,
///     max_wait: Duration::from_secs(120),
///     wait_weight: 200.0,
///     cache_size: 1024,
/// });
/// let handler = QosLayer::new(scheduler, None, None).layer(Arc::new(Noop));
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct QosLayer {
    parts: Arc<Parts>,
}

#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) scheduler: FairScheduler,
    pub(crate) hot_keys: Option<Arc<HotKeys>>,
    pub(crate) failure_rate: Option<Arc<FailureRate>>,
}

impl QosLayer {
    /// Permits from `scheduler`; hot keys turned away when `hot_keys` is given; every attempt's
    /// result recorded in `failure_rate` when given.
    #[must_use]
    pub fn new(
        scheduler: FairScheduler,
        hot_keys: Option<Arc<HotKeys>>,
        failure_rate: Option<Arc<FailureRate>>,
    ) -> Self {
        Self {
            parts: Arc::new(super::parts(scheduler, hot_keys, failure_rate)),
        }
    }
}

impl<H: Handler + ?Sized> Layer<H> for QosLayer {
    type Handler = Qos<H>;

    fn layer(&self, inner: Arc<H>) -> Qos<H> {
        Qos {
            inner,
            parts: Arc::clone(&self.parts),
        }
    }
}
