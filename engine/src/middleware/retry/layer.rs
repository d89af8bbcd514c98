use std::sync::Arc;

use super::{Backoff, Retry, RetryPolicy};
use crate::handler::Handler;
use crate::middleware::Layer;

/// Builds a [`Retry`] from a policy and a backoff.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::middleware::{Backoff, Bounded, RetryLayer};
///
/// let backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(5));
/// let layer = RetryLayer::new(Bounded(3), backoff);
/// assert_eq!(layer.backoff(), backoff);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLayer<P> {
    policy: P,
    backoff: Backoff,
}

impl<P> RetryLayer<P> {
    /// Retries as `policy` says, waiting per `backoff` between attempts.
    pub fn new(policy: P, backoff: Backoff) -> Self {
        Self { policy, backoff }
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }
}

impl<H: Handler + ?Sized, P: RetryPolicy + Clone> Layer<H> for RetryLayer<P> {
    type Handler = Retry<H, P>;

    fn layer(&self, inner: Arc<H>) -> Retry<H, P> {
        Retry::new(inner, self.policy.clone(), self.backoff)
    }
}
