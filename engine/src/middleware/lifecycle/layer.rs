use std::sync::Arc;

use super::Lifecycle;
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::telemetry::Telemetry;

/// Builds a [`Lifecycle`] that emits to a client's [`Telemetry`], naming consumer group
/// `group` as the events' source.
///
/// ```
/// use prosody_engine::middleware::LifecycleLayer;
/// use prosody_engine::Telemetry;
///
/// let layer = LifecycleLayer::new(Telemetry::disabled(), "billing");
/// assert_eq!(layer.group(), "billing");
/// ```
#[derive(Debug, Clone)]
pub struct LifecycleLayer {
    telemetry: Telemetry,
    group: Arc<str>,
}

impl LifecycleLayer {
    /// Emits into `telemetry` on behalf of `group`.
    pub fn new(telemetry: Telemetry, group: &str) -> Self {
        Self {
            telemetry,
            group: group.into(),
        }
    }

    /// The consumer group named as the events' source.
    pub fn group(&self) -> &str {
        &self.group
    }
}

impl<H: Handler + ?Sized> Layer<H> for LifecycleLayer {
    type Handler = Lifecycle<H>;

    fn layer(&self, inner: Arc<H>) -> Lifecycle<H> {
        Lifecycle {
            telemetry: self.telemetry.clone(),
            group: Arc::clone(&self.group),
            inner,
        }
    }
}
