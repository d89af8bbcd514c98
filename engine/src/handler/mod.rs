//! The trait user code implements to receive events.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::consumer::context::Context;
use crate::consumer::message::Message;
use crate::error::HandlerError;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// A timer firing for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The key the timer was scheduled for.
    pub key: String,
    /// When the timer was due.
    pub time: SystemTime,
}

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

    /// Handles a timer that came due. Does nothing unless overridden.
    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let _ = (context, timer);
        Box::pin(async { Ok(()) })
    }
}
