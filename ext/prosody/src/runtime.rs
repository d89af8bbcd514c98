//! The tokio runtime that runs the engine inside a Ruby process.
//!
//! One multi-threaded runtime serves every client. Runtime threads never call Ruby. After a
//! `fork` the child has no runtime threads, so the runtime is rebuilt on first use in the
//! child (the parent's copy is leaked: dropping it would try to join threads that do not
//! exist in this process).

use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Runtime};

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime for this process, created on first use (and again after a fork).
pub(crate) fn runtime() -> Result<Arc<Runtime>, String> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, runtime)) = slot.as_ref() {
        if *owner == pid {
            return Ok(Arc::clone(runtime));
        }
    }
    if let Some((_, inherited)) = slot.take() {
        std::mem::forget(inherited);
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("prosody-runtime")
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|error| format!("could not start the tokio runtime: {error}"))?;
    *slot = Some((pid, Arc::clone(&runtime)));
    Ok(runtime)
}
