//! What a handler may ask of the engine while it runs.

use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Per-event context: the event's key and its cancellation signal.
///
/// Cancellation fires when the event's partition is revoked or the consumer shuts down and the
/// grace period is nearly over. A handler should then stop promptly; its result still counts.
///
/// ```
/// let context = prosody_engine::Context::detached("key-1");
/// assert!(!context.should_cancel());
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    key: Arc<str>,
    cancel: CancellationToken,
}

impl Context {
    pub(crate) fn new(key: Arc<str>, cancel: CancellationToken) -> Self {
        Self { key, cancel }
    }

    /// A context that is never cancelled, for tests and tools.
    pub fn detached(key: &str) -> Self {
        Self::new(key.into(), CancellationToken::new())
    }

    /// The key of the event being handled.
    pub fn key(&self) -> &str {
        &self.key
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
        Self::new(Arc::clone(&self.key), self.cancel.child_token())
    }

    /// Asks the handler holding this context, and every child of it, to stop. Only call it on
    /// a context made by [`Context::child`]: the parent may be shared by a whole partition.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }
}
