//! [`RespondLayer`]: the configuration half of [`Respond`].

use std::fmt;
use std::sync::Arc;

use super::{ReplySink, Respond};
use crate::handler::Handler;
use crate::metrics::ResponseMetrics;
use crate::middleware::Layer;

/// Answers requests that name `subsystem`, writing answers with `sink`.
///
/// ```
/// use std::sync::Arc;
/// use futures::future::BoxFuture;
/// use prosody_engine::middleware::{Layer, ReplySink, RespondLayer};
/// use prosody_engine::request::Answer;
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Discard;
/// impl ReplySink for Discard {
///     fn reply<'a>(&'a self, _: &'a str, _: i32, _: &'a Answer) -> BoxFuture<'a, prosody_engine::Result<()>> {
///         Box::pin(async { Ok(()) })
///     }
/// }
/// struct Noop;
/// impl Handler for Noop {
///     fn on_message(&self, _: Context, _: Message) -> HandlerFuture { Box::pin(async { Ok(()) }) }
/// }
///
/// let layer = RespondLayer::new("billing", Arc::new(Discard));
/// let _handler = layer.layer(Arc::new(Noop));
/// assert_eq!(layer.subsystem(), "billing");
/// ```
#[derive(Clone)]
pub struct RespondLayer {
    subsystem: Arc<str>,
    sink: Arc<dyn ReplySink>,
    metrics: Arc<ResponseMetrics>,
}

impl fmt::Debug for RespondLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespondLayer")
            .field("subsystem", &self.subsystem)
            .finish_non_exhaustive()
    }
}

impl RespondLayer {
    /// Answers for `subsystem`, writing with `sink`.
    pub fn new(subsystem: &str, sink: Arc<dyn ReplySink>) -> Self {
        Self {
            subsystem: subsystem.into(),
            sink,
            metrics: Arc::default(),
        }
    }

    /// The subsystem answered for.
    pub fn subsystem(&self) -> &str {
        &self.subsystem
    }

    /// What the layer counts, for the consumer's `/metrics`.
    pub(crate) fn metrics(&self) -> &Arc<ResponseMetrics> {
        &self.metrics
    }

    pub(super) fn sink(&self) -> &dyn ReplySink {
        &*self.sink
    }
}

impl<H: Handler + ?Sized> Layer<H> for RespondLayer {
    type Handler = Respond<H>;

    fn layer(&self, inner: Arc<H>) -> Respond<H> {
        Respond {
            inner,
            settings: self.clone(),
        }
    }
}
