//! Emits each handler attempt's lifecycle to the telemetry topic: dispatched when it starts,
//! then succeeded or failed (with the error's class and text), for messages and timers alike.
//!
//! It sits just inside [`Qos`](super::Qos), so one attempt is one dispatched event and one
//! outcome: a retry in place or a deferred event coming back is another attempt, marked with
//! `demandType: failure`. Filtered and deduplicated messages never reach it. Emitting is a
//! non-blocking hand-over of a small struct (see [`crate::telemetry`]); the handler's result
//! passes through unchanged. The stack leaves this layer out when telemetry is off, so a
//! disabled client pays nothing for it.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use layer::LifecycleLayer;

use crate::error::HandlerError;
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::telemetry::{Demand, Event, EventType, Telemetry, Trace};

/// Emits lifecycle events around the inner handler; built by [`LifecycleLayer`].
pub struct Lifecycle<H: ?Sized> {
    telemetry: Telemetry,
    group: Arc<str>,
    inner: Arc<H>,
}

impl<H: ?Sized> Lifecycle<H> {
    /// Wraps `inner`, emitting into `telemetry` on behalf of `group`.
    pub fn new(inner: Arc<H>, telemetry: Telemetry, group: &str) -> Self {
        Self {
            telemetry,
            group: group.into(),
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
}

impl<H: ?Sized> Clone for Lifecycle<H> {
    fn clone(&self) -> Self {
        Self {
            telemetry: self.telemetry.clone(),
            group: Arc::clone(&self.group),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: ?Sized> fmt::Debug for Lifecycle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("group", &self.group)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

/// The fields every event of one attempt shares, made once per attempt.
#[derive(Clone)]
struct Attempt {
    telemetry: Telemetry,
    template: Event,
}

impl Attempt {
    fn emit(&self, kind: EventType, result: Option<&Result<(), HandlerError>>) {
        self.telemetry.emit(|| {
            let mut event = self.template.clone();
            event.kind = kind;
            event.at = std::time::SystemTime::now();
            if let Some(Err(error)) = result {
                event.error = Some((error.class(), error.message().into()));
            }
            event
        });
    }

    async fn run(
        self,
        future: HandlerFuture,
        succeeded: EventType,
        failed: EventType,
    ) -> Result<(), HandlerError> {
        let result = future.await;
        let kind = if result.is_ok() { succeeded } else { failed };
        self.emit(kind, Some(&result));
        result
    }
}

fn demand(context: &Context) -> Demand {
    if context.is_retry() {
        Demand::Failure
    } else {
        Demand::Normal
    }
}

impl<H: Handler + ?Sized> Handler for Lifecycle<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let mut template = Event::new(
            EventType::MessageDispatched,
            Arc::clone(message.shared_topic()),
            message.partition(),
            Arc::clone(message.shared_key()),
            Arc::clone(&self.group),
        );
        template.offset = Some(message.offset());
        template.demand = Some(demand(&context));
        template.trace = Trace::Headers(Arc::clone(message.shared_headers()));
        let attempt = Attempt {
            telemetry: self.telemetry.clone(),
            template,
        };
        attempt.emit(EventType::MessageDispatched, None);
        let future = self.inner.on_message(context, message);
        Box::pin(attempt.run(
            future,
            EventType::MessageSucceeded,
            EventType::MessageFailed,
        ))
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        // A detached context (tests) has no partition; the timer is still reported.
        let (topic, partition) = context.segment().map_or_else(
            || (Arc::from(""), -1),
            |segment| (Arc::clone(segment.shared_topic()), segment.partition()),
        );
        let mut template = Event::new(
            EventType::TimerDispatched,
            topic,
            partition,
            Arc::clone(context.shared_key()),
            Arc::clone(&self.group),
        );
        template.scheduled = Some(timer.time);
        template.demand = Some(demand(&context));
        let attempt = Attempt {
            telemetry: self.telemetry.clone(),
            template,
        };
        attempt.emit(EventType::TimerDispatched, None);
        let future = self.inner.on_timer(context, timer);
        Box::pin(attempt.run(future, EventType::TimerSucceeded, EventType::TimerFailed))
    }
}
