use std::fmt;
use std::sync::Arc;

use super::{Dedup, DedupStore};
use crate::handler::Handler;
use crate::middleware::Layer;
use crate::middleware::Meter;

/// Builds a [`Dedup`]: the store, this consumer's group and the `idempotence_version`.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::middleware::{DedupLayer, Layer, MemoryDedupStore};
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let layer = DedupLayer::new(Arc::new(MemoryDedupStore::new(8192)), "billing", "v1");
/// let handler = layer.layer(Arc::new(Noop));
/// assert_eq!(handler.version(), "v1");
/// ```
#[derive(Clone)]
pub struct DedupLayer {
    pub(super) store: Arc<dyn DedupStore>,
    pub(super) group_id: Arc<str>,
    pub(super) version: Arc<str>,
    /// Counts skipped messages (see `middleware/measure`).
    pub(super) meter: Meter,
}

impl DedupLayer {
    /// Records handled events in `store`, keyed by `group_id` and `version` among others.
    pub fn new(
        store: Arc<dyn DedupStore>,
        group_id: impl Into<Arc<str>>,
        version: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            store,
            group_id: group_id.into(),
            version: version.into(),
            meter: Meter::default(),
        }
    }

    /// The same layer, counting skipped messages into `meter`.
    pub(crate) fn metered(mut self, meter: Meter) -> Self {
        self.meter = meter;
        self
    }
}

impl fmt::Debug for DedupLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupLayer")
            .field("group_id", &self.group_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Layer<H> for DedupLayer {
    type Handler = Dedup<H>;

    fn layer(&self, inner: Arc<H>) -> Dedup<H> {
        Dedup::new(inner, self.clone())
    }
}
