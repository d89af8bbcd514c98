//! Engine futures that a Ruby thread or fiber waits on.
//!
//! [`spawn`] starts a future on the runtime and returns its [`Task`], a one-shot cell the future
//! fills when it finishes. A Ruby caller waits for it in one of two ways:
//!
//! - on a plain thread, [`Task::wait`] blocks without the GVL (through [`nogvl`]), so other
//!   Ruby threads keep running;
//! - in a fiber under a scheduler, [`Task::fileno`] gives a pipe that becomes readable once the
//!   task finished; the fiber waits on it with `IO#wait_readable`, so the reactor keeps running
//!   other fibers. The pipe exists only for such a waiter, so a thread's wait costs no
//!   descriptors.
//!
//! The state sits behind one mutex, which orders the two sides: `finish` stores the value and
//! then looks for a pipe, `fileno` creates the pipe and the caller then checks
//! `is_finished`, so a fiber never sleeps on a pipe nobody will write. A future the runtime
//! drops before it finishes (the runtime stopped) still finishes its task, as abandoned, so no
//! waiter hangs.

use std::future::Future;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use magnus::{Error, Ruby};

use crate::helpers::errors::prosody_error;
use crate::helpers::nogvl;
use crate::helpers::runtime::runtime;
use crate::helpers::wake::WakePipe;

/// The result of a future running on the runtime, once it is there.
pub(crate) struct Task<T> {
    state: Mutex<State<T>>,
    finished: Condvar,
}

struct State<T> {
    slot: Slot<T>,
    pipe: Option<WakePipe>,
}

enum Slot<T> {
    Running,
    Finished(T),
    /// The runtime dropped the future before it finished.
    Abandoned,
    /// [`Task::take`] already returned the value.
    Taken,
}

/// Starts `future` on the runtime.
///
/// # Errors
///
/// `Prosody::Error` if the runtime cannot be started.
pub(crate) fn spawn<F>(ruby: &Ruby, future: F) -> Result<Arc<Task<F::Output>>, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = runtime().map_err(|message| prosody_error(ruby, message))?;
    let task = Arc::new(Task {
        state: Mutex::new(State {
            slot: Slot::Running,
            pipe: None,
        }),
        finished: Condvar::new(),
    });
    let finisher = Finisher {
        task: Arc::clone(&task),
        value: None,
    };
    runtime.spawn(async move { finisher.complete(future.await) });
    Ok(task)
}

/// Finishes its task when dropped: with the value if the future completed, else as abandoned.
struct Finisher<T> {
    task: Arc<Task<T>>,
    value: Option<T>,
}

impl<T> Finisher<T> {
    fn complete(mut self, value: T) {
        self.value = Some(value);
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        self.task.finish(self.value.take());
    }
}

impl<T> Task<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn finish(&self, value: Option<T>) {
        let mut state = self.lock();
        state.slot = value.map_or(Slot::Abandoned, Slot::Finished);
        if let Some(pipe) = &state.pipe {
            pipe.wake();
        }
        drop(state);
        self.finished.notify_all();
    }

    /// Whether the future has finished (or was abandoned).
    pub(crate) fn is_finished(&self) -> bool {
        !matches!(self.lock().slot, Slot::Running)
    }

    /// The descriptor that becomes readable once the task finished, created on first call.
    /// Check [`Task::is_finished`] after calling this and before waiting on it.
    ///
    /// # Errors
    ///
    /// `Prosody::Error` if the pipe cannot be created (out of descriptors).
    pub(crate) fn fileno(&self, ruby: &Ruby) -> Result<RawFd, Error> {
        let mut state = self.lock();
        if let Some(pipe) = &state.pipe {
            return Ok(pipe.read_fd());
        }
        let pipe = WakePipe::new()
            .map_err(|e| prosody_error(ruby, format!("could not create a wake-up pipe: {e}")))?;
        let fd = pipe.read_fd();
        state.pipe = Some(pipe);
        Ok(fd)
    }

    /// Waits for the task without the GVL; an interrupt that raises ends the wait with its
    /// exception while the future keeps running (see [`nogvl::wait`]).
    pub(crate) fn wait(&self, ruby: &Ruby) -> Result<(), Error> {
        if self.is_finished() {
            return Ok(());
        }
        nogvl::wait(ruby, |timeout| self.wait_timeout(timeout))
    }

    /// Blocks the calling thread for at most `timeout`; `Some` once the task finished.
    fn wait_timeout(&self, timeout: Duration) -> Option<()> {
        let state = self.lock();
        let (state, _) = self
            .finished
            .wait_timeout_while(state, timeout, |state| matches!(state.slot, Slot::Running))
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (!matches!(state.slot, Slot::Running)).then_some(())
    }

    /// Takes the finished value.
    ///
    /// # Errors
    ///
    /// `Prosody::Error` if the task is still running, was abandoned, or its value was taken.
    pub(crate) fn take(&self, ruby: &Ruby) -> Result<T, Error> {
        let mut state = self.lock();
        match std::mem::replace(&mut state.slot, Slot::Taken) {
            Slot::Finished(value) => Ok(value),
            Slot::Running => {
                state.slot = Slot::Running;
                Err(prosody_error(ruby, "the operation has not finished"))
            }
            Slot::Abandoned => {
                state.slot = Slot::Abandoned;
                Err(prosody_error(
                    ruby,
                    "the engine dropped the operation before it finished (its runtime stopped)",
                ))
            }
            Slot::Taken => Err(prosody_error(
                ruby,
                "the operation's result was already taken",
            )),
        }
    }
}
