//! Retries failed attempts in place, with exponential backoff and full jitter.
//!
//! After a failed attempt the [`RetryPolicy`] decides whether to try again; if it says no, the
//! error is returned as is. Otherwise the layer sleeps for [`Backoff::delay`] on the tokio
//! clock and calls the inner handler again with the same event and context, so the key stays
//! blocked (in order) while other keys go on. Each attempt's context carries its number
//! ([`Context::attempt`]): 1 for the first, then 2, 3, ….
//!
//! Shutdown: when the event's context is cancelled (the partition is revoked or the consumer
//! stops) before or during a backoff sleep, the layer stops retrying and returns the last error
//! as **terminal**, so its offset is not committed and the next owner handles the event again.
//! Returning it as transient would commit an event that never succeeded.

mod backoff;
mod layer;
mod policy;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use backoff::Backoff;
pub use layer::RetryLayer;
pub use policy::{Bounded, RetryForever, RetryPolicy};

use crate::error::HandlerError;
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};

/// Retries the inner handler per a [`RetryPolicy`]; built by [`RetryLayer`], see its example.
pub struct Retry<H: ?Sized, P> {
    policy: Arc<P>,
    backoff: Backoff,
    inner: Arc<H>,
}

impl<H: ?Sized, P> Retry<H, P> {
    /// Wraps `inner`, retrying as `policy` says and waiting per `backoff`.
    pub fn new(inner: Arc<H>, policy: P, backoff: Backoff) -> Self {
        Self {
            policy: Arc::new(policy),
            backoff,
            inner,
        }
    }

    /// The retry policy.
    pub fn policy(&self) -> &P {
        &self.policy
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

impl<H: ?Sized, P> Clone for Retry<H, P> {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
            backoff: self.backoff,
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: ?Sized, P: fmt::Debug> fmt::Debug for Retry<H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized, P: RetryPolicy> Handler for Retry<H, P> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let attempt = move |context| inner.on_message(context, message.clone());
        Box::pin(retry(
            attempt,
            Arc::clone(&self.policy),
            self.backoff,
            context,
        ))
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let attempt = move |context| inner.on_timer(context, timer.clone());
        Box::pin(retry(
            attempt,
            Arc::clone(&self.policy),
            self.backoff,
            context,
        ))
    }
}

async fn retry<P: RetryPolicy + ?Sized>(
    attempt: impl Fn(Context) -> HandlerFuture,
    policy: Arc<P>,
    backoff: Backoff,
    context: Context,
) -> Result<(), HandlerError> {
    attempts(&attempt, &*policy, backoff, &context).await
}

/// The retry loop itself: attempts numbered from 1 until one succeeds, `policy` gives up, or
/// the context is cancelled. [`Defer`](super::Defer) runs it directly for its in-place retries,
/// so a pipeline event goes through one loop (and one boxed future) rather than two.
pub(crate) async fn attempts<P: RetryPolicy + ?Sized>(
    attempt: &impl Fn(Context) -> HandlerFuture,
    policy: &P,
    backoff: Backoff,
    context: &Context,
) -> Result<(), HandlerError> {
    let mut retries = 0_u32;
    loop {
        let number = retries.saturating_add(1);
        let error = match attempt(context.with_attempt(number)).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if !policy.should_retry(&error, retries) {
            return Err(error);
        }
        if context.should_cancel() {
            return Err(interrupted(&error, retries));
        }
        let delay = backoff.delay(retries);
        tracing::debug!(key = context.key(), retry = retries + 1, ?delay, %error, "retrying");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = context.cancelled() => return Err(interrupted(&error, retries)),
        }
        retries = retries.saturating_add(1);
    }
}

fn interrupted(error: &HandlerError, retries: u32) -> HandlerError {
    HandlerError::terminal(format!(
        "retries stopped by shutdown after {} attempt(s); last error: {error}",
        u64::from(retries) + 1
    ))
}
