//! Skips messages this consumer must not handle: its own output, and event types it was not
//! asked for.
//!
//! - **Loop prevention**: a message whose `source-system` header equals the consumer's
//!   `group_id` was produced by this service, so it is skipped.
//! - **Allowed events**: when `allowed_events` lists prefixes, a message whose payload `type`
//!   string starts with none of them is skipped. A message without a string `type` always goes
//!   through.
//!
//! Skipping returns `Ok(())` at once, without calling the inner handler, so the offset commits.
//! Timers are never filtered.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use layer::FilterLayer;

use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::kafka::SOURCE_SYSTEM_HEADER;
use crate::metrics::Outcome;
use crate::middleware::Meter;

/// Skips looped-back and unwanted messages; built by [`FilterLayer`], see its example.
pub struct Filter<H: ?Sized> {
    group_id: Option<Arc<str>>,
    allowed_events: Arc<[String]>,
    /// Counts skipped messages (see `middleware/measure`).
    meter: Meter,
    inner: Arc<H>,
}

impl<H: ?Sized> Filter<H> {
    /// Wraps `inner`; see [`FilterLayer::new`] for the meaning of the settings.
    pub fn new(inner: Arc<H>, group_id: Option<Arc<str>>, allowed_events: Arc<[String]>) -> Self {
        Self {
            group_id,
            allowed_events,
            meter: Meter::default(),
            inner,
        }
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// Unwraps the inner handler.
    pub fn into_inner(self) -> Arc<H> {
        self.inner
    }

    /// Whether `message` reaches the inner handler.
    pub fn admits(&self, message: &Message) -> bool {
        self.skip_reason(message).is_none()
    }

    /// Why `message` is skipped: the reason its span event names, and the one logged.
    fn skip_reason(&self, message: &Message) -> Option<(&'static str, &'static str)> {
        if let Some(group) = &self.group_id {
            if message.header(SOURCE_SYSTEM_HEADER) == Some(group.as_bytes()) {
                return Some(("source-system-loop", "produced by this consumer group"));
            }
        }
        if self.allowed_events.is_empty() {
            return None;
        }
        let event_type = message.payload().get("type")?.as_str()?;
        let allowed = self
            .allowed_events
            .iter()
            .any(|prefix| event_type.starts_with(prefix.as_str()));
        (!allowed).then_some(("event-type", "event type not in allowed_events"))
    }
}

impl<H: ?Sized> Clone for Filter<H> {
    fn clone(&self) -> Self {
        let mut filter = Self::new(
            Arc::clone(&self.inner),
            self.group_id.clone(),
            Arc::clone(&self.allowed_events),
        );
        filter.meter = self.meter.clone();
        filter
    }
}

impl<H: ?Sized> fmt::Debug for Filter<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("group_id", &self.group_id)
            .field("allowed_events", &self.allowed_events)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Filter<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        match self.skip_reason(&message) {
            None => self.inner.on_message(context, message),
            Some((code, reason)) => {
                crate::otel::note_skipped(code);
                tracing::debug!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    key = message.key(),
                    reason,
                    "message skipped"
                );
                self.meter.count_message(message.topic(), Outcome::Filtered);
                Box::pin(async { Ok(()) })
            }
        }
    }

    fn prefetch(&self, message: &Message) {
        // A message the filter skips needs nothing looked up.
        if self.skip_reason(message).is_none() {
            self.inner.prefetch(message);
        }
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.inner.on_timer(context, timer)
    }
}
