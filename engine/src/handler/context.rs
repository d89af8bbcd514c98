//! What a handler may ask of the engine while it runs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{KeyedPartition, Reloader, ReplySlot};
use crate::baggage::Baggage;
use crate::error::{Error, Result};
use crate::qos::Permit;
use crate::state::{EventState, PartitionState, StateHandle};
use crate::timers::{PartitionTimers, TimerSegment, TimerTime};
use crate::trace::{Continuation, TraceParent};

/// Per-event context: the event's key, its cancellation signal and the key's timers.
///
/// Cancellation fires when the event's partition is revoked or the consumer shuts down and the
/// grace period is nearly over. A handler should then stop promptly; its result still counts.
///
/// The timer operations act on the timers of this event's key in this event's partition. A
/// timer fires once, at least once, through the same per-key queue as messages, as a call to
/// [`Handler::on_timer`](crate::Handler::on_timer). They fail with a transient error when the
/// store cannot be reached or the partition is being revoked, and on a detached context.
///
/// In pipeline mode a timer whose handler keeps failing is deferred, like a message: it waits
/// in its key's deferred backlog, with the key's timers that came due after it, until a retry
/// runs it with its original time. Deferred timers are still scheduled: [`Context::scheduled`]
/// lists them, and [`Context::unschedule`], [`Context::clear_scheduled`] and
/// [`Context::clear_and_schedule`] remove them, so they never run.
///
/// Each attempt at an event gets its own context, numbered by [`Context::attempt`]: the retry
/// layer hands the handler attempt 1, then 2, 3, … for the same event.
///
/// ```
/// let context = prosody_engine::Context::detached("key-1");
/// assert!(!context.should_cancel());
/// assert_eq!(context.attempt(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    key: Arc<str>,
    cancel: CancellationToken,
    timers: Option<Arc<PartitionTimers>>,
    attempt: u32,
    /// Attempts at the event made before this context's attempt 1, by earlier rounds (a
    /// deferred event's first delivery and failed retries, or rounds retried in place while
    /// deferral was shut): what [`Context::retries`] counts on from. Above 0 for a deferred
    /// event coming back, which the scheduler counts as a retry.
    prior: u32,
    /// A handler permit the consumer took before the event entered the stack, for its first
    /// attempt; shared by the event's clones, taken once.
    first_permit: Option<Arc<Mutex<Option<Permit>>>>,
    /// The span handling the event, while spans are exported. Behind a pointer so that
    /// contexts, made per event and per attempt, stay small when tracing is off; shared by the
    /// event's attempts, which note their number in it.
    span: Option<Arc<EventSpan>>,
    /// The event's W3C baggage (its record's, or its timer's scheduler's), which sends and
    /// timers made while it is handled carry on.
    baggage: Option<Baggage>,
    /// The partition's keyed state, when the consumer registered collections.
    keyed: Option<Arc<KeyedPartition>>,
    /// This attempt's keyed state, set by the layer that commits it (`handler/stateful.rs`).
    event_state: Option<EventState>,
    /// Where the handler of a request leaves its answer (`handler/reply.rs`).
    pub(super) reply: Option<Arc<ReplySlot>>,
}

impl Context {
    pub(crate) fn new(key: Arc<str>, cancel: CancellationToken) -> Self {
        Self {
            key,
            cancel,
            timers: None,
            attempt: 1,
            prior: 0,
            first_permit: None,
            span: None,
            baggage: None,
            keyed: None,
            event_state: None,
            reply: None,
        }
    }

    pub(crate) fn with_timers(
        key: Arc<str>,
        cancel: CancellationToken,
        timers: Arc<PartitionTimers>,
    ) -> Self {
        Self {
            key,
            cancel,
            timers: Some(timers),
            attempt: 1,
            prior: 0,
            first_permit: None,
            span: None,
            baggage: None,
            keyed: None,
            event_state: None,
            reply: None,
        }
    }

    /// A context that is never cancelled, for tests and tools.
    pub fn detached(key: &str) -> Self {
        Self::new(key.into(), CancellationToken::new())
    }

    /// The key of the event being handled.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Which attempt at this event the handler is making, counting from 1. Only the retry
    /// layer makes further attempts, so outside it (best-effort mode, a first try) this is 1.
    /// A redelivery after a restart or rebalance starts again at 1.
    ///
    /// ```
    /// assert_eq!(prosody_engine::Context::detached("key-1").attempt(), 1);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many attempts at this event came before this one: 0 on its first delivery, then 1,
    /// 2, … on retries. Unlike [`Context::attempt`] it goes on counting when a deferred event
    /// comes back (pipeline mode): each earlier round is taken to have made its full
    /// `max_retries + 1` attempts, which a round that ends in deferral does. A redelivery after
    /// a restart or rebalance starts again at 0, so treat it as a floor, not an exact count.
    ///
    /// ```
    /// assert_eq!(prosody_engine::Context::detached("key-1").retries(), 0);
    /// ```
    pub fn retries(&self) -> u32 {
        self.prior.saturating_add(self.attempt.saturating_sub(1))
    }

    /// Whether the handler has been asked to stop. A cheap atomic read.
    pub fn should_cancel(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the handler is asked to stop.
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.cancel.clone().cancelled_owned()
    }

    /// A context for the same event whose cancellation also fires when this one's does, and
    /// which [`Context::cancel`] can fire on its own (the timeout middleware does).
    pub(crate) fn child(&self) -> Self {
        Self {
            key: Arc::clone(&self.key),
            cancel: self.cancel.child_token(),
            timers: self.timers.clone(),
            attempt: self.attempt,
            prior: self.prior,
            first_permit: self.first_permit.clone(),
            span: self.span.clone(),
            baggage: self.baggage.clone(),
            keyed: self.keyed.clone(),
            event_state: self.event_state.clone(),
            reply: self.reply.clone(),
        }
    }

    /// The same context, numbered as attempt `attempt` (1-based) at the event; the retry layer
    /// gives each attempt its own.
    pub(crate) fn with_attempt(&self, attempt: u32) -> Self {
        Self {
            attempt,
            ..self.clone()
        }
    }

    /// The same context, carrying `permit` for the event's first attempt.
    pub(crate) fn with_first_permit(mut self, permit: Permit) -> Self {
        self.first_permit = Some(Arc::new(Mutex::new(Some(permit))));
        self
    }

    /// The same context, inside the span whose context is `span`.
    pub(crate) fn within_span(mut self, span: Option<TraceParent>) -> Self {
        self.span = span.map(|trace| {
            Arc::new(EventSpan {
                trace,
                attempt: AtomicU32::new(0),
            })
        });
        self
    }

    /// The same context, carrying `baggage` (the event's).
    pub(crate) fn with_baggage(mut self, baggage: Option<Baggage>) -> Self {
        self.baggage = baggage;
        self
    }

    /// The same context, reaching its partition's keyed state and message reloader.
    pub(crate) fn with_keyed(mut self, keyed: Arc<KeyedPartition>) -> Self {
        self.keyed = Some(keyed);
        self
    }

    /// The partition's keyed state, when the consumer registered collections.
    pub(crate) fn partition_state(&self) -> Option<&Arc<PartitionState>> {
        self.keyed.as_ref().map(|keyed| &keyed.state)
    }

    /// The same context, for the attempt whose keyed state is `state`.
    pub(crate) fn with_event_state(mut self, state: EventState) -> Self {
        self.event_state = Some(state);
        self
    }

    /// The keyed state of this event's key: [`StateHandle::txn`] begins the attempt's
    /// transaction on first use. It commits when the handler succeeds, before the event's
    /// offset can commit, and is dropped when the handler fails, so a retry sees the state as
    /// it was. Handles fail once the attempt ended.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when the consumer registered no state collections, or on a detached
    /// context.
    ///
    /// ```
    /// let context = prosody_engine::Context::detached("key-1");
    /// assert!(context.state().is_err(), "a detached context has no state");
    /// ```
    pub fn state(&self) -> Result<StateHandle> {
        self.event_state
            .as_ref()
            .map(|state| StateHandle::new(Arc::clone(&self.key), state.clone()))
            .ok_or(Error::State(
                "keyed state is not available: subscribe with registered state collections, and use the context a handler receives",
            ))
    }

    /// Reads the messages a `message_*` collection refers to back from Kafka.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when the consumer registered no message collections, or on a detached
    /// context.
    pub fn reloader(&self) -> Result<Reloader> {
        let reloader = self.keyed.as_ref().and_then(|keyed| keyed.reloader.clone());
        reloader.ok_or(Error::State(
            "messages cannot be reloaded: subscribe with registered message collections, and use the context a handler receives",
        ))
    }

    /// The span this event runs in, shared with its attempts' contexts.
    pub(crate) fn event_span(&self) -> Option<Arc<EventSpan>> {
        self.span.clone()
    }

    /// Notes in the event's span, if it has one, that this attempt is running.
    pub(crate) fn note_attempt(&self) {
        if let Some(span) = &self.span {
            span.attempt.store(self.attempt, Ordering::Relaxed);
        }
    }

    /// The context of the exported span handling this event (its `receive` or `trigger`), so
    /// that work done for the event continues that span's trace; `None` while no spans are
    /// exported.
    ///
    /// ```
    /// assert_eq!(prosody_engine::Context::detached("key-1").trace_context(), None);
    /// ```
    pub fn trace_context(&self) -> Option<TraceParent> {
        self.span.as_deref().map(|span| span.trace)
    }

    /// The W3C baggage of the event being handled: the record's `baggage` header, or for a
    /// timer the baggage of the code that scheduled it.
    ///
    /// ```
    /// assert_eq!(prosody_engine::Context::detached("key-1").baggage(), None);
    /// ```
    pub fn baggage(&self) -> Option<&Baggage> {
        self.baggage.as_ref()
    }

    /// What work done for this event carries on: the [`trace context`](Context::trace_context)
    /// and the [`baggage`](Context::baggage). Pass it to
    /// [`Producer::send_in_trace`](crate::Producer::send_in_trace) from a handler.
    pub fn continuation(&self) -> Continuation {
        Continuation::from(self.trace_context()).with_baggage(self.baggage.clone())
    }

    /// The permit taken for the first attempt, if it is still unused.
    pub(crate) fn take_first_permit(&self) -> Option<Permit> {
        let slot = self.first_permit.as_ref()?;
        slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The topic of the event's partition; `None` on a detached context.
    pub(crate) fn topic(&self) -> Option<&str> {
        self.timers.as_ref().map(|timers| timers.segment().topic())
    }

    /// The group, topic and partition of the event; `None` on a detached context.
    pub(crate) fn segment(&self) -> Option<&TimerSegment> {
        self.timers.as_ref().map(|timers| timers.segment())
    }

    /// The key, shared rather than copied.
    pub(crate) fn shared_key(&self) -> &Arc<str> {
        &self.key
    }

    /// The same context, marked as a deferred event coming back for another try after
    /// `prior` attempts at it (counted as at least 1).
    pub(crate) fn into_deferred_retry(mut self, prior: u32) -> Self {
        self.prior = prior.max(1);
        self
    }

    /// Attempts at the event made before this context's attempt 1.
    pub(crate) fn prior(&self) -> u32 {
        self.prior
    }

    /// The same context, after `prior` attempts at the event made by earlier rounds.
    pub(crate) fn after_attempts(&self, prior: u32) -> Self {
        Self {
            prior,
            ..self.clone()
        }
    }

    /// Whether this attempt retries earlier work: a second or later attempt, a deferred event
    /// coming back, or a later round of in-place retries. The scheduler serves these from the
    /// failure share.
    pub(crate) fn is_retry(&self) -> bool {
        self.attempt > 1 || self.prior > 0
    }

    /// Asks the handler holding this context, and every child of it, to stop. Only call it on
    /// a context made by [`Context::child`]: the parent may be shared by a whole partition.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// An event's exported span, as its attempts see it.
#[derive(Debug)]
pub(crate) struct EventSpan {
    trace: TraceParent,
    /// The latest attempt that started (0 before the first), recorded on the span at its end:
    /// recording each would repeat the attribute.
    attempt: AtomicU32,
}

impl EventSpan {
    /// The latest attempt at the event that started; 0 when none did.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt.load(Ordering::Relaxed)
    }
}

/// Timers of the event's key.
impl Context {
    fn timers(&self) -> Result<&PartitionTimers> {
        self.timers.as_deref().ok_or(Error::State(
            "timers are not available on a detached context; use the context a handler receives",
        ))
    }

    /// Schedules a timer for this key at `time`. Scheduling one that exists does nothing.
    ///
    /// While the key is deferred the timer is stored as usual; if it comes due before the key
    /// recovers, it joins the key's deferred backlog behind everything already there, so it
    /// never overtakes a deferred message or timer.
    pub async fn schedule(&self, time: TimerTime) -> Result<()> {
        self.timers()?
            .schedule(&self.key, time, self.continuation())
            .await
    }

    /// Removes the timer for this key at `time`, if any, whether stored or deferred.
    pub async fn unschedule(&self, time: TimerTime) -> Result<()> {
        self.timers()?.unschedule(&self.key, time).await
    }

    /// Replaces every timer of this key, stored or deferred, with one at `time`.
    pub async fn clear_and_schedule(&self, time: TimerTime) -> Result<()> {
        self.timers()?
            .clear_and_schedule(&self.key, time, self.continuation())
            .await
    }

    /// Removes every timer of this key, stored or deferred. A deferred backlog left empty goes
    /// with its pending retry.
    pub async fn clear_scheduled(&self) -> Result<()> {
        self.timers()?.clear(&self.key, None).await
    }

    /// The times scheduled for this key, stored or deferred, ascending and without duplicates.
    /// The timer now firing (or being retried from the deferred backlog) is not listed unless
    /// it was scheduled again.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let context = prosody_engine::Context::detached("key-1");
    /// assert!(context.scheduled().await.is_err(), "a detached context has no timers");
    /// # });
    /// ```
    pub async fn scheduled(&self) -> Result<Vec<TimerTime>> {
        self.timers()?.scheduled(&self.key).await
    }
}
