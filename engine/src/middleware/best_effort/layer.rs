use std::sync::Arc;

use super::BestEffort;
use crate::handler::Handler;
use crate::middleware::Layer;

/// Builds a [`BestEffort`]; it has no settings.
///
/// ```
/// use std::sync::Arc;
/// use prosody_engine::middleware::{BestEffortLayer, Layer};
/// use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message};
///
/// struct Fails;
/// impl Handler for Fails {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
///         Box::pin(async { Err(HandlerError::transient("down")) })
///     }
/// }
///
/// let handler = BestEffortLayer.layer(Arc::new(Fails));
/// let message = Message::new("t", 0, 0, "k", serde_json::json!({}));
/// let result = futures::executor::block_on(handler.on_message(Context::detached("k"), message));
/// assert!(result.is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BestEffortLayer;

impl<H: Handler + ?Sized> Layer<H> for BestEffortLayer {
    type Handler = BestEffort<H>;

    fn layer(&self, inner: Arc<H>) -> BestEffort<H> {
        BestEffort::new(inner)
    }
}
