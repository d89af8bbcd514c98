//! Deferred backlogs persisted in Cassandra, in the tables of migrations `0003_defer.cql` and
//! `0004_deferred_timers.cql` (with the trace columns of `0008_deferred_timer_trace.cql`).
//!
//! - `deferred_offsets` (partition `segment`, clustered by key then offset): one row per
//!   deferred offset;
//! - `deferred_timers` (partition `segment`, clustered by key then time): one row per deferred
//!   application timer, with its place among the key's offsets (`after_offset`) and the
//!   `trace` and `baggage` of the code that scheduled it, when it had them;
//! - `deferred_keys` (partition `segment`, clustered by key): each key's retry record.
//!
//! # Ordering
//!
//! `append` and `append_timer` write only their row; `reschedule` writes only the retry record.
//! `remove` and `remove_timer` delete their row, then read whether the key has an offset or a
//! timer left, and if not delete the retry record. Every statement is idempotent, so a caller
//! that got an error repeats the call. A failure between two steps leaves a retry record
//! without offsets or timers, which `load` skips, or rows without a retry record, which load as
//! due at once; nothing is lost either way.
//!
//! # Loading
//!
//! `load` reads the segment's retry records, then its offsets, then its timers, each with one
//! query paged [`LOAD_PAGE_SIZE`] rows at a time, and joins them by key. Rows arrive in
//! clustering order (key, then offset or time), so each key's entries are ascending without
//! sorting.
//!
//! # Lifetimes
//!
//! Every row is written with a TTL of `retention` (`cassandra_retention`), capped where
//! Cassandra would reject it (see [`crate::cassandra::ttl_limit`]); `reschedule` renews the
//! retry record's. A deferred offset older than the topic's retention is gone from Kafka, so
//! its row has nothing left to retry.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::TryStreamExt;
use scylla::value::MaybeUnset;
use tokio::sync::OnceCell;

use super::{Backlog, DeferStore, DeferredTimer};
use crate::baggage::Baggage;
use crate::cassandra::{Cassandra, SharedCassandra};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::timers::{TimerSegment, TimerTime};
use crate::trace::{Continuation, TraceParent};

/// A `deferred_timers` row as `load` reads it: key, time, after_offset, trace, baggage.
type TimerRow = (String, i64, Option<i64>, Option<String>, Option<String>);

/// How many rows one page of `load` reads.
pub(crate) const LOAD_PAGE_SIZE: i32 = 1_000;

mod statements;

use statements::Statements;

/// A [`DeferStore`] in Cassandra, shared by every process of a consumer group.
///
/// Creating one does no I/O. Every operation gets the shared session first, so Cassandra being
/// down (at start-up or later) makes operations fail with a transient [`Error::Cassandra`]
/// naming the operation, segment and key; each request times out after a few seconds.
/// Statements are prepared once per store, run at `LOCAL_QUORUM` and are routed token-aware
/// (the session's execution profile).
///
/// ```
/// use prosody_engine::defer::CassandraDeferStore;
/// use prosody_engine::Config;
///
/// let config = Config::from_options_with_env([("cassandra_nodes", "127.0.0.1:9042")], |_| None)?;
/// // No I/O yet: the first operation connects.
/// let store = CassandraDeferStore::from_config(&config);
/// assert_eq!(store.retention(), config.cassandra_retention);
/// # Ok::<(), prosody_engine::Error>(())
/// ```
pub struct CassandraDeferStore {
    cassandra: SharedCassandra,
    retention: Duration,
    statements: OnceCell<Statements>,
}

impl CassandraDeferStore {
    /// A store on `cassandra` whose rows expire `retention` after they are written.
    pub fn new(cassandra: SharedCassandra, retention: Duration) -> Self {
        Self {
            cassandra,
            retention,
            statements: OnceCell::new(),
        }
    }

    /// A store on the process's session for `config`, with `cassandra_retention`.
    pub fn from_config(config: &Config) -> Self {
        Self::new(Cassandra::shared(config), config.cassandra_retention)
    }

    /// How long rows live after they are written.
    pub fn retention(&self) -> Duration {
        self.retention
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

    /// The TTL of a row written now: `retention`, capped where Cassandra would reject it.
    fn ttl(&self) -> i32 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let ttl = self
            .retention
            .as_secs()
            .min(crate::cassandra::ttl_limit(now))
            .max(1);
        i32::try_from(ttl).unwrap_or(i32::MAX)
    }

    async fn load_segment(&self, segment: &TimerSegment) -> Result<Vec<Backlog>> {
        let (cassandra, statements) = self.ready().await?;
        let session = cassandra.session();
        let fail = |e: &dyn fmt::Display| failure("defer load", segment, None, e);
        let retry_records: HashMap<String, (Option<i32>, Option<i64>)> = session
            .execute_iter(statements.load_keys.clone(), (segment.id(),))
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(String, Option<i32>, Option<i64>)>()
            .map_err(|e| fail(&e))?
            .map_ok(|(key, retries, next)| (key, (retries, next)))
            .try_collect()
            .await
            .map_err(|e| fail(&e))?;
        let mut backlogs: BTreeMap<String, Backlog> = BTreeMap::new();
        let new_backlog = |key: &String| {
            let (retries, next) = retry_records.get(key).copied().unwrap_or_default();
            Backlog {
                key: key.clone(),
                offsets: Vec::new(),
                timers: Vec::new(),
                retries: retries.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
                next_retry_ms: next.unwrap_or(0),
            }
        };
        let mut offsets = session
            .execute_iter(statements.load_offsets.clone(), (segment.id(),))
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(String, i64)>()
            .map_err(|e| fail(&e))?;
        while let Some((key, offset)) = offsets.try_next().await.map_err(|e| fail(&e))? {
            let backlog = backlogs.entry(key).or_insert_with_key(new_backlog);
            backlog.offsets.push(offset);
        }
        let mut timers = session
            .execute_iter(statements.load_timers.clone(), (segment.id(),))
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<TimerRow>()
            .map_err(|e| fail(&e))?;
        while let Some(row) = timers.try_next().await.map_err(|e| fail(&e))? {
            let (key, time, after, trace, baggage) = row;
            let Ok(time) = u32::try_from(time) else {
                continue;
            };
            let backlog = backlogs.entry(key).or_insert_with_key(new_backlog);
            let trace = Continuation {
                parent: trace.as_deref().and_then(TraceParent::parse),
                baggage: baggage.as_deref().and_then(Baggage::parse),
            };
            let timer = DeferredTimer::new(TimerTime::from_secs(time), after.unwrap_or(-1));
            backlog.timers.push(timer.with_trace(trace));
        }
        Ok(backlogs.into_values().collect())
    }

    async fn append_offset(&self, segment: &TimerSegment, key: &str, offset: i64) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        cassandra
            .session()
            .execute_unpaged(&statements.append, (segment.id(), key, offset, self.ttl()))
            .await
            .map_err(|e| failure("defer append", segment, Some(key), &e))?;
        Ok(())
    }

    async fn write_retry(
        &self,
        segment: &TimerSegment,
        key: &str,
        retries: u32,
        next_retry_ms: i64,
    ) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let retries = i32::try_from(retries).unwrap_or(i32::MAX);
        let values = (segment.id(), key, retries, next_retry_ms, self.ttl());
        cassandra
            .session()
            .execute_unpaged(&statements.reschedule, values)
            .await
            .map_err(|e| failure("defer reschedule", segment, Some(key), &e))?;
        Ok(())
    }

    async fn remove_offset(&self, segment: &TimerSegment, key: &str, offset: i64) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("defer remove", segment, Some(key), e);
        cassandra
            .session()
            .execute_unpaged(&statements.delete_offset, (segment.id(), key, offset))
            .await
            .map_err(|e| fail(&e))?;
        self.forget_if_empty(&cassandra, statements, segment, key)
            .await
            .map_err(|e| fail(&e))
    }

    async fn append_deferred_timer(
        &self,
        segment: &TimerSegment,
        key: &str,
        timer: DeferredTimer,
    ) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let Continuation { parent, baggage } = timer.trace;
        let values = (
            segment.id(),
            key,
            i64::from(timer.time.as_secs()),
            timer.after_offset,
            unset_if_none(parent.map(|parent| parent.to_string())),
            unset_if_none(baggage.as_ref().map(Baggage::as_str)),
            self.ttl(),
        );
        cassandra
            .session()
            .execute_unpaged(&statements.append_timer, values)
            .await
            .map_err(|e| failure("defer append timer", segment, Some(key), &e))?;
        Ok(())
    }

    async fn remove_deferred_timer(
        &self,
        segment: &TimerSegment,
        key: &str,
        time: TimerTime,
    ) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("defer remove timer", segment, Some(key), e);
        let values = (segment.id(), key, i64::from(time.as_secs()));
        cassandra
            .session()
            .execute_unpaged(&statements.delete_timer, values)
            .await
            .map_err(|e| fail(&e))?;
        self.forget_if_empty(&cassandra, statements, segment, key)
            .await
            .map_err(|e| fail(&e))
    }

    /// Deletes `key`'s retry record once it has neither offsets nor timers left.
    async fn forget_if_empty(
        &self,
        cassandra: &Cassandra,
        statements: &Statements,
        segment: &TimerSegment,
        key: &str,
    ) -> std::result::Result<(), String> {
        let session = cassandra.session();
        for probe in [&statements.probe_key, &statements.probe_timers] {
            let left = session
                .execute_unpaged(probe, (segment.id(), key))
                .await
                .map_err(|e| e.to_string())?
                .into_rows_result()
                .map_err(|e| e.to_string())?
                .rows_num();
            if left > 0 {
                return Ok(());
            }
        }
        session
            .execute_unpaged(&statements.delete_key, (segment.id(), key))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl fmt::Debug for CassandraDeferStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraDeferStore")
            .field("cassandra", &self.cassandra)
            .field("retention", &self.retention)
            .field("prepared", &self.statements.initialized())
            .finish()
    }
}

impl DeferStore for CassandraDeferStore {
    fn load<'a>(&'a self, segment: &'a TimerSegment) -> BoxFuture<'a, Result<Vec<Backlog>>> {
        Box::pin(self.load_segment(segment))
    }

    fn append<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.append_offset(segment, key, offset))
    }

    fn reschedule<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        retries: u32,
        next_retry_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_retry(segment, key, retries, next_retry_ms))
    }

    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        offset: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove_offset(segment, key, offset))
    }

    fn append_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        timer: DeferredTimer,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.append_deferred_timer(segment, key, timer))
    }

    fn remove_timer<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove_deferred_timer(segment, key, time))
    }
}

/// `value`, or unset (nothing written) when there is none.
fn unset_if_none<T>(value: Option<T>) -> MaybeUnset<T> {
    value.map_or(MaybeUnset::Unset, MaybeUnset::Set)
}

/// A driver error during `operation` on `segment` (and `key`).
fn failure(
    operation: &'static str,
    segment: &TimerSegment,
    key: Option<&str>,
    error: &dyn fmt::Display,
) -> Error {
    let at = match key {
        Some(key) => format!("segment {segment}, key {key:?}"),
        None => format!("segment {segment}"),
    };
    Error::Cassandra {
        operation,
        reason: format!("{at}: {error}"),
    }
}
