//! Where timers persist: the [`TimerStore`] trait and the partition a timer belongs to.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::TimerTime;
use crate::error::Result;
use crate::trace::Continuation;

/// The timers of one consumer group on one topic partition.
///
/// Timers belong to the partition of their key, so only the consumer that owns the partition
/// loads and fires them, and they move with the partition on a rebalance.
///
/// ```
/// let segment = prosody_engine::TimerSegment::new("billing", "orders", 3);
/// assert_eq!(segment.id(), "billing/orders/3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimerSegment {
    group: Arc<str>,
    topic: Arc<str>,
    partition: i32,
    id: Arc<str>,
}

impl TimerSegment {
    /// The segment of `group` on `topic`/`partition`.
    pub fn new(group: &str, topic: &str, partition: i32) -> Self {
        Self {
            group: group.into(),
            topic: topic.into(),
            partition,
            id: format!("{group}/{topic}/{partition}").into(),
        }
    }

    /// `group/topic/partition`: the segment's identity in a store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The consumer group, shared rather than copied.
    pub(crate) fn shared_group(&self) -> &Arc<str> {
        &self.group
    }

    /// The topic, shared rather than copied.
    pub(crate) fn shared_topic(&self) -> &Arc<str> {
        &self.topic
    }
}

impl fmt::Display for TimerSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// Persistent timers, indexed two ways: by key (for `scheduled` and clearing) and by time (for
/// loading what is about to come due). A timer is identified by (segment, key, time); storing
/// it twice keeps one.
///
/// Implemented in memory by [`MemoryTimerStore`](super::MemoryTimerStore) (mock mode) and in
/// Cassandra for production. An error means the store could not answer; callers surface it as
/// a transient failure, so the work is retried and nothing is dropped.
pub trait TimerStore: Send + Sync + 'static {
    /// Stores a timer. Idempotent.
    fn insert<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>>;

    /// Stores a timer with what the code that scheduled it carries on (its trace context and
    /// baggage), so the span of its firing can link back to that code and its handler gets the
    /// baggage. A store that keeps neither stores the timer alone, which is the default.
    fn insert_traced<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
        trace: Continuation,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = trace;
        self.insert(segment, key, time)
    }

    /// The trace context and baggage stored with a timer; empty if the store kept none, which
    /// is the default.
    fn trace<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<Continuation>> {
        let _ = (segment, key, time);
        Box::pin(async { Ok(Continuation::default()) })
    }

    /// Deletes a timer. Deleting one that is not stored succeeds.
    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>>;

    /// Every time stored for `key`, ascending.
    fn times<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TimerTime>>>;

    /// Every timer with `from <= time < until`, in any order.
    fn load<'a>(
        &'a self,
        segment: &'a TimerSegment,
        from: TimerTime,
        until: TimerTime,
    ) -> BoxFuture<'a, Result<Vec<(String, TimerTime)>>>;
}
