//! Waiting without the GVL.
//!
//! Every blocking wait the extension performs on a Ruby thread goes through [`wait`]: the GVL
//! is released so other Ruby threads run, and the wait stays interruptible (Ctrl-C,
//! `Thread#kill`, `Timeout`). It uses `rb_nogvl` with `RB_NOGVL_INTR_FAIL`, so an interrupt
//! never unwinds through Rust frames: the wait returns, and [`wait`] runs the interrupt with
//! the GVL held through `rb_thread_check_ints` (under `rb_protect`). An interrupt that raises
//! (a signal, `Thread#raise`, `Timeout`) becomes the caller's error; any other (the timer
//! interrupt that asks a thread to give up the GVL, a trap handler that returns) lets other
//! threads run, and the wait resumes. Returning early on those would report an operation as
//! done before it finished: a send would return before Kafka acknowledged it, and two sends in
//! a row from one thread could be written out of order.
//!
//! `RB_NOGVL_UBF_ASYNC_SAFE` is set because the unblocking function only stores to an atomic
//! (async-signal-safe), which also spares Ruby 3.1 from spawning a helper thread per call on
//! the main thread.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use magnus::{Error, Ruby};

/// How often a wait re-checks whether Ruby asked it to stop.
const INTERRUPT_CHECK: Duration = Duration::from_millis(20);

struct Wait<'a, T> {
    receiver: &'a Receiver<T>,
    interrupted: AtomicBool,
    disconnected: bool,
    result: Option<T>,
}

/// Waits for `receiver` with the GVL released, running Ruby's interrupts as they come (see the
/// module docs). `Ok(None)` means the sender went away without a value.
///
/// # Errors
///
/// The exception an interrupt raised (`Interrupt`, `Timeout::Error`, `Thread#raise`'s).
pub(crate) fn wait<T: Send>(ruby: &Ruby, receiver: &Receiver<T>) -> Result<Option<T>, Error> {
    loop {
        let (result, disconnected) = wait_once(receiver);
        if result.is_some() || disconnected {
            return Ok(result);
        }
        ruby.thread_check_ints()?;
    }
}

/// One `rb_nogvl` wait: the value, or why there is none (disconnected, else interrupted).
fn wait_once<T: Send>(receiver: &Receiver<T>) -> (Option<T>, bool) {
    let mut state = Wait {
        receiver,
        interrupted: AtomicBool::new(false),
        disconnected: false,
        result: None,
    };
    let data = (&mut state as *mut Wait<'_, T>).cast::<c_void>();
    let flags = rb_sys::RB_NOGVL_INTR_FAIL | rb_sys::RB_NOGVL_UBF_ASYNC_SAFE;
    // SAFETY: `data` points at `state`, which outlives the call; `run::<T>` and `unblock::<T>`
    // only touch `state` through atomics and the channel, both safe to use from the thread
    // that runs them, and neither calls the Ruby API.
    unsafe {
        rb_sys::rb_nogvl(Some(run::<T>), data, Some(unblock::<T>), data, flags as i32);
    }
    (state.result, state.disconnected)
}

unsafe extern "C" fn run<T: Send>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Wait` that `wait` passed in and keeps alive.
    let state = unsafe { &mut *data.cast::<Wait<'_, T>>() };
    let _ = catch_unwind(AssertUnwindSafe(|| loop {
        match state.receiver.recv_timeout(INTERRUPT_CHECK) {
            Ok(value) => {
                state.result = Some(value);
                return;
            }
            Err(RecvTimeoutError::Disconnected) => {
                state.disconnected = true;
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if state.interrupted.load(Ordering::Acquire) {
                    return;
                }
            }
        }
    }));
    std::ptr::null_mut()
}

unsafe extern "C" fn unblock<T: Send>(data: *mut c_void) {
    // SAFETY: `data` is the live `Wait`; storing to an atomic is async-signal-safe.
    let state = unsafe { &*data.cast::<Wait<'_, T>>() };
    state.interrupted.store(true, Ordering::Release);
}
