//! The [`DeferStore`] trait and what it loads, a key's [`Backlog`].

use futures::future::BoxFuture;

use crate::error::Result;
use crate::timers::{TimerSegment, TimerTime};
use crate::trace::Continuation;

/// An application timer waiting in a key's backlog.
///
/// A key's deferred messages and timers form one queue, in the order they were deferred. A
/// message's place is its offset; a timer's is just after `after_offset`, the highest offset
/// its key had deferred when the timer joined (-1 if none), and before any later offset. Timers
/// with the same `after_offset` run in time order.
///
/// The timer's row leaves the timer store when it is deferred, so the entry keeps what that
/// row kept besides the time: the trace context and baggage of the code that scheduled it,
/// which its retry continues as its first firing would have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredTimer {
    /// When the timer was due: the time its handler sees.
    pub time: TimerTime,
    /// The key's highest deferred offset when the timer was deferred, or -1.
    pub after_offset: i64,
    /// The scheduling code's trace context and baggage; empty when it had neither.
    pub trace: Continuation,
}

impl DeferredTimer {
    /// A timer due at `time`, placed after `after_offset`, carrying nothing on.
    pub fn new(time: TimerTime, after_offset: i64) -> Self {
        Self {
            time,
            after_offset,
            trace: Continuation::default(),
        }
    }

    /// The same timer, carrying `trace` on.
    #[must_use]
    pub fn with_trace(mut self, trace: Continuation) -> Self {
        self.trace = trace;
        self
    }
}

/// One deferred key of a segment, as [`DeferStore::load`] returns it.
///
/// ```
/// use prosody_engine::defer::{Backlog, DeferredTimer};
/// use prosody_engine::TimerTime;
///
/// let timer = DeferredTimer::new(TimerTime::from_secs(1_700_000_000), 12);
/// let backlog = Backlog {
///     key: "customer-7".into(),
///     offsets: vec![12, 40],
///     timers: vec![timer],
///     retries: 2,
///     next_retry_ms: 1_700_000_000_000,
/// };
/// assert_eq!(backlog.head(), Some(12));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    /// The message key.
    pub key: String,
    /// The key's deferred offsets, ascending and without duplicates.
    pub offsets: Vec<i64>,
    /// The key's deferred timers, by ascending time and without duplicate times. A loaded
    /// backlog has at least one offset or timer.
    pub timers: Vec<DeferredTimer>,
    /// How many times the head offset has been retried; 0 if never rescheduled.
    pub retries: u32,
    /// When the head offset is next retried, in milliseconds since the epoch; 0 (due at once)
    /// if never rescheduled.
    pub next_retry_ms: i64,
}

impl Backlog {
    /// The lowest deferred offset.
    pub fn head(&self) -> Option<i64> {
        self.offsets.first().copied()
    }
}

/// Persistent deferred-retry backlogs, per [`TimerSegment`] (group, topic, partition).
///
/// A key's backlog is a set of offsets and a set of [`DeferredTimer`]s, plus one retry record
/// (the head's retry count and next retry time), shared by the key's messages and timers.
/// Every write is idempotent, so a caller that gets an error retries the same call; errors are [`Error`](crate::Error)s that are transient ([`Error::is_transient`]).
///
/// Writes that are interrupted part-way can leave an offset or timer without a retry record (it
/// loads with 0 retries, due at once) or a retry record without offsets or timers (it is not
/// loaded); neither loses an offset or a timer.
///
/// Implemented by [`MemoryDeferStore`](super::MemoryDeferStore) for mock mode and
/// [`CassandraDeferStore`](super::CassandraDeferStore) otherwise.
///
/// ```
/// use prosody_engine::defer::{DeferStore, MemoryDeferStore};
/// use prosody_engine::TimerSegment;
///
/// # futures::executor::block_on(async {
/// let store = MemoryDeferStore::default();
/// let segment = TimerSegment::new("billing", "orders", 3);
/// store.append(&segment, "customer-7", 40).await?;
/// store.append(&segment, "customer-7", 12).await?;
/// store.reschedule(&segment, "customer-7", 1, 1_700_000_001_000).await?;
///
/// // A new owner of the partition reads the backlog back once.
/// let backlog = store.load(&segment).await?;
/// assert_eq!(backlog[0].offsets, [12, 40]);
/// assert_eq!((backlog[0].retries, backlog[0].next_retry_ms), (1, 1_700_000_001_000));
///
/// // Both offsets done: the key is no longer deferred.
/// store.remove(&segment, "customer-7", 12).await?;
/// store.remove(&segment, "customer-7", 40).await?;
/// assert!(store.load(&segment).await?.is_empty());
/// # Ok::<(), prosody_engine::Error>(()) }).unwrap();
/// ```
///
/// [`Error::is_transient`]: crate::Error::is_transient
pub trait DeferStore: Send + Sync + 'static {
    /// Every deferred key of `segment` that has at least one offset or timer, in key order,
    /// each with its offsets and timers ascending, its retry count and its next retry time.
    ///
    /// Read once, when the partition is assigned; implementations page through large
    /// segments rather than reading them in one response.
    fn load<'a>(&'a self, segment: &'a TimerSegment) -> BoxFuture<'a, Result<Vec<Backlog>>>;

    /// Adds `offset` to `key`'s backlog. Adding an offset already there changes nothing.
    fn append<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// Records that `key`'s head offset has been retried `retries` times and runs next at
    /// `next_retry_ms` (milliseconds since the epoch), replacing what was recorded.
    fn reschedule<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        retries: u32,
        next_retry_ms: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes `offset` from `key`'s backlog: it succeeded, failed permanently, or is gone from
    /// Kafka. Removing the key's last offset or timer removes the key, retry record included.
    /// Removing an offset that is not there succeeds.
    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// Adds `timer` to `key`'s backlog, with its trace context and baggage. Adding a time
    /// already there replaces its place and whichever of the trace context and baggage the
    /// new entry has (one it lacks is left as it was: a store writes no empty value).
    fn append_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        timer: DeferredTimer,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes the timer at `time` from `key`'s backlog: it succeeded, failed permanently or
    /// was unscheduled. Like [`DeferStore::remove`], removing the key's last offset or timer
    /// removes the key; removing a timer that is not there succeeds.
    fn remove_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>>;
}
