//! [`DeferLayer`]: the configuration half of [`Defer`].

use std::sync::Arc;

use super::{Defer, Gate};
use crate::handler::Handler;
use crate::middleware::{Backoff, Bounded, Layer};
use crate::qos::FailureRate;

/// Wraps a handler in [`Defer`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use prosody_engine::middleware::{Backoff, DeferLayer, Layer};
/// use prosody_engine::qos::FailureRate;
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let rate = Arc::new(FailureRate::new(Duration::from_secs(300)));
/// let backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(300));
/// let handler = DeferLayer::new(rate, 0.9, backoff)
///     .retrying_first(3, backoff)
///     .layer(Arc::new(Noop));
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct DeferLayer {
    gate: Arc<Gate>,
}

impl DeferLayer {
    /// Defers while `failure_rate` is below `threshold`; otherwise retries in place with
    /// `backoff`. A failing attempt is not retried in place before that decision unless
    /// [`retrying_first`](Self::retrying_first) says so.
    #[must_use]
    pub fn new(failure_rate: Arc<FailureRate>, threshold: f64, backoff: Backoff) -> Self {
        Self {
            gate: Arc::new(Gate {
                failure_rate,
                threshold,
                backoff,
                retries: Bounded(0),
                retry_backoff: backoff,
                records_successes: true,
            }),
        }
    }

    /// Retries each failing event in place up to `max_retries` times, waiting per `backoff`,
    /// before deferring it (or, with the gate shut, before the next round in place).
    #[must_use]
    pub fn retrying_first(self, max_retries: u32, backoff: Backoff) -> Self {
        self.with_gate(|gate| {
            gate.retries = Bounded(max_retries);
            gate.retry_backoff = backoff;
        })
    }

    /// Leaves recording successes in the failure rate to a [`QosLayer`](crate::middleware::QosLayer)
    /// inside, built with [`counting_successes`](crate::middleware::QosLayer::counting_successes)
    /// into the same rate.
    #[must_use]
    pub fn successes_counted_inside(self) -> Self {
        self.with_gate(|gate| gate.records_successes = false)
    }

    fn with_gate(self, change: impl FnOnce(&mut Gate)) -> Self {
        let mut gate = Gate {
            failure_rate: Arc::clone(&self.gate.failure_rate),
            ..*self.gate
        };
        change(&mut gate);
        Self {
            gate: Arc::new(gate),
        }
    }
}

impl<H: Handler + ?Sized> Layer<H> for DeferLayer {
    type Handler = Defer<H>;

    fn layer(&self, inner: Arc<H>) -> Defer<H> {
        Defer {
            inner,
            gate: Arc::clone(&self.gate),
        }
    }
}
