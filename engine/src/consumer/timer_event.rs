//! Running a due application timer: calling its handler, or, when its key is deferred (or its
//! handler's failure is deferred), parking it in the key's backlog (see [`super::deferral`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::Instrument;

use crate::consumer::event::{Done, Scope};
use crate::error::HandlerError;
use crate::handler::{Context, Timer};
use crate::timers::{DueTimer, TimerTime};
use crate::trace::Continuation;

impl Scope {
    /// Runs `due` and settles its stored row: deleted once the timer is handled, failed
    /// permanently or parked in the deferred backlog; kept (to fire again) otherwise.
    pub(super) async fn run_timer(&self, key: Arc<str>, due: DueTimer, context: Context) -> Done {
        // Read whether or not spans are exported: the baggage is the handler's either way. A
        // parked timer's row is deleted below, so its backlog entry keeps both.
        let scheduled_by = self.timers.trace_of(&key, due.time).await;
        let settled = if self.joins_backlog(&key) {
            self.defer_timer(&key, due.time, scheduled_by).await
        } else {
            let outcome = self
                .fire_timer(&key, due.time, &scheduled_by, context, false)
                .await;
            match outcome {
                Some(Err(error)) if error.is_deferred() && self.backlogs.is_some() => {
                    tracing::info!(partition = %self.label, key = &*key, time = %due.time, %error, "deferring the key's timer");
                    self.defer_timer(&key, due.time, scheduled_by).await
                }
                outcome => self.settled(outcome, &key, &format!("timer {}", due.time)),
            }
        };
        if self.timers.finish(&key, due.time, settled) {
            self.timers
                .delete_fired(&key, due.time, &self.terminate)
                .await;
        }
        drop(due.permit);
        Done { key, commit: None }
    }

    /// Calls the handler for `key`'s timer at `time` in its `trigger` span, tied to the code
    /// that scheduled it (`scheduled_by`) as `timer_spans` says, and with that code's baggage;
    /// `retry` marks a deferred timer's retry. The same for a first firing and a retry, so a
    /// retried timer stays in the trace that scheduled it.
    pub(super) async fn fire_timer(
        &self,
        key: &Arc<str>,
        time: TimerTime,
        scheduled_by: &Continuation,
        context: Context,
        retry: bool,
    ) -> Option<Result<(), HandlerError>> {
        self.shared
            .stats
            .timers_fired
            .fetch_add(1, Ordering::Relaxed);
        let timer = Timer {
            key: key.to_string(),
            time: time.to_system_time(),
        };
        let span = self.shared.settings.spans.trigger(
            self.segment.topic(),
            self.segment.partition(),
            key,
            &time,
            scheduled_by.parent,
        );
        let context = context
            .within_span(crate::otel::context_of(&span))
            .with_baggage(scheduled_by.baggage.clone());
        let attempts = context.event_span();
        let outcome = self
            .call(context, retry, |handler, context| {
                handler.on_timer(context, timer)
            })
            .instrument(span.clone())
            .await;
        let attempt = attempts.map_or(0, |noted| noted.attempt());
        crate::otel::record_attempt(&span, attempt);
        crate::otel::record_outcome(&span, super::event::outcome_name(&outcome));
        outcome
    }
}
