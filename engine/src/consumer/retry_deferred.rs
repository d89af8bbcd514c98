//! Running a partition's deferred work: parking a message or timer in its key's backlog, and
//! retrying the head of a backlog when it comes due (see [`super::deferral`] for the design).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::Instrument;

use crate::consumer::backlogs::{Admission, Deferred};
use crate::consumer::decode::Record;
use crate::consumer::deferral::{epoch_ms, epoch_ms_after};
use crate::consumer::event::Scope;
use crate::defer::DeferredTimer;
use crate::error::{ErrorClass, HandlerError};
use crate::handler::Context;
use crate::metrics::{Kind, Outcome};
use crate::timers::TimerTime;
use crate::trace::Continuation;

/// What becomes of a backlog's head after a retry.
enum Next {
    /// Done with it (handled, or given up with a logged reason): the next entry comes due.
    Advance,
    /// Try it again later, with a longer delay.
    Later,
}

impl Scope {
    /// Whether `key` has a backlog, so its message or due timer must join it instead of
    /// running.
    pub(crate) fn joins_backlog(&self, key: &str) -> bool {
        self.backlogs
            .as_ref()
            .is_some_and(|backlogs| backlogs.holds(key))
    }

    /// Whether `key`'s message at `offset` runs, joins its backlog, or is a redelivery that
    /// completes as is (see [`Backlogs::admit`]).
    ///
    /// [`Backlogs::admit`]: crate::consumer::backlogs::Backlogs::admit
    pub(crate) fn admit(&self, key: &str, offset: i64) -> Admission {
        let admission = self
            .backlogs
            .as_ref()
            .map_or(Admission::Run, |backlogs| backlogs.admit(key, offset));
        if admission == Admission::Redelivered {
            tracing::debug!(partition = %self.label, key, offset, "a redelivered message its key's backlog already accounts for");
        }
        admission
    }

    /// Parks `offset` in `key`'s backlog. `true` once it is safe to commit; `false` if the
    /// partition stopped first (the offset stays uncommitted).
    pub(crate) async fn defer(&self, key: &Arc<str>, offset: i64) -> bool {
        let parked = self.park(key, Deferred::Offset(offset)).await;
        if parked {
            self.shared.stats.deferred.fetch_add(1, Ordering::Relaxed);
            let metrics = &self.shared.metrics;
            metrics.count_in(self.topic_slot, Kind::Message, Outcome::Deferred);
        }
        parked
    }

    /// Parks the timer at `time` in `key`'s backlog, behind everything already there, with
    /// what its scheduling code carries on (`trace`), which its row is about to lose. `true`
    /// once its stored row may be deleted; `false` if the partition stopped first (the row
    /// stays, so the partition's next owner fires it). A time already parked adds nothing.
    pub(crate) async fn defer_timer(
        &self,
        key: &Arc<str>,
        time: TimerTime,
        trace: Continuation,
    ) -> bool {
        let Some(backlogs) = &self.backlogs else {
            return false;
        };
        if backlogs.holds_timer(key, time) {
            return true;
        }
        let after_offset = backlogs.timer_after(key);
        let timer = DeferredTimer::new(time, after_offset).with_trace(trace);
        let parked = self.park(key, Deferred::Timer(timer)).await;
        if parked {
            let stats = &self.shared.stats;
            stats.deferred_timers.fetch_add(1, Ordering::Relaxed);
            let metrics = &self.shared.metrics;
            metrics.count_in(self.topic_slot, Kind::Timer, Outcome::Deferred);
        }
        parked
    }

    /// Adds `entry` to `key`'s backlog: in the store, then in memory.
    async fn park(&self, key: &Arc<str>, entry: Deferred) -> bool {
        let (Some(backlogs), Some(deferral)) = (&self.backlogs, &self.shared.deferral) else {
            return false;
        };
        let segment = &self.segment;
        let first = !backlogs.holds(key);
        // Parking gives up when the partition drains: nothing of this entry has completed,
        // so it stays uncommitted for the next owner, and a graceful stop during a store
        // outage does not wait out `shutdown_timeout`.
        let stored = deferral
            .write(&self.drain, "add a deferred entry", || match &entry {
                Deferred::Offset(offset) => deferral.store.append(segment, key, *offset),
                Deferred::Timer(timer) => deferral.store.append_timer(segment, key, timer.clone()),
            })
            .await;
        if !stored {
            return false;
        }
        let delay = deferral.delay(1);
        if first {
            let due = epoch_ms_after(delay);
            let scheduled = deferral
                .write(&self.drain, "schedule a deferred retry", || {
                    deferral.store.reschedule(segment, key, 0, due)
                })
                .await;
            if !scheduled {
                return false;
            }
        }
        tracing::debug!(partition = %self.label, key = &**key, ?entry, ?delay, "deferred");
        backlogs.push(key, entry, delay);
        true
    }

    /// Retries the head of `key`'s backlog: a message read back from Kafka, or a timer with
    /// its original time, run as a retry.
    pub(crate) async fn retry_deferred(&self, key: &Arc<str>, context: Context) {
        let (Some(backlogs), Some(deferral)) = (&self.backlogs, &self.shared.deferral) else {
            return;
        };
        let Some(head) = backlogs.head(key) else {
            return;
        };
        // The first delivery's round and one per failed deferred retry came before, each of
        // `max_retries + 1` attempts (the defer layer's in-place retries).
        let rounds = head.retries.saturating_add(1);
        let prior = rounds.saturating_mul(self.shared.settings.attempts_per_round);
        let retry = context.into_deferred_retry(prior);
        let next = match &head.entry {
            Deferred::Offset(offset) => self.retry_message(key, *offset, head.retries, retry).await,
            Deferred::Timer(timer) => self.retry_timer(key, timer, head.retries, retry).await,
        };
        let segment = &self.segment;
        match next {
            Next::Advance => {
                let removed = deferral
                    .write(&self.terminate, "remove a deferred entry", || {
                        match &head.entry {
                            Deferred::Offset(offset) => {
                                deferral.store.remove(segment, key, *offset)
                            }
                            Deferred::Timer(timer) => {
                                deferral.store.remove_timer(segment, key, timer.time)
                            }
                        }
                    })
                    .await;
                if !removed {
                    return;
                }
                let stats = &self.shared.stats;
                match head.entry {
                    Deferred::Offset(_) => stats.undeferred.fetch_add(1, Ordering::Relaxed),
                    Deferred::Timer(_) => stats.undeferred_timers.fetch_add(1, Ordering::Relaxed),
                };
                if backlogs.advance(key) {
                    let now = epoch_ms();
                    deferral
                        .write(&self.terminate, "schedule a deferred retry", || {
                            deferral.store.reschedule(segment, key, 0, now)
                        })
                        .await;
                }
            }
            Next::Later => {
                let retries = head.retries.saturating_add(1);
                let delay = deferral.delay(retries.saturating_add(1));
                let due = epoch_ms_after(delay);
                let scheduled = deferral
                    .write(&self.terminate, "schedule a deferred retry", || {
                        deferral.store.reschedule(segment, key, retries, due)
                    })
                    .await;
                if scheduled {
                    backlogs.retry_later(key, retries, delay);
                }
            }
        }
    }

    /// Reads a deferred message back from Kafka and runs it again.
    async fn retry_message(
        &self,
        key: &Arc<str>,
        offset: i64,
        retries: u32,
        retry: Context,
    ) -> Next {
        let Some(deferral) = &self.shared.deferral else {
            return Next::Later;
        };
        let label = &self.label;
        tracing::debug!(partition = %label, key = &**key, offset, retries, "retrying a deferred message");
        let loaded = deferral.load(&self.segment, offset).await;
        tracing::debug!(partition = %label, key = &**key, offset, loaded = loaded.is_ok(), "deferred message read back");
        match loaded {
            Err(error) if error.is_transient() => {
                tracing::warn!(partition = %label, key = &**key, offset, %error, "could not read a deferred message back; will try again");
                Next::Later
            }
            Err(error) => {
                tracing::warn!(partition = %label, key = &**key, offset, %error, "skipping a deferred message Kafka no longer has");
                Next::Advance
            }
            Ok(record) => match Record::from_loaded(&record)
                .decode(&self.shared.stats.skipped, self.shared.settings.excise)
            {
                None => Next::Advance,
                Some(message) if message.key() != &**key => {
                    tracing::warn!(partition = %label, key = &**key, offset, found = message.key(), "skipping a deferred offset that now holds another key");
                    Next::Advance
                }
                Some(message) => {
                    self.shared.stats.dispatched.fetch_add(1, Ordering::Relaxed);
                    let span = self.shared.settings.spans.load(&message);
                    let span_context = crate::otel::context_of(&span);
                    let retry = retry
                        .within_span(span_context)
                        .with_baggage(message.baggage());
                    let message = message.within_span(span_context);
                    let attempts = retry.event_span();
                    let outcome = self
                        .call(retry, true, |handler, retry| {
                            handler.on_message(retry, message)
                        })
                        .instrument(span.clone())
                        .await;
                    let attempt = attempts.map_or(0, |noted| noted.attempt());
                    crate::otel::record_attempt(&span, attempt);
                    crate::otel::record_outcome(&span, super::event::outcome_name(&outcome));
                    self.judge(key, &format!("offset {offset}"), retries, outcome)
                }
            },
        }
    }

    /// Runs a deferred timer again, with its original time, in a `trigger` span of its own
    /// tied to the code that scheduled it, and with that code's baggage, as its first firing.
    async fn retry_timer(
        &self,
        key: &Arc<str>,
        timer: &DeferredTimer,
        retries: u32,
        retry: Context,
    ) -> Next {
        let time = timer.time;
        tracing::debug!(partition = %self.label, key = &**key, %time, retries, "retrying a deferred timer");
        let outcome = self.fire_timer(key, time, &timer.trace, retry, true).await;
        self.judge(key, &format!("timer {time}"), retries, outcome)
    }

    /// What a deferred retry's outcome means for the backlog's head.
    fn judge(
        &self,
        key: &str,
        what: &str,
        retries: u32,
        outcome: Option<Result<(), HandlerError>>,
    ) -> Next {
        let label = &self.label;
        match outcome {
            Some(Ok(())) => Next::Advance,
            Some(Err(error)) if error.class() == ErrorClass::Permanent && !error.is_deferred() => {
                tracing::warn!(partition = %label, key, event = what, %error, "deferred event failed permanently; moving on");
                Next::Advance
            }
            Some(Err(error)) => {
                tracing::info!(partition = %label, key, event = what, retries = retries + 1, %error, "deferred event failed again");
                Next::Later
            }
            None => {
                tracing::error!(partition = %label, key, event = what, "handler panicked on a deferred retry; will try again");
                Next::Later
            }
        }
    }
}
