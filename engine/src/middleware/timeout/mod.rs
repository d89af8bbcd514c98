//! Cancels a handler that runs past its deadline.
//!
//! Each event gets a child of its [`Context`], so cancelling it stops only that event (and a
//! partition-wide cancellation still reaches it). When `timeout` expires the child context is
//! cancelled: `should_cancel()` turns true and `cancelled()` resolves. Cancellation is
//! cooperative: the layer then keeps awaiting the handler, so a key never has two attempts
//! running at once. A handler that stops and returns normally (a Ruby handler that rescues
//! `Async::Stop`, say) has succeeded, as on shutdown; one that fails is reported as a transient
//! "handler timed out" error (a terminal error is kept, as it forbids the commit). A handler
//! that ignores cancellation keeps running; stall detection reports the partition.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use layer::TimeoutLayer;

use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::metrics::Kind;
use crate::middleware::measure::Attempt;
use crate::middleware::Meter;

/// Cancels the inner handler after a deadline; built by [`TimeoutLayer`], see its example.
pub struct Timeout<H: ?Sized> {
    timeout: Duration,
    /// Times and counts each attempt (see `middleware/measure`).
    meter: Meter,
    inner: Arc<H>,
}

impl<H: ?Sized> Timeout<H> {
    /// Wraps `inner` with a `timeout` per attempt.
    pub fn new(inner: Arc<H>, timeout: Duration) -> Self {
        Self {
            timeout,
            meter: Meter::default(),
            inner,
        }
    }

    /// The deadline for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
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

impl<H: ?Sized> Clone for Timeout<H> {
    fn clone(&self) -> Self {
        Self {
            timeout: self.timeout,
            meter: self.meter.clone(),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: ?Sized> fmt::Debug for Timeout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Timeout<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        context.note_attempt();
        let attempt = self
            .meter
            .start(Some(message.topic()), Kind::Message, &context);
        let child = context.child();
        let future = self.inner.on_message(child.clone(), message);
        Box::pin(race(future, child, self.timeout, attempt))
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        context.note_attempt();
        let attempt = self.meter.start(context.topic(), Kind::Timer, &context);
        let child = context.child();
        let future = self.inner.on_timer(child.clone(), timer);
        Box::pin(race(future, child, self.timeout, attempt))
    }
}

async fn race(
    future: HandlerFuture,
    child: Context,
    timeout: Duration,
    attempt: Attempt,
) -> Result<(), HandlerError> {
    let result = bounded(future, child, timeout).await;
    attempt.finish(result.is_ok());
    result
}

async fn bounded(
    mut future: HandlerFuture,
    child: Context,
    timeout: Duration,
) -> Result<(), HandlerError> {
    if let Ok(result) = tokio::time::timeout(timeout, &mut future).await {
        return result;
    }
    tracing::warn!(
        key = child.key(),
        ?timeout,
        "handler timed out; cancelling it"
    );
    child.cancel();
    match future.await {
        Ok(()) => Ok(()),
        Err(error) if error.class() == ErrorClass::Terminal => Err(error),
        Err(_) => Err(HandlerError::transient(format!(
            "handler timed out after {} (timeout)",
            humantime::format_duration(timeout)
        ))),
    }
}
