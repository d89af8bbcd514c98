//! The tokio runtime that runs the engine inside a Ruby process.
//!
//! One multi-threaded runtime serves every client. Runtime threads never call Ruby. After a
//! `fork` the child has no runtime threads, so the runtime is rebuilt on first use in the
//! child (the parent's copy is leaked: dropping it would try to join threads that do not
//! exist in this process).

use std::sync::Arc;

use prosody_engine::ProcessRuntime;
use tokio::runtime::Runtime;

static RUNTIME: ProcessRuntime = ProcessRuntime::new("prosody-runtime", 2);

/// The runtime for this process, created on first use (and again after a fork).
pub(crate) fn runtime() -> Result<Arc<Runtime>, String> {
    RUNTIME
        .get()
        .map_err(|error| format!("could not start the tokio runtime: {error}"))
}

/// Owns a value whose destructor must only run in the process that created it.
///
/// rdkafka clients join their background threads when dropped; after `fork` those threads do
/// not exist in the child, and joining them aborts the process. A child that garbage-collects
/// an object inherited from its parent therefore leaks the client instead of dropping it.
pub(crate) struct ProcessBound<T> {
    value: std::mem::ManuallyDrop<T>,
    pid: u32,
}

impl<T> ProcessBound<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: std::mem::ManuallyDrop::new(value),
            pid: std::process::id(),
        }
    }

    /// Takes the value out (only in the creating process; see `is_local`).
    pub(crate) fn into_inner(self) -> T {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `value` is moved out exactly once.
        unsafe { std::mem::ManuallyDrop::take(&mut this.value) }
    }

    /// Whether this process created the value.
    pub(crate) fn is_local(&self) -> bool {
        self.pid == std::process::id()
    }
}

impl<T> std::ops::Deref for ProcessBound<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for ProcessBound<T> {
    fn drop(&mut self) {
        if self.is_local() {
            // SAFETY: `value` is dropped exactly once, here, and never used afterwards.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.value) };
        }
    }
}
