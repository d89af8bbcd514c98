//! Quality of service around one handler attempt: a fair permit, and hot-key protection.
//!
//! The innermost layer but for [`Timeout`](super::Timeout), so a permit is held only while a
//! handler runs: retry back-off, deferral and dedup lookups hold none, and every attempt asks
//! again. An attempt that retries earlier work ([`Context::is_retry`]) draws on the scheduler's
//! failure share. With hot-key protection on, a key whose handlers took more than
//! `monopolization_threshold` of the last `monopolization_window` is turned away with a
//! transient error before it takes a permit; in pipeline mode the deferral layer then parks it.
//! Every attempt's result also feeds the failure rate that gates deferral.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use layer::QosLayer;
use tokio::time::Instant;

use crate::error::HandlerError;
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::qos::{Class, FairScheduler, HotKeys};

/// Runs the inner handler under a fair permit; built by [`QosLayer`].
pub struct Qos<H: ?Sized> {
    inner: Arc<H>,
    parts: Arc<layer::Parts>,
}

impl<H: ?Sized> fmt::Debug for Qos<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qos")
            .field("hot_keys", &self.parts.hot_keys.is_some())
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Qos<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let parts = Arc::clone(&self.parts);
        Box::pin(async move {
            parts
                .attempt(context, |context| inner.on_message(context, message))
                .await
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        let parts = Arc::clone(&self.parts);
        Box::pin(async move {
            parts
                .attempt(context, |context| inner.on_timer(context, timer))
                .await
        })
    }
}

impl layer::Parts {
    async fn attempt(
        &self,
        context: Context,
        call: impl FnOnce(Context) -> HandlerFuture,
    ) -> Result<(), HandlerError> {
        let key = Arc::clone(context.shared_key());
        if let Some(hot) = &self.hot_keys {
            if let Some(share) = hot.hot_share(&key) {
                return Err(HandlerError::transient(format!(
                    "key {key:?} is hot: its handlers took {:.0}% of the last {} \
                     (monopolization_threshold {:.0}%); held back",
                    share * 100.0,
                    humantime::format_duration(hot.window()),
                    hot.threshold() * 100.0,
                )));
            }
        }
        let class = if context.is_retry() {
            Class::Failure
        } else {
            Class::Normal
        };
        // No cancellation wait is set up while queueing for a permit: registering one with the
        // partition's token and leaving it again costs two locks of a tree every event shares.
        // Cancelled handlers end soon and pass their permits on, so a waiter is never stuck; it
        // checks on waking instead. (A partition that terminates drops its waiters outright.)
        let permit = match context.take_first_permit() {
            Some(permit) => permit,
            None => match self.scheduler.try_acquire(&key, class) {
                Some(permit) => permit,
                None => self.scheduler.acquire(&key, class).await,
            },
        };
        if context.should_cancel() {
            return Err(HandlerError::transient(
                "cancelled before its handler could run",
            ));
        }
        let started = permit.granted();
        let outcome = call(context).await;
        let ended = Instant::now();
        permit.finish(ended);
        if let Some(hot) = &self.hot_keys {
            hot.record(&key, started, ended);
        }
        outcome
    }
}

/// What the layer shares between its wrappers.
pub(crate) fn parts(scheduler: FairScheduler, hot_keys: Option<Arc<HotKeys>>) -> layer::Parts {
    layer::Parts {
        scheduler,
        hot_keys,
    }
}
