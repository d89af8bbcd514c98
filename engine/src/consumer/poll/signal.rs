//! A wake-up flag for the poll thread.
//!
//! librdkafka's "queue became non-empty" callbacks, handler completions that free capacity, and
//! shutdown all call [`Signal::notify`]; the poll thread sleeps in [`Signal::wait`]. A notify
//! that lands before the wait is remembered, so no wake-up is lost.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Signal {
    pending: Mutex<bool>,
    condvar: Condvar,
}

impl Signal {
    pub(crate) fn notify(&self) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !*pending {
            *pending = true;
            self.condvar.notify_one();
        }
    }

    /// Waits until notified or `timeout` passes, then clears the flag.
    pub(crate) fn wait(&self, timeout: Duration) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut pending, _) = self
            .condvar
            .wait_timeout_while(pending, timeout, |pending| !*pending)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *pending = false;
    }
}
