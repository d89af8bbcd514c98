use std::sync::Arc;
use std::time::Duration;

use super::Timeout;
use crate::handler::Handler;
use crate::middleware::Layer;

/// Builds a [`Timeout`] with the configured `timeout`.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::middleware::TimeoutLayer;
///
/// let layer = TimeoutLayer::new(Duration::from_secs(48));
/// assert_eq!(layer.timeout(), Duration::from_secs(48));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// Cancels handlers that run longer than `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// The deadline for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<H: Handler + ?Sized> Layer<H> for TimeoutLayer {
    type Handler = Timeout<H>;

    fn layer(&self, inner: Arc<H>) -> Timeout<H> {
        Timeout::new(inner, self.timeout)
    }
}
