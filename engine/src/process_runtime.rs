//! A tokio runtime that belongs to one process and is rebuilt after a `fork`.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::{Builder, Runtime};

/// A lazily built multi-threaded runtime per process, for `static`s.
///
/// A forked child has none of its parent's threads, so [`ProcessRuntime::get`] builds a new
/// runtime when called from another process than the one that built the current one. The
/// parent's copy is leaked, never dropped: dropping it would wait for threads that do not
/// exist in the child.
///
/// ```
/// use prosody_engine::ProcessRuntime;
///
/// static RUNTIME: ProcessRuntime = ProcessRuntime::new("example", 1);
/// let runtime = RUNTIME.get()?;
/// assert_eq!(runtime.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ProcessRuntime {
    name: &'static str,
    workers: usize,
    slot: Mutex<Option<(u32, Arc<Runtime>)>>,
}

impl ProcessRuntime {
    /// A runtime with `workers` threads named `name`, built on first use.
    pub const fn new(name: &'static str, workers: usize) -> Self {
        Self {
            name,
            workers,
            slot: Mutex::new(None),
        }
    }

    /// This process's runtime, built on first use here.
    ///
    /// # Errors
    ///
    /// When the runtime's threads cannot be started.
    pub fn get(&self) -> std::io::Result<Arc<Runtime>> {
        let pid = std::process::id();
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((owner, runtime)) = slot.as_ref() {
            if *owner == pid {
                return Ok(Arc::clone(runtime));
            }
        }
        if let Some((_, inherited)) = slot.take() {
            std::mem::forget(inherited);
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(self.workers.max(1))
            .thread_name(self.name)
            .enable_all()
            .build()
            .map(Arc::new)?;
        *slot = Some((pid, Arc::clone(&runtime)));
        Ok(runtime)
    }
}
