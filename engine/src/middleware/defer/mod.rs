//! Pipeline mode's answer to a message or timer that keeps failing: defer it, so its partition
//! moves on.
//!
//! The layer first retries the event in place, up to `max_retries` times (see
//! [`DeferLayer::retrying_first`]), so a passing blip costs nothing more. It runs those retries
//! in the same loop a [`Retry`](super::Retry) with a [`Bounded`] policy would, rather than
//! wrapping one: an event then costs one boxed future and one context clone fewer. When the
//! event still fails transiently, this layer marks the failure as [deferred](HandlerError::deferred): the consumer then stores the
//! message's offset (or the timer, with its time) in the key's backlog, lets the offset commit
//! (or deletes the timer's stored row), queues the key's later messages and due timers behind
//! it, and retries it after `defer_base` (doubling up to `defer_max_delay`).
//!
//! Deferral is gated on the failure rate of events over `defer_failure_window`: at or above
//! `defer_failure_threshold` the failures are not a few bad keys but something shared being
//! down, so the layer keeps retrying in place instead. The key then blocks, consumption
//! pauses, and nothing piles up in the backlogs. A deferred message or timer coming back
//! ([`Context::is_retry`]) is deferred again on any transient failure, without the gate.
//!
//! The rate weighs events, not attempts: an event counts once as a failure (its first round
//! failed) and once as a success (when it finally succeeds). In the stack the [`Qos`](super::Qos)
//! layer inside records that success as its permit ends, sparing a clock reading per event; a
//! message skipped as a duplicate then counts as neither. Counting each retry in place
//! would let a few keys retrying at the head of their partitions outvote the healthy messages
//! behind them, of which `max_uncommitted` lets through only so many while those keys hold the
//! watermark: the gate would then never reopen.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use layer::DeferLayer;
use tokio::time::Instant;

use super::retry::attempts;
use super::{Backoff, Bounded};
use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::qos::FailureRate;

/// Defers messages and timers that keep failing; built by [`DeferLayer`].
pub struct Defer<H: ?Sized> {
    inner: Arc<H>,
    gate: Arc<Gate>,
}

/// When deferral is allowed, and the back-off for retrying in place while it is not.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) failure_rate: Arc<FailureRate>,
    pub(crate) threshold: f64,
    pub(crate) backoff: Backoff,
    /// The in-place retries of each round, and the back-off between them.
    pub(crate) retries: Bounded,
    pub(crate) retry_backoff: Backoff,
    /// False when an inner [`Qos`](super::Qos) records the successes, with the clock reading
    /// it takes anyway.
    pub(crate) records_successes: bool,
}

impl Gate {
    fn open(&self) -> bool {
        self.failure_rate.rate(Instant::now()) < self.threshold
    }
}

impl<H: ?Sized> fmt::Debug for Defer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defer")
            .field("threshold", &self.gate.threshold)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Defer<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let attempt = move |context: Context| inner.on_message(context, message.clone());
        Box::pin(defer_or_retry(Arc::clone(&self.gate), context, attempt))
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let attempt = move |context: Context| inner.on_timer(context, timer.clone());
        Box::pin(defer_or_retry(Arc::clone(&self.gate), context, attempt))
    }
}

/// Runs `attempt` and defers its transient failure, unless the gate is shut and the event is
/// not a deferred one coming back: then retries in place until the gate opens.
async fn defer_or_retry<F>(
    gate: Arc<Gate>,
    context: Context,
    attempt: F,
) -> Result<(), HandlerError>
where
    F: Fn(Context) -> HandlerFuture,
{
    let mut round = 0_u32;
    let per_round = gate.retries.0.saturating_add(1);
    loop {
        // This call's own earlier rounds (while the gate is shut) each made `per_round`
        // attempts, so `Context::retries` goes on counting across them, after whatever a
        // deferred event's context says came before.
        // The first round uses the context as given: a copy per event would clone its
        // cancellation token, which takes that token's lock twice.
        let later;
        let this_round = if round == 0 {
            &context
        } else {
            let prior = context
                .prior()
                .saturating_add(round.saturating_mul(per_round));
            later = context.after_attempts(prior);
            &later
        };
        let outcome = attempts(&attempt, &gate.retries, gate.retry_backoff, this_round).await;
        let counted = match &outcome {
            Ok(()) => gate.records_successes,
            Err(_) => round == 0 && !context.is_retry(),
        };
        if counted {
            gate.failure_rate.record(outcome.is_ok(), Instant::now());
        }
        let error = match outcome {
            Err(error) if error.class() == ErrorClass::Transient => error,
            outcome => return outcome,
        };
        if context.is_retry() || gate.open() {
            return Err(error.deferred());
        }
        if context.should_cancel() {
            return Err(HandlerError::terminal(format!(
                "retries stopped by shutdown; last error: {error}"
            )));
        }
        tracing::warn!(
            key = context.key(),
            %error,
            "failure rate at or above defer_failure_threshold; retrying in place"
        );
        tokio::select! {
            () = tokio::time::sleep(gate.backoff.delay(round)) => {}
            () = context.cancelled() => {}
        }
        round = round.saturating_add(1);
    }
}
