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
//! the main thread. The waiting side therefore cannot be woken by it directly; it re-checks
//! the flag every [`INTERRUPT_CHECK`].

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use magnus::{Error, Ruby};

/// How often a wait re-checks whether Ruby asked it to stop.
const INTERRUPT_CHECK: Duration = Duration::from_millis(20);

/// What `run` works with: the caller's poll function, the interrupt flag `unblock` sets, and
/// what came of it.
struct Run<'a, T, F> {
    poll: &'a mut F,
    interrupted: &'a AtomicBool,
    result: Option<T>,
    panicked: bool,
}

/// Calls `poll` with the GVL released until it returns a value, running Ruby's interrupts as
/// they come (see the module docs). `poll` waits at most the duration it is given and returns
/// `None` if nothing arrived meanwhile; it runs without the GVL, so it must not touch Ruby.
///
/// # Errors
///
/// The exception an interrupt raised (`Interrupt`, `Timeout::Error`, `Thread#raise`'s), or
/// `Prosody::Error` if `poll` panicked.
pub(crate) fn wait<T, F>(ruby: &Ruby, mut poll: F) -> Result<T, Error>
where
    F: FnMut(Duration) -> Option<T>,
{
    loop {
        let interrupted = AtomicBool::new(false);
        let mut run_state = Run {
            poll: &mut poll,
            interrupted: &interrupted,
            result: None,
            panicked: false,
        };
        let flags = rb_sys::RB_NOGVL_INTR_FAIL | rb_sys::RB_NOGVL_UBF_ASYNC_SAFE;
        // SAFETY: both pointers refer to locals that outlive the call. `run` runs on this
        // thread and alone touches `run_state`; `unblock` (possibly in a signal handler) only
        // stores to `interrupted`, which `run` reads through a shared reference. Neither calls
        // the Ruby API.
        unsafe {
            rb_sys::rb_nogvl(
                Some(run::<T, F>),
                (&mut run_state as *mut Run<'_, T, F>).cast::<c_void>(),
                Some(unblock),
                (&interrupted as *const AtomicBool)
                    .cast_mut()
                    .cast::<c_void>(),
                flags as i32,
            );
        }
        if let Some(value) = run_state.result {
            return Ok(value);
        }
        if run_state.panicked {
            return Err(crate::helpers::errors::prosody_error(
                ruby,
                "waiting for the engine failed unexpectedly (a bug in prosody's extension)",
            ));
        }
        ruby.thread_check_ints()?;
    }
}

unsafe extern "C" fn run<T, F>(data: *mut c_void) -> *mut c_void
where
    F: FnMut(Duration) -> Option<T>,
{
    // SAFETY: `data` is the `Run` that `wait` passed in and keeps alive, used by no one else.
    let state = unsafe { &mut *data.cast::<Run<'_, T, F>>() };
    // A panic must not unwind into Ruby's C frames.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        while !state.interrupted.load(Ordering::Acquire) {
            if let Some(value) = (state.poll)(INTERRUPT_CHECK) {
                return Some(value);
            }
        }
        None
    }));
    match outcome {
        Ok(value) => state.result = value,
        Err(_) => state.panicked = true,
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn unblock(data: *mut c_void) {
    // SAFETY: `data` is the live flag `wait` passed in; storing to an atomic is
    // async-signal-safe.
    let interrupted = unsafe { &*data.cast::<AtomicBool>() };
    interrupted.store(true, Ordering::Release);
}
