//! What a partition's per-key queues hold, and running one of them.
//!
//! A key's messages and due timers share one queue, so they run one at a time, in arrival
//! order. A message's outcome decides whether its offset commits; a timer's decides whether
//! its stored row is deleted (success or permanent failure) or kept to fire again.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::consumer::backlogs::{Admission, Backlogs};
use crate::consumer::shared::Shared;
use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, KeyedPartition, Message};
use crate::otel;
use crate::qos::Class;
use crate::timers::{DueTimer, PartitionTimers, TimerSegment};

/// An event waiting for, or holding, its key.
#[derive(Debug)]
pub(crate) enum Event {
    Message(Message),
    Timer(DueTimer),
    /// A deferred key's retry came due (see [`super::deferral`]).
    Retry(Arc<str>),
}

impl Event {
    pub(crate) fn key(&self) -> &Arc<str> {
        match self {
            Event::Message(message) => message.shared_key(),
            Event::Timer(timer) => &timer.key,
            Event::Retry(key) => key,
        }
    }
}

/// What a finished event reports back to its partition.
pub(crate) struct Done {
    pub(crate) key: Arc<str>,
    /// The message offset that may now commit; `None` for a timer or an uncommittable message.
    pub(crate) commit: Option<i64>,
}

/// Everything an event needs from its partition to run; its running events share one.
pub(crate) struct Scope {
    pub(crate) shared: Arc<Shared>,
    pub(crate) timers: Arc<PartitionTimers>,
    pub(crate) cancel: CancellationToken,
    pub(crate) terminate: CancellationToken,
    /// Fires when the partition drains (revocation or shutdown): stops new work.
    pub(crate) drain: CancellationToken,
    pub(crate) label: Arc<str>,
    /// The partition's deferred backlogs, in pipeline mode with `defer_enabled`.
    pub(crate) backlogs: Option<Arc<Backlogs>>,
    pub(crate) segment: TimerSegment,
    /// The partition's topic in the consumer's metrics.
    pub(crate) topic_slot: usize,
    /// This assignment's keyed state (and message reloader), when the consumer registered
    /// collections.
    pub(crate) state: Option<Arc<KeyedPartition>>,
}

impl Scope {
    /// The future that runs `event`'s handler and settles its outcome.
    ///
    /// Every queued or running event is one of these, allocated on its own, so its size is
    /// paid per event: the rare branches (deferral store writes, deferred retries, deleting a
    /// fired timer) are boxed when taken, which keeps the common one small (about 0.7 KiB
    /// instead of 1.1 KiB, under the allocator's per-thread cache limit).
    pub(crate) fn run(
        self: &Arc<Self>,
        event: Event,
    ) -> impl Future<Output = Done> + Send + 'static {
        let scope = Arc::clone(self);
        let key = Arc::clone(event.key());
        let context = Context::with_timers(
            Arc::clone(&key),
            self.cancel.clone(),
            Arc::clone(&self.timers),
        );
        let context = match &self.state {
            Some(state) => context.with_keyed(Arc::clone(state)),
            None => context,
        };
        async move {
            match event {
                Event::Message(message) => {
                    let offset = message.offset();
                    match scope.admit(&key, offset) {
                        Admission::Run => {}
                        Admission::Join => {
                            let joined = Box::pin(scope.defer(&key, offset)).await;
                            return Done {
                                key,
                                commit: joined.then_some(offset),
                            };
                        }
                        Admission::Redelivered => {
                            return Done {
                                key,
                                commit: Some(offset),
                            }
                        }
                    }
                    scope
                        .shared
                        .stats
                        .dispatched
                        .fetch_add(1, Ordering::Relaxed);
                    let context = context.with_baggage(message.baggage());
                    // Boxed when traced, so the common future carries no span.
                    let outcome = if otel::enabled() {
                        Box::pin(scope.call_in_receive_span(context, message)).await
                    } else {
                        scope
                            .call(context, false, |handler, context| {
                                handler.on_message(context, message)
                            })
                            .await
                    };
                    let settled = match &outcome {
                        Some(Err(error)) if error.is_deferred() && scope.backlogs.is_some() => {
                            tracing::info!(partition = %scope.label, key = &*key, offset, %error, "deferring the key");
                            Box::pin(scope.defer(&key, offset)).await
                        }
                        _ => scope.settled(outcome, &key, &format!("offset {offset}")),
                    };
                    Done {
                        key,
                        commit: settled.then_some(offset),
                    }
                }
                Event::Retry(_) => {
                    Box::pin(scope.retry_deferred(&key, context)).await;
                    Done { key, commit: None }
                }
                // Boxed: timers are rarer than messages, whose future stays small.
                Event::Timer(due) => Box::pin(scope.run_timer(key, due, context)).await,
            }
        }
    }

    /// Runs a handler call; `None` means it panicked. The event's first handler permit is taken
    /// here, so events waiting for one wait outside the stack (a small future each, instead of
    /// a whole stack of them); the stack's innermost layer uses it for the first attempt and
    /// takes a fresh one for each retry, so none is held across back-off.
    pub(super) async fn call<F>(
        &self,
        context: Context,
        retry: bool,
        call: F,
    ) -> Option<Result<(), HandlerError>>
    where
        F: FnOnce(&dyn Handler, Context) -> HandlerFuture,
    {
        #[cfg(feature = "bench")]
        if let Some(permits) = &self.shared.baseline_permits {
            let _permit = permits.acquire().await.ok();
            return std::panic::AssertUnwindSafe(call(self.shared.handler.as_ref(), context))
                .catch_unwind()
                .await
                .ok();
        }
        let class = if retry { Class::Failure } else { Class::Normal };
        let scheduler = &self.shared.scheduler;
        let permit = match scheduler.try_acquire(context.key(), class) {
            Some(permit) => permit,
            None => scheduler.acquire(context.key(), class).await,
        };
        let context = context.with_first_permit(permit);
        std::panic::AssertUnwindSafe(call(self.shared.handler.as_ref(), context))
            .catch_unwind()
            .await
            .ok()
    }

    /// Runs a message's handler inside its `receive` span, which records the outcome.
    async fn call_in_receive_span(
        &self,
        context: Context,
        message: Message,
    ) -> Option<Result<(), HandlerError>> {
        let span = self.shared.settings.spans.receive(&message);
        let span_context = otel::context_of(&span);
        let message = message.within_span(span_context);
        let context = context.within_span(span_context);
        let attempts = context.event_span();
        let outcome = self
            .call(context, false, |handler, context| {
                handler.on_message(context, message)
            })
            .instrument(span.clone())
            .await;
        otel::record_attempt(&span, attempts.map_or(0, |noted| noted.attempt()));
        otel::record_outcome(&span, outcome_name(&outcome));
        outcome
    }

    /// Whether an outcome is final (the event is done with), logging failures.
    pub(super) fn settled(
        &self,
        outcome: Option<Result<(), HandlerError>>,
        key: &str,
        what: &str,
    ) -> bool {
        let label = &self.label;
        match outcome {
            Some(Ok(())) => true,
            Some(Err(error)) => {
                tracing::warn!(partition = %label, key, event = what, %error, "handler failed");
                error.class() != ErrorClass::Terminal
            }
            None => {
                tracing::error!(partition = %label, key, event = what, "handler panicked; event left to be redelivered");
                false
            }
        }
    }
}

/// How an event's handling ended, as its span's `outcome` attribute.
pub(super) fn outcome_name(outcome: &Option<Result<(), HandlerError>>) -> &'static str {
    match outcome {
        Some(Ok(())) => "success",
        Some(Err(error)) if error.is_deferred() => "deferred",
        Some(Err(error)) => match error.class() {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Terminal => "terminal",
        },
        None => "panicked",
    }
}
