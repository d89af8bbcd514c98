//! Quality of service around one handler attempt: a fair permit, and hot-key protection.
//!
//! The innermost layer but for [`Timeout`](super::Timeout), so a permit is held only while a
//! handler runs: retry back-off, deferral and dedup lookups hold none, and every attempt asks
//! again. An attempt that retries earlier work ([`Context::is_retry`]) draws on the scheduler's
//! failure share. With hot-key protection on, a key whose handlers took more than
//! `monopolization_threshold` of the last `monopolization_window` is turned away with a
//! transient error before it takes a permit; in pipeline mode the deferral layer then parks it.
//!
//! An attempt that finds a permit at hand (the usual case) is a small [`Running`] future around
//! the inner one, made without an `async` block; only an attempt that has to queue is one.

mod layer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};

pub use layer::QosLayer;
use tokio::time::Instant;

use crate::error::HandlerError;
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::qos::{Class, FairScheduler, HotKeys, Permit};

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
        self.guard(context, move |inner, context| {
            inner.on_message(context, message)
        })
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.guard(context, move |inner, context| {
            inner.on_timer(context, timer)
        })
    }
}

impl<H: Handler + ?Sized> Qos<H> {
    /// Runs `call` on the inner handler once the attempt is admitted: at once with a permit at
    /// hand, after queueing otherwise, or not at all when it is refused.
    fn guard<F>(&self, context: Context, call: F) -> HandlerFuture
    where
        F: FnOnce(&H, Context) -> HandlerFuture + Send + 'static,
    {
        match self.parts.admit(&context) {
            Admission::Refused(error) => Box::pin(std::future::ready(Err(error))),
            Admission::Granted(permit) => {
                let key = self.parts.hot_key(&context);
                let call = call(&self.inner, context);
                Box::pin(Running::new(call, permit, &self.parts, key))
            }
            Admission::Queue(class) => {
                let inner = Arc::clone(&self.inner);
                let parts = Arc::clone(&self.parts);
                Box::pin(async move {
                    let permit = parts.queue(&context, class).await?;
                    let key = parts.hot_key(&context);
                    Running::new(call(&inner, context), permit, &parts, key).await
                })
            }
        }
    }
}

/// Whether an attempt may run at once. Deciding without an `async` block lets the common case,
/// a permit at hand, wrap the inner future in a small [`Running`] instead of a state machine
/// that also holds the context and the event.
enum Admission {
    /// Turned away (a hot key) or cancelled: the attempt fails with this at once.
    Refused(HandlerError),
    /// The event's first permit, or a free one: the attempt runs now.
    Granted(Permit),
    /// No permit free: the attempt queues for one in `Class`.
    Queue(Class),
}

impl layer::Parts {
    fn admit(&self, context: &Context) -> Admission {
        let key = context.shared_key();
        if let Some(hot) = &self.hot_keys {
            if let Some(share) = hot.hot_share(key) {
                return Admission::Refused(HandlerError::transient(format!(
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
        let permit = match context.take_first_permit() {
            Some(permit) => permit,
            None => match self.scheduler.try_acquire(key, class) {
                Some(permit) => permit,
                None => return Admission::Queue(class),
            },
        };
        if context.should_cancel() {
            return Admission::Refused(cancelled());
        }
        Admission::Granted(permit)
    }

    /// Waits for a permit. No cancellation wait is set up meanwhile: registering one with the
    /// partition's token and leaving it again costs two locks of a tree every event shares.
    /// Cancelled handlers end soon and pass their permits on, so a waiter is never stuck; it
    /// checks on waking instead. (A partition that terminates drops its waiters outright.)
    async fn queue(&self, context: &Context, class: Class) -> Result<Permit, HandlerError> {
        let permit = self.scheduler.acquire(context.shared_key(), class).await;
        if context.should_cancel() {
            return Err(cancelled());
        }
        Ok(permit)
    }

    /// The key to charge the attempt's time to, when hot keys are tracked.
    fn hot_key(&self, context: &Context) -> Option<Arc<str>> {
        self.hot_keys
            .as_ref()
            .map(|_| Arc::clone(context.shared_key()))
    }
}

fn cancelled() -> HandlerError {
    HandlerError::transient("cancelled before its handler could run")
}

/// An attempt holding its permit: gives the permit back, and charges the key's handler time,
/// the moment the inner future ends. Dropped unfinished, the permit is given back by its own
/// `Drop`.
struct Running {
    call: HandlerFuture,
    permit: Option<Permit>,
    parts: Arc<layer::Parts>,
    key: Option<Arc<str>>,
}

impl Running {
    fn new(
        call: HandlerFuture,
        permit: Permit,
        parts: &Arc<layer::Parts>,
        key: Option<Arc<str>>,
    ) -> Self {
        Self {
            call,
            permit: Some(permit),
            parts: Arc::clone(parts),
            key,
        }
    }
}

impl Future for Running {
    type Output = Result<(), HandlerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let outcome = ready!(self.call.as_mut().poll(cx));
        let ended = Instant::now();
        if let Some(permit) = self.permit.take() {
            let started = permit.granted();
            permit.finish(ended);
            if let (Some(hot), Some(key)) = (&self.parts.hot_keys, &self.key) {
                hot.record(key, started, ended);
            }
        }
        if let (Ok(()), Some(rate)) = (&outcome, &self.parts.successes) {
            rate.record(true, ended);
        }
        Poll::Ready(outcome)
    }
}

/// What the layer shares between its wrappers.
pub(crate) fn parts(scheduler: FairScheduler, hot_keys: Option<Arc<HotKeys>>) -> layer::Parts {
    layer::Parts {
        scheduler,
        hot_keys,
        successes: None,
    }
}
