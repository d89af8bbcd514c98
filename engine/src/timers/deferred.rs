//! The view a partition's timers have of its deferred ones.
//!
//! A timer that failed (or came due while its key was deferred) leaves the timer store and
//! waits in its key's deferred backlog, which the consumer owns. It is still one of the key's
//! scheduled timers, so the context's timer methods reach it through this trait: `scheduled`
//! lists it, and `unschedule` and the clearing methods remove it.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::TimerTime;
use crate::error::Result;

/// A partition's deferred timers, as its handlers' timer operations see them.
pub(crate) trait DeferredTimers: Send + Sync + 'static {
    /// `key`'s deferred timers, ascending; the one being retried now is left out, as a firing
    /// timer is.
    fn times(&self, key: &str) -> Vec<TimerTime>;

    /// Removes `key`'s deferred timer at `time` for good, so it never runs. Removing one that
    /// is not deferred succeeds. An error means the store could not answer and is transient.
    fn remove<'a>(&'a self, key: &'a Arc<str>, time: TimerTime) -> BoxFuture<'a, Result<()>>;
}
