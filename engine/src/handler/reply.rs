//! How a request's handler leaves its answer (see [`crate::request`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Context;

/// One request event's answer, shared by its attempts: the value the handler gave, or why it
/// could not be sent. The respond layer reads it once the event's outcome is final.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    value: Mutex<Option<Result<serde_json::Value, String>>>,
    duplicate: AtomicBool,
}

impl ReplySlot {
    /// The answer given, if any.
    pub(crate) fn take(&self) -> Option<Result<serde_json::Value, String>> {
        self.value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether deduplication skipped the event.
    pub(crate) fn was_duplicate(&self) -> bool {
        self.duplicate.load(Ordering::Relaxed)
    }

    fn set(&self, value: Result<serde_json::Value, String>) {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }
}

impl Context {
    /// Whether the event is a request this consumer answers: then [`Context::respond`] sets
    /// the answer.
    pub fn answers_request(&self) -> bool {
        self.reply.is_some()
    }

    /// Sets the answer to the request being handled: `value` is sent to the requester if this
    /// attempt is the event's last (it succeeds, or fails for good). A later call replaces an
    /// earlier one. Does nothing when the event is no request ([`Context::answers_request`]).
    ///
    /// ```
    /// let context = prosody_engine::Context::detached("key-1");
    /// context.respond(serde_json::json!({"status": "shipped"}));
    /// assert!(!context.answers_request());
    /// ```
    pub fn respond(&self, value: serde_json::Value) {
        if let Some(slot) = &self.reply {
            slot.set(Ok(value));
        }
    }

    /// Answers the request being handled with a failure saying `reason`, whatever the attempt's
    /// outcome; for a value that could not be encoded.
    pub fn respond_unencodable(&self, reason: impl Into<String>) {
        if let Some(slot) = &self.reply {
            slot.set(Err(reason.into()));
        }
    }

    /// The same context, answering through `slot`.
    pub(crate) fn answering(mut self, slot: Arc<ReplySlot>) -> Self {
        self.reply = Some(slot);
        self
    }

    /// Notes that deduplication skipped this event, so its answer says so.
    pub(crate) fn note_duplicate(&self) {
        if let Some(slot) = &self.reply {
            slot.duplicate.store(true, Ordering::Relaxed);
        }
    }
}
