use std::fmt;
use std::sync::Arc;

use super::{FailureSink, FailureTopic};
use crate::handler::Handler;
use crate::middleware::{Backoff, Layer};

/// Builds a [`FailureTopic`]: the sink, the topic, this consumer's group and the backoff
/// between failed writes.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use futures::future::BoxFuture;
/// use prosody_engine::middleware::{Backoff, FailureSink, FailureTopicLayer};
///
/// struct Discard;
/// impl FailureSink for Discard {
///     fn send<'a>(&'a self, _: &'a str, _: &'a str, _: Option<&'a [u8]>, _: &'a [(&'a str, &'a [u8])],
///         _: prosody_engine::Continuation)
///         -> BoxFuture<'a, prosody_engine::Result<()>> { Box::pin(async { Ok(()) }) }
/// }
///
/// let backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(5));
/// let layer = FailureTopicLayer::new(Arc::new(Discard), "orders.failed", "billing", backoff);
/// assert_eq!(layer.topic(), "orders.failed");
/// ```
#[derive(Clone)]
pub struct FailureTopicLayer {
    pub(super) sink: Arc<dyn FailureSink>,
    pub(super) topic: Arc<str>,
    pub(super) group_id: Arc<str>,
    pub(super) backoff: Backoff,
}

impl FailureTopicLayer {
    /// Writes finally failing messages to `topic` through `sink`, naming `group_id` in the
    /// record; a failed write is retried after [`Backoff::delay`].
    pub fn new(
        sink: Arc<dyn FailureSink>,
        topic: impl Into<Arc<str>>,
        group_id: impl Into<Arc<str>>,
        backoff: Backoff,
    ) -> Self {
        Self {
            sink,
            topic: topic.into(),
            group_id: group_id.into(),
            backoff,
        }
    }

    /// The failure topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Debug for FailureTopicLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureTopicLayer")
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Layer<H> for FailureTopicLayer {
    type Handler = FailureTopic<H>;

    fn layer(&self, inner: Arc<H>) -> FailureTopic<H> {
        FailureTopic::new(inner, self.clone())
    }
}
