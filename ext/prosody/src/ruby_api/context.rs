//! `Prosody::Context`: per-event cancellation state and the event's completion slot.
//!
//! The Ruby processor reports a handler's outcome through `__complete`, exactly once; later
//! calls are ignored. A context dropped without completion (a crashed processor) makes the
//! engine see a transient failure, so the event is retried rather than lost.

use std::sync::Mutex;

use magnus::{method, prelude::*, DataTypeFunctions, Error, Ruby, TypedData};
use prosody_engine::{HandlerError, TimerTime};
use tokio::sync::oneshot;

use crate::ruby_api::pending::{Outcome as PendingOutcome, Pending};

/// What a handler returned.
pub(crate) type Outcome = Result<(), HandlerError>;

/// Completed outcomes waiting to be sent to the engine.
///
/// Sending one outcome wakes the engine task that awaits it; sending a processor turn's worth
/// together lets those wake-ups coalesce (several completions of one partition wake its task
/// once) instead of costing a cross-thread wake-up per event. The processor flushes at the end
/// of every dispatch turn and whenever a worker runs out of work, so nothing waits here while
/// Ruby is idle. Its size is bounded by the events in flight (at most `max_concurrency`).
#[derive(Default)]
pub(crate) struct Completions {
    ready: Mutex<Vec<(oneshot::Sender<Outcome>, Outcome)>>,
}

impl Completions {
    /// Sends every buffered outcome.
    pub(crate) fn flush(&self) {
        let ready = std::mem::take(
            &mut *self
                .ready
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for (sender, outcome) in ready {
            // The receiver is gone only if the engine dropped the event (shutdown deadline).
            let _ = sender.send(outcome);
        }
    }
}

/// The Ruby-visible context.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Context", free_immediately)]
pub(crate) struct RubyContext {
    id: u64,
    context: prosody_engine::Context,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
    completions: std::sync::Arc<Completions>,
}

/// Outcome codes the Ruby processor passes to `__complete`.
const SUCCESS: i64 = 0;
const PERMANENT: i64 = 2;

impl RubyContext {
    pub(crate) fn new(
        id: u64,
        context: prosody_engine::Context,
        done: oneshot::Sender<Outcome>,
        completions: std::sync::Arc<Completions>,
    ) -> Self {
        Self {
            id,
            context,
            done: Mutex::new(Some(done)),
            completions,
        }
    }

    fn should_cancel(&self) -> bool {
        self.context.should_cancel()
    }

    fn key(&self) -> String {
        self.context.key().to_string()
    }

    /// Which attempt at this event the handler is making, from 1 (see `Context::attempt`).
    fn attempt(&self) -> u32 {
        self.context.attempt()
    }

    fn id(&self) -> u64 {
        self.id
    }

    /// Reports the outcome: 0 success, 1 transient, 2 permanent, with a description.
    fn complete(&self, code: i64, description: Option<String>) -> bool {
        let sender = self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(sender) = sender else { return false };
        let description = description.unwrap_or_default();
        let outcome = match code {
            SUCCESS => Ok(()),
            PERMANENT => Err(HandlerError::permanent(description)),
            _ => Err(HandlerError::transient(description)),
        };
        self.completions
            .ready
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((sender, outcome));
        true
    }
}

/// Timer operations, by the codes `lib/prosody/context.rb` passes.
const SCHEDULE: i64 = 0;
const UNSCHEDULE: i64 = 1;
const CLEAR_AND_SCHEDULE: i64 = 2;
const CLEAR: i64 = 3;
const LIST: i64 = 4;

impl RubyContext {
    /// Starts timer operation `op` and returns the `Pending` the caller waits on.
    fn timer(ruby: &Ruby, rb_self: &Self, op: i64, secs: Option<u32>) -> Result<Pending, Error> {
        rb_self.check_live(ruby)?;
        Pending::start(ruby, timer_op(rb_self.context.clone(), op, secs))
    }

    /// Timer operations belong to the running handler: once its outcome is reported, the key's
    /// next event may already be running, and a late operation would race it.
    fn check_live(&self, ruby: &Ruby) -> Result<(), Error> {
        let done = self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_none();
        if done {
            return Err(crate::helpers::errors::prosody_error(
                ruby,
                "this context's handler has returned; timers can only be changed while it runs",
            ));
        }
        Ok(())
    }
}

async fn timer_op(context: prosody_engine::Context, op: i64, secs: Option<u32>) -> PendingOutcome {
    let time = secs.map(TimerTime::from_secs);
    let done = |result: prosody_engine::Result<()>| result.map(|()| PendingOutcome::Done);
    let result = match (op, time) {
        (SCHEDULE, Some(time)) => done(context.schedule(time).await),
        (UNSCHEDULE, Some(time)) => done(context.unschedule(time).await),
        (CLEAR_AND_SCHEDULE, Some(time)) => done(context.clear_and_schedule(time).await),
        (CLEAR, _) => done(context.clear_scheduled().await),
        (LIST, _) => context.scheduled().await.map(|times| {
            PendingOutcome::Times(times.into_iter().map(TimerTime::as_secs).collect())
        }),
        _ => Err(prosody_engine::Error::State(
            "unknown timer operation (a bug in lib/prosody/context.rb)",
        )),
    };
    result.unwrap_or_else(PendingOutcome::Failed)
}

/// Defines `Prosody::Context`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_class("Context", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("should_cancel?", method!(RubyContext::should_cancel, 0))?;
    class.define_method("key", method!(RubyContext::key, 0))?;
    class.define_method("attempt", method!(RubyContext::attempt, 0))?;
    class.define_method("__id", method!(RubyContext::id, 0))?;
    class.define_method("__complete", method!(RubyContext::complete, 2))?;
    class.define_method("__timer", method!(RubyContext::timer, 2))?;
    Ok(())
}
