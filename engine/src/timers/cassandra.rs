//! Timers persisted in Cassandra.
//!
//! A timer is three rows, all in the tables of migration `0002_timers.cql`:
//!
//! - `timer_keys` (partition `(segment, key)`): answers [`TimerStore::times`], and holds what
//!   the scheduling code carried on, when it had any (`trace`, migration 0005; `baggage`,
//!   migration 0006), for [`TimerStore::trace`];
//! - `timer_slabs` (partition `(segment, start, size)`): the timers of one slab, the span
//!   `[start, start + size)` of `slab_size` seconds holding the timer's time;
//! - `timer_slab_index` (partition `segment`): which slabs may hold timers, so
//!   [`TimerStore::load`] lists them with one query.
//!
//! # Ordering
//!
//! `insert` writes the key row, then the slab row, then the index row, one after the other and
//! not in a batch. An unlogged batch over three partitions is no more atomic, and the order is
//! what keeps the store consistent without one: a visible index row implies a visible slab row,
//! and a visible slab row implies a visible key row. `remove` deletes in the reverse order
//! (slab, then key). An operation that fails part-way returns an error; every statement is
//! idempotent, so the caller's retry completes it. A store skips rewriting an index row it
//! wrote itself while the slab ends well in the future (see `indexed.rs`): every write of an
//! index row is the same, and garbage collection only touches slabs that have ended.
//!
//! # Loading and index garbage collection
//!
//! `load(from, until)` lists the index rows with `start < until` (every slab size ever
//! configured, so changing `slab_size` never hides a timer), skips slabs that end at or before
//! `from`, and reads the rest, at most [`LOAD_PARALLELISM`] at once. Timers found in a slab of
//! another size than the configured one are checked against `timer_keys`, because `remove`
//! only deletes the configured size's slab row; stale ones are dropped and deleted.
//!
//! A slab that ended before now and turned out empty loses its index row. Because `insert`
//! writes the slab row before the index row, deleting the index row and then finding the slab
//! still empty proves no insert raced the deletion; if the slab is no longer empty, the index
//! row is written again. Index rows also expire on their own (see below), so slabs that `load`
//! never reads again do not accumulate forever.
//!
//! # Lifetimes
//!
//! A row lives `retention` past the instant it stands for: the timer's time for key and slab
//! rows, the slab's end for index rows (so an index row outlives every timer it points to).
//! Past Cassandra's limits (a 20-year TTL, or an expiry after 2038-01-19 on a node in the
//! default `CASSANDRA_4` storage mode, which rejects such writes) a row gets no TTL instead of
//! a shorter one: it is removed when its timer fires rather than lost before.
//!
//! # Failures
//!
//! Every operation first gets the shared session ([`SharedCassandra::get`]), so Cassandra
//! being down at start-up fails operations just as an outage later does. Each request times
//! out after a few seconds. Failures are [`Error::Cassandra`] naming the operation, segment
//! and key, and are transient.

mod indexed;
mod load;
mod slab;
mod statements;

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::TryStreamExt;
use scylla::value::MaybeUnset;
use tokio::sync::OnceCell;

use self::indexed::IndexedSlabs;
use self::slab::Slab;
use self::statements::Statements;
use super::{TimerSegment, TimerStore, TimerTime};
use crate::baggage::Baggage;
use crate::cassandra::{Cassandra, SharedCassandra};
use crate::error::{Error, Result};
use crate::trace::{Continuation, TraceParent};

/// How many slabs `load` reads at once.
const LOAD_PARALLELISM: usize = 16;

/// A [`TimerStore`] in Cassandra, shared by every process of a consumer group.
///
/// Timers are indexed by key and by time slab (`slab_size` seconds); `load` finds them through
/// a per-segment slab index, whatever slab size they were written with. Rows live `retention`
/// past their time (no TTL past Cassandra's limits) and empty past slabs leave the index as
/// `load` reads them.
///
/// Creating one does no I/O. Every operation gets the shared session first, so Cassandra being
/// down (at start-up or later) makes operations fail, with a transient [`Error::Cassandra`]
/// naming the operation, segment and key; each request times out after a few seconds.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::{Cassandra, CassandraTimerStore, Config, TimerSegment, TimerStore, TimerTime};
///
/// let config = Config::from_options_with_env([("cassandra_nodes", "127.0.0.1:9042")], |_| None)?;
/// let store = CassandraTimerStore::new(
///     Cassandra::shared(&config),
///     config.slab_size,
///     config.cassandra_retention,
/// );
///
/// async fn schedule(store: &CassandraTimerStore) -> prosody_engine::Result<()> {
///     let segment = TimerSegment::new("billing", "orders", 3);
///     store.insert(&segment, "customer-7", TimerTime::from_secs(1_900_000_000)).await?;
///     assert_eq!(store.times(&segment, "customer-7").await?, [TimerTime::from_secs(1_900_000_000)]);
///     Ok(())
/// }
/// # Ok::<(), prosody_engine::Error>(())
/// ```
pub struct CassandraTimerStore {
    cassandra: SharedCassandra,
    slab_size: i32,
    retention: Duration,
    statements: OnceCell<Statements>,
    indexed: IndexedSlabs,
}

impl CassandraTimerStore {
    /// A store writing slabs of `slab_size` (whole seconds, at least one) whose rows live
    /// `retention` past their time.
    pub fn new(cassandra: SharedCassandra, slab_size: Duration, retention: Duration) -> Self {
        Self {
            cassandra,
            slab_size: slab::size_secs(slab_size),
            retention,
            statements: OnceCell::new(),
            indexed: IndexedSlabs::default(),
        }
    }

    /// The session and the prepared statements, connecting and preparing on first use.
    async fn ready(&self) -> Result<(Cassandra, &Statements)> {
        let cassandra = self.cassandra.get().await?;
        let statements = self
            .statements
            .get_or_try_init(|| Statements::prepare(&cassandra))
            .await?;
        Ok((cassandra, statements))
    }

    async fn insert_timer(
        &self,
        segment: &TimerSegment,
        key: &str,
        time: TimerTime,
        trace: Continuation,
    ) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let session = cassandra.session();
        let fail = |e| failure("timer insert", format!("{}", At(segment, key, time)), e);
        let now = TimerTime::now();
        let secs = i64::from(time.as_secs());
        let row_ttl = slab::ttl(secs, now, self.retention);
        let slab = Slab::of(time, self.slab_size);
        let index_ttl = slab::ttl(slab.end(), now, self.retention);
        let id = segment.id();
        // Only a timer with a trace context or baggage writes those columns, and only the ones
        // it has (the other bound unset): writing a null would leave a tombstone.
        match trace {
            Continuation {
                parent: None,
                baggage: None,
            } => {
                let values = (id, key, secs, row_ttl);
                session
                    .execute_unpaged(&statements.insert_key, values)
                    .await
            }
            Continuation { parent, baggage } => {
                let parent = unset_if_none(parent.map(|parent| parent.to_string()));
                let baggage = unset_if_none(baggage.as_ref().map(Baggage::as_str));
                let values = (id, key, secs, parent, baggage, row_ttl);
                session
                    .execute_unpaged(&statements.insert_key_traced, values)
                    .await
            }
        }
        .map_err(fail)?;
        session
            .execute_unpaged(
                &statements.insert_slab,
                (id, slab.start, slab.size, key, secs, row_ttl),
            )
            .await
            .map_err(fail)?;
        let now = i64::from(now.as_secs());
        if self.indexed.contains(id, slab, now) {
            return Ok(());
        }
        session
            .execute_unpaged(
                &statements.insert_index,
                (id, slab.start, slab.size, index_ttl),
            )
            .await
            .map_err(fail)?;
        self.indexed.insert(id, slab, now);
        Ok(())
    }

    async fn remove_timer(&self, segment: &TimerSegment, key: &str, time: TimerTime) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let session = cassandra.session();
        let fail = |e| failure("timer remove", format!("{}", At(segment, key, time)), e);
        let secs = i64::from(time.as_secs());
        let slab = Slab::of(time, self.slab_size);
        let id = segment.id();
        session
            .execute_unpaged(
                &statements.delete_slab,
                (id, slab.start, slab.size, key, secs),
            )
            .await
            .map_err(fail)?;
        session
            .execute_unpaged(&statements.delete_key, (id, key, secs))
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn stored_trace(
        &self,
        segment: &TimerSegment,
        key: &str,
        time: TimerTime,
    ) -> Result<Continuation> {
        let (cassandra, statements) = self.ready().await?;
        let fail =
            |e: &dyn fmt::Display| failure("timer trace", format!("{}", At(segment, key, time)), e);
        let secs = i64::from(time.as_secs());
        let rows = cassandra
            .session()
            .execute_unpaged(&statements.select_trace, (segment.id(), key, secs))
            .await
            .map_err(|e| fail(&e))?
            .into_rows_result()
            .map_err(|e| fail(&e))?;
        let Some((trace, baggage)) = rows
            .maybe_first_row::<(Option<String>, Option<String>)>()
            .map_err(|e| fail(&e))?
        else {
            return Ok(Continuation::default());
        };
        Ok(Continuation {
            parent: trace.as_deref().and_then(TraceParent::parse),
            baggage: baggage.as_deref().and_then(Baggage::parse),
        })
    }

    async fn key_times(&self, segment: &TimerSegment, key: &str) -> Result<Vec<TimerTime>> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| {
            failure("timer times", format!("segment {segment}, key {key:?}"), e)
        };
        let rows = cassandra
            .session()
            .execute_iter(statements.select_times.clone(), (segment.id(), key))
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(i64,)>()
            .map_err(|e| fail(&e))?;
        let times: Vec<(i64,)> = rows.try_collect().await.map_err(|e| fail(&e))?;
        Ok(times.into_iter().filter_map(|(t,)| timer_time(t)).collect())
    }
}

impl fmt::Debug for CassandraTimerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraTimerStore")
            .field("cassandra", &self.cassandra)
            .field("slab_size", &self.slab_size)
            .field("retention", &self.retention)
            .field("prepared", &self.statements.initialized())
            .finish()
    }
}

impl TimerStore for CassandraTimerStore {
    fn insert<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.insert_timer(segment, key, time, Continuation::default()))
    }

    fn insert_traced<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
        trace: Continuation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.insert_timer(segment, key, time, trace))
    }

    fn trace<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<Continuation>> {
        Box::pin(self.stored_trace(segment, key, time))
    }

    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove_timer(segment, key, time))
    }

    fn times<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TimerTime>>> {
        Box::pin(self.key_times(segment, key))
    }

    fn load<'a>(
        &'a self,
        segment: &'a TimerSegment,
        from: TimerTime,
        until: TimerTime,
    ) -> BoxFuture<'a, Result<Vec<(String, TimerTime)>>> {
        Box::pin(self.load_due(segment, from, until))
    }
}

/// Names a timer in error messages.
struct At<'a>(&'a TimerSegment, &'a str, TimerTime);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {}, key {:?}, time {}", self.0, self.1, self.2)
    }
}

/// A driver error during `operation` on `what`.
fn failure(operation: &'static str, what: String, error: impl fmt::Display) -> Error {
    Error::Cassandra {
        operation,
        reason: format!("{what}: {error}"),
    }
}

/// A stored `time` column as a [`TimerTime`]; the store never writes one out of range, so
/// one that is (written by something else) is skipped rather than failing every load.
fn timer_time(secs: i64) -> Option<TimerTime> {
    match u32::try_from(secs) {
        Ok(secs) => Some(TimerTime::from_secs(secs)),
        Err(_) => {
            tracing::warn!(secs, "skipping a timer row whose time is out of range");
            None
        }
    }
}

/// `value`, or unset (leaving the column as it is, with no tombstone) when there is none.
fn unset_if_none<T>(value: Option<T>) -> MaybeUnset<T> {
    value.map_or(MaybeUnset::Unset, MaybeUnset::Set)
}
