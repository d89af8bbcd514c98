//! [`Stateful`]: settles each handler attempt's keyed state when the attempt ends.
//!
//! It wraps the user's handler directly, inside every middleware layer, so it sees each
//! attempt's own outcome: a success commits the attempt's transaction before the outcome
//! travels out (and so before the offset can commit); a failure, a timeout (which drops the
//! attempt) or a panic leaves the transaction uncommitted. A commit that fails turns the
//! success into a failure: transient for a store outage or a lost race (the attempt is
//! retried on fresh reads), terminal when a newer owner holds the key (this consumer lost
//! the partition, so nothing of the event may commit).
//!
//! Only consumers with registered collections are wrapped. For an event whose partition has
//! keyed state, each attempt costs one small allocation (its [`EventState`], about 100 bytes,
//! holding no transaction until the handler asks for one) and, at its end, one uncontended lock.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::{Context, Handler, HandlerFuture, Message, Timer};
use crate::error::{Error, ErrorClass, HandlerError};
use crate::state::{EventId, EventState, StateError};

/// The user's handler, with each attempt's keyed state settled by its outcome.
#[derive(Clone)]
pub(crate) struct Stateful {
    inner: Arc<dyn Handler>,
}

impl std::fmt::Debug for Stateful {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stateful").finish_non_exhaustive()
    }
}

impl Stateful {
    pub(crate) fn new(inner: Arc<dyn Handler>) -> Self {
        Self { inner }
    }
}

impl Handler for Stateful {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let Some(partition) = context.partition_state() else {
            return self.inner.on_message(context, message);
        };
        let event = EventId::Offset(message.offset());
        let state = partition.attempt(Arc::clone(context.shared_key()), event);
        let attempt = self
            .inner
            .on_message(context.with_event_state(state.clone()), message);
        Box::pin(settle(state, attempt))
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let Some(partition) = context.partition_state() else {
            return self.inner.on_timer(context, timer);
        };
        // A timer that fires again after its state committed (a crash before the timer store
        // deleted it) is then recognised, like a redelivered message.
        let due = timer.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let event = EventId::Timer(i64::try_from(due.as_millis()).unwrap_or(i64::MAX));
        let state = partition.attempt(Arc::clone(context.shared_key()), event);
        let attempt = self
            .inner
            .on_timer(context.with_event_state(state.clone()), timer);
        Box::pin(settle(state, attempt))
    }
}

/// Awaits the attempt, then commits or drops its state.
async fn settle(state: EventState, attempt: HandlerFuture) -> Result<(), HandlerError> {
    let outcome = attempt.await;
    match (state.finish(outcome.is_ok()).await, outcome) {
        (Ok(_), outcome) => outcome,
        (Err(error), Ok(())) => Err(commit_failure(&error)),
        // A newer owner overrides the handler's own failure: nothing may commit.
        (Err(error @ Error::KeyedState(StateError::Fenced { .. })), Err(_)) => {
            Err(commit_failure(&error))
        }
        (Err(_), failed) => failed,
    }
}

/// The handler outcome for a state error met when committing.
fn commit_failure(error: &Error) -> HandlerError {
    let class = match error {
        Error::KeyedState(StateError::Fenced { .. }) => ErrorClass::Terminal,
        // The handler let a failed commit pass, or committed itself: run the event again
        // (a message applied before is recognised, and its writes are not repeated).
        Error::KeyedState(StateError::Finished { .. }) => ErrorClass::Transient,
        error if error.is_transient() => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    HandlerError::new(class, format!("committing keyed state: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::Stateful;
    use crate::handler::Handler;
    use crate::middleware::test_support::{message, Scripted};

    #[test]
    fn the_prefetch_hint_passes_through() {
        let inner = Scripted::new([]);
        Stateful::new(Arc::clone(&inner) as Arc<dyn Handler>).prefetch(&message("k", json!({})));
        assert_eq!(inner.prefetched(), [7]);
    }
}
