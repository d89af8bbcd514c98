//! `Prosody::Native::Bridge`: hands events from engine tasks to the Ruby processor thread.
//!
//! Engine tasks push events into a bounded queue and write to a wake-up pipe only when the
//! processor has declared itself idle, so a busy processor is never woken per event. The
//! processor drains batches with the GVL held (`poll`), turning each event into a
//! `Context` and a `Message` (or `Timer`) on its own thread; Ruby objects are never
//! created anywhere else.
//!
//! The idle flag and the queue form a Dekker pair: the processor sets `idle` and then looks at
//! the queue again; a producer pushes and then checks `idle`. Both sides use SeqCst, so an
//! event can never sit in the queue while the processor sleeps.
//!
//! Capacity: the engine runs at most `max_concurrency` handlers at once and each sends one
//! message event and at most one cancel event, so a queue of twice that never overflows. If it
//! somehow did, the push fails and the engine sees a transient error (retried, not lost).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use magnus::{function, method, prelude::*, DataTypeFunctions, Error, RArray, Ruby, TypedData};
use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Timer};
use tokio::sync::oneshot;

use crate::helpers::wake::WakePipe;
use crate::ruby_api::event::{Completions, Event, Outcome};
use crate::ruby_api::message::RubyMessage;
use crate::ruby_api::timer;

/// What engine tasks queue for the processor.
enum Queued {
    Handle {
        id: u64,
        context: Context,
        payload: Payload,
        done: oneshot::Sender<Outcome>,
    },
    Cancel(u64),
}

/// What a handler is called with.
enum Payload {
    Message(Message),
    Timer(Timer),
}

/// What the Ruby-visible bridge and the engine's `RubyHandler` share.
pub(crate) struct Shared {
    queue: Mutex<VecDeque<Queued>>,
    capacity: usize,
    pipe: WakePipe,
    idle: AtomicBool,
    closed: AtomicBool,
    next_id: AtomicU64,
    completions: Arc<Completions>,
}

impl Shared {
    fn push(&self, event: Queued) -> bool {
        {
            let mut queue = self
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if queue.len() >= self.capacity || self.closed.load(Ordering::SeqCst) {
                return false;
            }
            queue.push_back(event);
        }
        if self.idle.swap(false, Ordering::SeqCst) {
            self.pipe.wake();
        }
        true
    }

    fn pop_batch(&self, max: usize) -> Vec<Queued> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = queue.len().min(max);
        queue.drain(..count).collect()
    }
}

/// The Ruby-visible bridge.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::Bridge", free_immediately)]
pub(crate) struct Bridge {
    shared: Arc<Shared>,
    /// Whether the Ruby handler defines `on_excise`, so excise records reach it.
    excise: bool,
}

impl Bridge {
    fn new(ruby: &Ruby, max_concurrency: usize, excise: bool) -> Result<Self, Error> {
        let pipe = WakePipe::new().map_err(|e| {
            crate::helpers::errors::prosody_error(
                ruby,
                format!("could not create the wake-up pipe: {e}"),
            )
        })?;
        Ok(Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                capacity: max_concurrency.max(1) * 2 + 8,
                pipe,
                idle: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                completions: Arc::new(Completions::default()),
            }),
            excise,
        })
    }

    /// The engine handler that feeds this bridge, for `Native::Client#subscribe`.
    pub(crate) fn handler(&self) -> Arc<dyn Handler> {
        Arc::new(RubyHandler {
            shared: Arc::clone(&self.shared),
            excise: self.excise,
        })
    }

    fn fileno(&self) -> i32 {
        self.shared.pipe.read_fd()
    }

    /// Takes up to `max` queued items as a flat Array of pairs: `Context, Message` (a
    /// message to handle), `Context, Timer` (a timer that came due) or `id, :cancel`
    /// (cancel the running event with that id). An empty Array means "wait on `fileno`"; nil
    /// means the bridge is closed and drained.
    fn poll(ruby: &Ruby, rb_self: &Self, max: usize) -> Result<Option<RArray>, Error> {
        let shared = &rb_self.shared;
        let mut events = shared.pop_batch(max);
        if events.is_empty() {
            shared.idle.store(true, Ordering::SeqCst);
            events = shared.pop_batch(max);
            if events.is_empty() {
                if shared.closed.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                return Ok(Some(ruby.ary_new()));
            }
            shared.idle.store(false, Ordering::SeqCst);
        }
        let batch = ruby.ary_new_capa(events.len() * 2);
        for event in events {
            match event {
                Queued::Handle {
                    id,
                    context,
                    payload,
                    done,
                } => {
                    batch.push(Event::new(
                        id,
                        context,
                        done,
                        Arc::clone(&shared.completions),
                    ))?;
                    match payload {
                        Payload::Message(message) => batch.push(RubyMessage::new(message))?,
                        Payload::Timer(timer) => batch.push(timer::to_ruby(ruby, &timer)?)?,
                    }
                }
                Queued::Cancel(id) => {
                    batch.push(id)?;
                    batch.push(ruby.sym_new("cancel"))?;
                }
            }
        }
        Ok(Some(batch))
    }

    /// Sends the outcomes Ruby reported since the last flush.
    fn flush(&self) {
        self.shared.completions.flush();
    }

    /// Clears the wake-up pipe after the processor woke.
    fn drain_wakeups(&self) {
        self.shared.pipe.drain();
    }

    /// Stops accepting events and wakes the processor so it can finish.
    fn close(&self) {
        self.shared.completions.flush();
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.pipe.wake();
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }
}

struct RubyHandler {
    shared: Arc<Shared>,
    excise: bool,
}

impl Handler for RubyHandler {
    fn takes_excise(&self) -> bool {
        self.excise
    }

    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        Box::pin(dispatch(
            Arc::clone(&self.shared),
            context,
            Payload::Message(message),
        ))
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        Box::pin(dispatch(
            Arc::clone(&self.shared),
            context,
            Payload::Timer(timer),
        ))
    }
}

/// Queues an event for the processor and waits for its outcome, forwarding cancellation.
async fn dispatch(shared: Arc<Shared>, context: Context, payload: Payload) -> Outcome {
    let (done, outcome) = oneshot::channel();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    // Only the cancellation signal is needed once the context is queued, not a clone of it all.
    let cancelled = context.cancelled();
    if !shared.push(Queued::Handle {
        id,
        context,
        payload,
        done,
    }) {
        return Err(HandlerError::transient(
            "the Ruby processor is not accepting events",
        ));
    }
    let stopped =
        || HandlerError::transient("the Ruby processor stopped before the handler finished");
    tokio::pin!(outcome);
    tokio::select! {
        result = &mut outcome => result.unwrap_or_else(|_| Err(stopped())),
        () = cancelled => {
            shared.push(Queued::Cancel(id));
            outcome.await.unwrap_or_else(|_| Err(stopped()))
        }
    }
}

/// Defines `Prosody::Native::Bridge`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_class("Bridge", ruby.class_object())?;
    class.define_singleton_method("new", function!(Bridge::new, 2))?;
    class.define_method("fileno", method!(Bridge::fileno, 0))?;
    class.define_method("poll", method!(Bridge::poll, 1))?;
    class.define_method("drain_wakeups", method!(Bridge::drain_wakeups, 0))?;
    class.define_method("flush", method!(Bridge::flush, 0))?;
    class.define_method("close", method!(Bridge::close, 0))?;
    class.define_method("closed?", method!(Bridge::is_closed, 0))?;
    Ok(())
}
