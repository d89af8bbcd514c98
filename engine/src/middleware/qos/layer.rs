//! [`QosLayer`]: the configuration half of [`Qos`].

use std::sync::Arc;

use super::Qos;
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::qos::{FailureRate, FairScheduler, HotKeys};

/// Wraps a handler in [`Qos`]. Every wrapper a layer makes shares its scheduler and hot-key
/// tracker.
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
/// let handler = QosLayer::new(scheduler, None).layer(Arc::new(Noop));
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
    /// Where successful attempts are counted, for a [`Defer`](crate::middleware::Defer) outside.
    pub(crate) successes: Option<Arc<FailureRate>>,
}

impl QosLayer {
    /// Permits from `scheduler`; hot keys turned away when `hot_keys` is given.
    #[must_use]
    pub fn new(scheduler: FairScheduler, hot_keys: Option<Arc<HotKeys>>) -> Self {
        Self {
            parts: Arc::new(super::parts(scheduler, hot_keys)),
        }
    }

    /// Also counts every successful attempt in `rate`, as its permit ends (which reads the
    /// clock anyway), for a [`DeferLayer`](crate::middleware::DeferLayer) outside built with
    /// [`successes_counted_inside`](crate::middleware::DeferLayer::successes_counted_inside).
    #[must_use]
    pub fn counting_successes(self, rate: Arc<FailureRate>) -> Self {
        let parts = Parts {
            scheduler: self.parts.scheduler.clone(),
            hot_keys: self.parts.hot_keys.clone(),
            successes: Some(rate),
        };
        Self {
            parts: Arc::new(parts),
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
