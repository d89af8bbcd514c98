//! The handler contract: the trait user code implements, and what it receives.
//!
//! Both the consumer (which calls handlers) and the middleware (which wraps them) import this
//! module, and neither imports the other: the consumer is handed an already built stack (see
//! [`crate::Consumer::subscribe`]). A [`Handler`] gets one [`Context`] per attempt at an event
//! and either a [`Message`] or a [`Timer`]; its [`HandlerFuture`] resolves to the outcome, whose
//! [`ErrorClass`](crate::ErrorClass) decides what happens next.

mod context;
mod message;
mod reload;
mod reply;
mod stateful;
mod timer;

use std::future::Future;
use std::pin::Pin;

pub use context::Context;
pub use message::Message;
pub(crate) use message::Metadata;
pub use reload::Reloader;
pub(crate) use reload::{KeyedPartition, Load, LoadFuture};
pub(crate) use reply::ReplySlot;
pub(crate) use stateful::Stateful;
pub use timer::Timer;

use crate::error::HandlerError;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// Receives messages (and timers) for one consumer.
///
/// Calls for the same key never overlap and arrive in offset order; calls for different keys
/// run concurrently, up to `max_concurrency` at once.
///
/// ```
/// use prosody_engine::{Context, Handler, HandlerFuture, Message};
///
/// struct Print;
/// impl Handler for Print {
///     fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
///         Box::pin(async move {
///             println!("{} => {}", message.key(), message.payload());
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one message.
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture;

    /// Whether this handler takes excise records (keyed records with no payload, tombstones).
    /// When it does, each reaches [`Handler::on_message`] in its key's order as a message whose
    /// [`is_excise`](Message::is_excise) is true, through the same retries and failure handling
    /// as any message. When it does not (the default), the consumer skips them and commits
    /// their offsets. Asked once, when the consumer subscribes.
    fn takes_excise(&self) -> bool {
        false
    }

    /// A hint that `message` was received and will reach [`Handler::on_message`] once its
    /// key's earlier events are done and a handler permit is free. A layer that looks
    /// something up for each message (the dedup store) may start that lookup now, so it
    /// overlaps the wait instead of holding a permit. Called on the consumer's task: it must
    /// not block, and it may be called for a message that never runs (its partition is
    /// revoked first). Wrappers pass it on; the default does nothing.
    fn prefetch(&self, message: &Message) {
        let _ = message;
    }

    /// Handles a timer that came due. Does nothing unless overridden.
    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let _ = (context, timer);
        Box::pin(async { Ok(()) })
    }
}
