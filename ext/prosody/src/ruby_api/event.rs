//! `Prosody::Context`: the handle on one event the engine handed to Ruby, and the context its
//! handler receives.
//!
//! One object per event does both jobs, so dispatching an event allocates no wrapper. The
//! documented API (`key`, `attempt`, `should_cancel?`, timers, state...) is Ruby, in
//! `lib/prosody/context.rb`, on top of the methods defined here, which that file makes private:
//! the worker running the event reports its outcome through `complete`, exactly once; later
//! calls are ignored. An event dropped without completion (a crashed processor) makes the
//! engine see a transient failure, so the event is retried rather than lost. Timer operations
//! go through `timer` while the handler runs.
//!
//! Outcomes and timer operations cross as Symbols:
//!
//! | Ruby | meaning |
//! |---|---|
//! | `complete(:success, nil)` | the handler returned |
//! | `complete(:transient, text)` | it failed and may be retried (including cancellation) |
//! | `complete(:permanent, text)` | it failed and must not be retried |
//! | `complete(:terminal, text)` | the process is exiting (`exit`, a signal): neither retried nor committed |
//! | `timer(:schedule \| :unschedule \| :clear_and_schedule, seconds)` | change one time |
//! | `timer(:clear_scheduled \| :scheduled, nil)` | clear or list the key's times |
//! | `state_op(definition, operation, args)` | a keyed-state operation on the event's key (`state_ops.rs`) |
//! | `answers_request?`, `respond(value)` | whether the event is a request for this subsystem; its answer (nil, or why it cannot be sent) |

use std::sync::{Arc, Mutex};

use magnus::{
    method, prelude::*, DataTypeFunctions, Error, RArray, RHash, Ruby, Symbol, TypedData, Value,
};
use prosody_engine::state::Payload;
use prosody_engine::{Context, Continuation, HandlerError, TimerTime};
use tokio::sync::oneshot;

use crate::helpers::errors::{prosody_class, prosody_error};
use crate::ruby_api::pending::{Outcome as PendingOutcome, Pending};
use crate::ruby_api::state_definition::StateDefinition;
use crate::ruby_api::state_ops::{StateOp, StateReply};

/// What a handler returned, as the engine sees it.
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

/// The Ruby-visible event handle.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Context", free_immediately)]
pub(crate) struct Event {
    id: u64,
    context: Context,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
    completions: Arc<Completions>,
}

impl Event {
    /// An event the bridge hands to Ruby; `done` carries its outcome back to the engine task,
    /// through `completions`.
    pub(crate) fn new(
        id: u64,
        context: Context,
        done: oneshot::Sender<Outcome>,
        completions: Arc<Completions>,
    ) -> Self {
        Self {
            id,
            context,
            done: Mutex::new(Some(done)),
            completions,
        }
    }

    /// The number the bridge names this event by when it asks Ruby to cancel it.
    fn id(&self) -> u64 {
        self.id
    }

    fn key(&self) -> String {
        self.context.key().to_string()
    }

    /// Which attempt at this event the handler is making, from 1 (see `Context::attempt`).
    fn attempt(&self) -> u32 {
        self.context.attempt()
    }

    /// How many attempts at this event came before this one (see `Context::retries`).
    fn retries(&self) -> u32 {
        self.context.retries()
    }

    fn is_cancelled(&self) -> bool {
        self.context.should_cancel()
    }

    /// What a send made while this event's handler runs carries on (a timer's handler sends
    /// through this; a message's through its `Prosody::Message`).
    pub(crate) fn continuation(&self) -> Continuation {
        self.context.continuation()
    }

    /// The W3C `traceparent` of the event's span while spans are exported, else nil.
    fn traceparent(&self) -> Option<String> {
        self.context
            .trace_context()
            .map(|parent| parent.to_string())
    }

    /// The event's W3C baggage (for a timer, its scheduler's) as a Hash of decoded values.
    fn baggage(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let hash = ruby.hash_new();
        if let Some(baggage) = rb_self.context.baggage() {
            for (key, value) in baggage.entries() {
                hash.aset(key, value)?;
            }
        }
        Ok(hash)
    }

    /// Reports the outcome (see the module docs); `false` if one was already reported.
    fn complete(
        ruby: &Ruby,
        rb_self: &Self,
        outcome: Symbol,
        description: Option<String>,
    ) -> Result<bool, Error> {
        let description = description.unwrap_or_default();
        let outcome = match &*outcome.name()? {
            "success" => Ok(()),
            "transient" => Err(HandlerError::transient(description)),
            "permanent" => Err(HandlerError::permanent(description)),
            "terminal" => Err(HandlerError::terminal(description)),
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!(
                        "unknown outcome :{other}; expected :success, :transient, :permanent or :terminal"
                    ),
                ))
            }
        };
        let sender = rb_self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(sender) = sender else {
            return Ok(false);
        };
        rb_self
            .completions
            .ready
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((sender, outcome));
        Ok(true)
    }

    /// Starts timer operation `operation` (see the module docs) and returns its `Pending`.
    fn timer(
        ruby: &Ruby,
        rb_self: &Self,
        operation: Symbol,
        seconds: Option<u32>,
    ) -> Result<Pending, Error> {
        rb_self.check_live(ruby)?;
        let operation = TimerOperation::parse(ruby, operation, seconds)?;
        Pending::start(ruby, operation.run(rb_self.context.clone()))
    }

    /// Starts keyed-state operation `operation` with `args` on `definition`, for this event's
    /// key (see `state_ops.rs`), and returns its `Pending`.
    fn state(
        ruby: &Ruby,
        rb_self: &Self,
        definition: &StateDefinition,
        operation: Symbol,
        args: RArray,
    ) -> Result<Pending, Error> {
        if rb_self.is_done() {
            return Err(Error::new(
                prosody_class(ruby, "PermanentStateError")?,
                "this context's handler has returned; keyed state can only be used while it runs",
            ));
        }
        let definition = definition.definition().clone();
        let operation = StateOp::parse(ruby, &definition, operation, args)?;
        // Without one (the collection is not registered), the operation itself fails first.
        let reloader = match definition.payload() {
            Payload::Message => rb_self.context.reloader().ok(),
            Payload::Bytes => None,
        };
        let handle = match rb_self.context.state() {
            Ok(handle) => handle,
            Err(error) => {
                return Pending::start(ruby, async move {
                    PendingOutcome::State(StateReply::Failed(error))
                })
            }
        };
        Pending::start(ruby, async move {
            PendingOutcome::State(operation.run(handle, definition, reloader).await)
        })
    }

    /// Whether this event is a request its consumer's subsystem answers.
    fn answers_request(&self) -> bool {
        self.context.answers_request()
    }

    /// Sets the request's answer to `value` (the handler's return value); it is sent once the
    /// event's outcome is final. A value JSON cannot hold makes the answer a failure naming
    /// it, and returns the reason (nil when the value was taken).
    fn respond(ruby: &Ruby, rb_self: &Self, value: Value) -> Option<String> {
        match crate::helpers::json::to_json(ruby, value) {
            Ok(json) => {
                rb_self.context.respond(json);
                None
            }
            Err(error) => {
                let reason =
                    format!("the handler's return value cannot be sent as a JSON answer: {error}");
                rb_self.context.respond_unencodable(reason.clone());
                Some(reason)
            }
        }
    }

    fn is_done(&self) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_none()
    }

    /// Timer operations belong to the running handler: once its outcome is reported, the key's
    /// next event may already be running, and a late operation would race it.
    fn check_live(&self, ruby: &Ruby) -> Result<(), Error> {
        if self.is_done() {
            return Err(prosody_error(
                ruby,
                "this context's handler has returned; timers can only be changed while it runs",
            ));
        }
        Ok(())
    }
}

/// A timer operation, named as `Prosody::Context` names it.
enum TimerOperation {
    Schedule(TimerTime),
    Unschedule(TimerTime),
    ClearAndSchedule(TimerTime),
    ClearScheduled,
    Scheduled,
}

impl TimerOperation {
    fn parse(ruby: &Ruby, operation: Symbol, seconds: Option<u32>) -> Result<Self, Error> {
        let name = operation.name()?;
        let time = seconds.map(TimerTime::from_secs);
        let operation = match (&*name, time) {
            ("schedule", Some(time)) => Self::Schedule(time),
            ("unschedule", Some(time)) => Self::Unschedule(time),
            ("clear_and_schedule", Some(time)) => Self::ClearAndSchedule(time),
            ("clear_scheduled", None) => Self::ClearScheduled,
            ("scheduled", None) => Self::Scheduled,
            _ => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!(
                        "no timer operation :{name} with {}; expected :schedule, :unschedule or \
                         :clear_and_schedule with seconds, :clear_scheduled or :scheduled without",
                        if seconds.is_some() { "seconds" } else { "nil" }
                    ),
                ))
            }
        };
        Ok(operation)
    }

    async fn run(self, context: Context) -> PendingOutcome {
        let result = match self {
            Self::Schedule(time) => context.schedule(time).await,
            Self::Unschedule(time) => context.unschedule(time).await,
            Self::ClearAndSchedule(time) => context.clear_and_schedule(time).await,
            Self::ClearScheduled => context.clear_scheduled().await,
            Self::Scheduled => {
                return match context.scheduled().await {
                    Ok(times) => {
                        PendingOutcome::Times(times.into_iter().map(TimerTime::as_secs).collect())
                    }
                    Err(error) => PendingOutcome::Failed(error),
                }
            }
        };
        match result {
            Ok(()) => PendingOutcome::Done,
            Err(error) => PendingOutcome::Failed(error),
        }
    }
}

/// Defines `Prosody::Context` and its native methods.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_class("Context", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("id", method!(Event::id, 0))?;
    class.define_method("key", method!(Event::key, 0))?;
    class.define_method("attempt", method!(Event::attempt, 0))?;
    class.define_method("retries", method!(Event::retries, 0))?;
    class.define_method("cancelled?", method!(Event::is_cancelled, 0))?;
    class.define_method("traceparent", method!(Event::traceparent, 0))?;
    class.define_method("baggage", method!(Event::baggage, 0))?;
    class.define_method("complete", method!(Event::complete, 2))?;
    class.define_method("timer", method!(Event::timer, 2))?;
    class.define_method("state_op", method!(Event::state, 3))?;
    class.define_method("finished?", method!(Event::is_done, 0))?;
    class.define_method("answers_request?", method!(Event::answers_request, 0))?;
    class.define_method("respond", method!(Event::respond, 1))?;
    Ok(())
}
