//! Deferred retry: per-key backlogs that let a partition move past a key that keeps failing.
//!
//! When the handler stack marks a failure as deferred
//! ([`HandlerError::is_deferred`](crate::error::HandlerError::is_deferred)), the event goes
//! into its key's backlog, in the store first and then in memory: a message by its offset,
//! which then commits; an application timer by its time, whose timer-store row is then
//! deleted so it does not fire again on its own. Later messages of that key, and its timers
//! that come due, join the backlog without running. A retry comes due after `defer_base`,
//! doubling up to `defer_max_delay`; the partition task then queues it behind the key like any
//! event. The retry runs the head of the backlog again: a message read back from Kafka by
//! offset, or a timer with its original time. On success the next entry comes due at once, and
//! when the backlog empties the key runs normally again. An offset Kafka no longer has, a
//! record that cannot be decoded, or a permanent failure moves on, logged.
//!
//! # Messages and timers of one key
//!
//! A key has one backlog holding both, in the order they were deferred, and one retry
//! schedule: only its head is ever retried, so nothing of the key overtakes anything deferred
//! before it, and since a retry waits for nothing but its own time, nothing deadlocks. The
//! store keeps that order across restarts by giving each timer the key's highest deferred
//! offset when it joined ([`DeferredTimer::after_offset`]): a timer runs after that offset and
//! before any later one.
//!
//! # The context's timer methods on a deferred key
//!
//! Deferred timers are still the key's scheduled timers: `scheduled` lists them with the stored
//! ones, `unschedule` removes them (from the store, then memory), and `clear_scheduled` and
//! `clear_and_schedule` remove them all; a backlog left empty is dropped with its retry. The
//! timer being retried is left out, as a firing timer is. `schedule` stores a timer normally; if
//! it comes due while the key is still deferred it joins the backlog, behind everything there,
//! so it cannot overtake them (scheduling a time that is already deferred adds nothing).
//!
//! A partition's backlogs are read from the store once, when it is assigned, so whether a key
//! is deferred is a memory lookup. Writes go through to the store before anything commits (or
//! before a timer's row is deleted), so a restart or rebalance loses nothing: the next owner
//! reads the backlogs and carries on. Its first fetch starts at the last commit, which can
//! trail those backlogs (a handover's final commit may land late): a redelivered message that
//! its key's backlog holds, or has handled, completes without running again.
//!
//! [`DeferredTimer::after_offset`]: crate::defer::DeferredTimer::after_offset

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::defer::DeferStore;
use crate::kafka::loader::{LoadError, LoadedRecord, MessageLoader};
use crate::rate_limit::RateLimit;
use crate::timers::TimerSegment;

/// How long a failed store write waits before it is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How long one store request may take. Without a bound, a request to a Cassandra that stopped
/// answering (rather than refusing) would hang the key, and the partition's drain with it.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What deferral needs, per consumer.
pub(crate) struct Deferral {
    pub(crate) store: Arc<dyn DeferStore>,
    /// Shared with message collections' reloads (see `reload.rs`).
    pub(crate) loader: Arc<MessageLoader>,
    pub(crate) base: Duration,
    pub(crate) max_delay: Duration,
}

impl Deferral {
    /// The delay before retry number `retries` (1 for the first).
    pub(crate) fn delay(&self, retries: u32) -> Duration {
        let doublings = retries.saturating_sub(1).min(32);
        self.base
            .checked_mul(1_u32 << doublings.min(31))
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Reads the record at `offset` back from Kafka.
    pub(crate) async fn load(
        &self,
        segment: &TimerSegment,
        offset: i64,
    ) -> Result<Arc<LoadedRecord>, LoadError> {
        self.loader
            .load(segment.topic(), segment.partition(), offset)
            .await
    }

    /// Runs a store write until it succeeds; `false` if `stop` fired first.
    pub(crate) async fn write<F, Fut>(&self, stop: &CancellationToken, what: &str, write: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = crate::error::Result<()>>,
    {
        loop {
            let error = match tokio::time::timeout(STORE_TIMEOUT, write()).await {
                Ok(Ok(())) => return true,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {STORE_TIMEOUT:?}"),
            };
            match WARNINGS.admit() {
                Some(suppressed) => tracing::warn!(
                    %error,
                    suppressed,
                    "could not {what} in the deferral store; retrying every {STORE_RETRY:?}, and \
                     warning again at most every {WARN_EVERY:?} (`suppressed` counts the rest)"
                ),
                None => tracing::debug!(%error, "could not {what} in the deferral store; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(STORE_RETRY) => {}
                () = stop.cancelled() => return false,
            }
        }
    }
}

/// While the store is away every deferred key retries its write each [`STORE_RETRY`]: one
/// WARN per [`WARN_EVERY`] for the whole process says so, with a count of the rest, instead of
/// one per key per second.
static WARNINGS: RateLimit = RateLimit::new(WARN_EVERY);
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Milliseconds since the epoch, for the store's retry times.
pub(crate) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The epoch time `delay` from now.
pub(crate) fn epoch_ms_after(delay: Duration) -> i64 {
    epoch_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}
