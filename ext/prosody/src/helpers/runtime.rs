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

/// Owns a value whose destructor must only run in the process that created it, and never
/// inside Ruby's garbage collector.
///
/// rdkafka clients join their background threads when dropped; after `fork` those threads do
/// not exist in the child, and joining them aborts the process. A child that garbage-collects
/// an object inherited from its parent therefore leaks the client instead of dropping it.
///
/// In the creating process the value is dropped on a short-lived thread of its own. Ruby frees
/// these objects during garbage collection, holding its lock, and librdkafka's teardown waits
/// for its own threads without a limit: a slow teardown there would stop every Ruby thread.
pub(crate) struct ProcessBound<T: Send + 'static> {
    value: std::mem::ManuallyDrop<T>,
    pid: u32,
}

impl<T: Send + 'static> ProcessBound<T> {
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

impl<T: Send + 'static> std::ops::Deref for ProcessBound<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send + 'static> Drop for ProcessBound<T> {
    fn drop(&mut self) {
        if !self.is_local() {
            return;
        }
        // SAFETY: `value` is taken exactly once, here, and never used afterwards.
        let value = unsafe { std::mem::ManuallyDrop::take(&mut self.value) };
        // Should no thread start, `spawn` drops the closure, and the value with it, right here.
        let _ = std::thread::Builder::new()
            .name("prosody-release".into())
            .spawn(move || drop(value));
    }
}
