//! Best-effort mode: a failed event is logged and given up, so the consumer moves on.
//!
//! Transient and permanent errors are logged at `warn` and turned into `Ok(())`, so the offset
//! commits. A terminal error passes through: it means the offset must not be committed.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use layer::BestEffortLayer;

use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};

/// Logs failures and reports success; built by [`BestEffortLayer`], see its example.
pub struct BestEffort<H: ?Sized> {
    inner: Arc<H>,
}

impl<H: ?Sized> BestEffort<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<H>) -> Self {
        Self { inner }
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

impl<H: ?Sized> Clone for BestEffort<H> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.inner))
    }
}

impl<H: ?Sized> fmt::Debug for BestEffort<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BestEffort").finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for BestEffort<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let (topic, partition, offset) = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        let handled = self.inner.on_message(context.clone(), message);
        Box::pin(async move {
            give_up(handled.await, |error| {
                tracing::warn!(topic, partition, offset, key = context.key(), %error, "handler failed; message skipped (best_effort)");
            })
        })
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let handled = self.inner.on_timer(context.clone(), timer);
        Box::pin(async move {
            give_up(handled.await, |error| {
                tracing::warn!(key = context.key(), %error, "timer handler failed; timer skipped (best_effort)");
            })
        })
    }
}

fn give_up(
    result: Result<(), HandlerError>,
    log: impl FnOnce(&HandlerError),
) -> Result<(), HandlerError> {
    match result {
        Err(error) if error.class() != ErrorClass::Terminal => {
            log(&error);
            Ok(())
        }
        result => result,
    }
}
