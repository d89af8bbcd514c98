use std::sync::Arc;

use super::Filter;
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::middleware::Meter;

/// Builds a [`Filter`]: the consumer's group and the allowed event-type prefixes.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::middleware::{FilterLayer, Layer};
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let layer = FilterLayer::new(Some("billing".into()), vec!["order.".into()]);
/// let filter = layer.layer(Arc::new(Noop));
/// let skipped = Message::new("t", 0, 0, "k", serde_json::json!({"type": "user.created"}));
/// let handled = Message::new("t", 0, 1, "k", serde_json::json!({"type": "order.paid"}));
/// assert!(!filter.admits(&skipped));
/// assert!(filter.admits(&handled));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FilterLayer {
    group_id: Option<Arc<str>>,
    allowed_events: Arc<[String]>,
    meter: Meter,
}

impl FilterLayer {
    /// Skips messages whose `source-system` header equals `group_id` (when set), and, when
    /// `allowed_events` is not empty, messages whose payload `type` starts with none of them.
    pub fn new(group_id: Option<String>, allowed_events: Vec<String>) -> Self {
        Self {
            group_id: group_id.map(Into::into),
            allowed_events: allowed_events.into(),
            meter: Meter::default(),
        }
    }

    /// The same layer, counting skipped messages into `meter`.
    pub(crate) fn metered(mut self, meter: Meter) -> Self {
        self.meter = meter;
        self
    }
}

impl<H: Handler + ?Sized> Layer<H> for FilterLayer {
    type Handler = Filter<H>;

    fn layer(&self, inner: Arc<H>) -> Filter<H> {
        let mut filter = Filter::new(
            inner,
            self.group_id.clone(),
            Arc::clone(&self.allowed_events),
        );
        filter.meter = self.meter.clone();
        filter
    }
}
