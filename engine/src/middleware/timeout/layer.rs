use std::sync::Arc;
use std::time::Duration;

use super::Timeout;
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::middleware::Meter;

/// Builds a [`Timeout`] with the configured `timeout`.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::middleware::TimeoutLayer;
///
/// let layer = TimeoutLayer::new(Duration::from_secs(48));
/// assert_eq!(layer.timeout(), Duration::from_secs(48));
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    timeout: Duration,
    meter: Meter,
}

impl TimeoutLayer {
    /// Cancels handlers that run longer than `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            meter: Meter::default(),
        }
    }

    /// The deadline for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same layer, timing and counting each attempt into `meter`.
    pub(crate) fn metered(mut self, meter: Meter) -> Self {
        self.meter = meter;
        self
    }
}

impl<H: Handler + ?Sized> Layer<H> for TimeoutLayer {
    type Handler = Timeout<H>;

    fn layer(&self, inner: Arc<H>) -> Timeout<H> {
        Timeout {
            timeout: self.timeout,
            meter: self.meter.clone(),
            inner,
        }
    }
}
