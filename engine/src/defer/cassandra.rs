//! Deferred backlogs persisted in Cassandra, in the tables of migration `0003_defer.cql`.
//!
//! - `deferred_offsets` (partition `segment`, clustered by key then offset): one row per
//!   deferred offset;
//! - `deferred_keys` (partition `segment`, clustered by key): each key's retry record.
//!
//! # Ordering
//!
//! `append` writes only the offset row; `reschedule` writes only the retry record. `remove`
//! deletes the offset row, then reads whether the key has an offset left, and if not deletes
//! the retry record. Every statement is idempotent, so a caller that got an error repeats the
//! call. A failure between two steps leaves a retry record without offsets, which `load` skips,
//! or offsets without a retry record, which load as due at once; no offset is lost either way.
//!
//! # Loading
//!
//! `load` reads the segment's retry records, then its offsets, each with one query paged
//! [`LOAD_PAGE_SIZE`] rows at a time, and joins them by key. Offsets arrive in clustering order
//! (key, then offset), so each key's offsets are ascending without sorting.
//!
//! # Lifetimes
//!
//! Every row is written with a TTL of `retention` (`cassandra_retention`), capped where
//! Cassandra would reject it (see [`crate::cassandra::ttl_limit`]); `reschedule` renews the
//! retry record's. A deferred offset older than the topic's retention is gone from Kafka, so
//! its row has nothing left to retry.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::TryStreamExt;
use scylla::statement::prepared::PreparedStatement;
use tokio::sync::OnceCell;

use super::{Backlog, DeferStore};
use crate::cassandra::{Cassandra, SharedCassandra};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::timers::TimerSegment;

/// How many rows one page of `load` reads.
pub(crate) const LOAD_PAGE_SIZE: i32 = 1_000;

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

/// The prepared statements, each marked idempotent so the driver may retry it elsewhere.
struct Statements {
    /// `(segment, key, offset, ttl)`.
    append: PreparedStatement,
    /// `(segment, key, retries, next_retry, ttl)`.
    reschedule: PreparedStatement,
    /// `(segment, key, offset)`.
    delete_offset: PreparedStatement,
    /// `(segment, key)`.
    delete_key: PreparedStatement,
    /// `(segment, key)` → at most one `offset`.
    probe_key: PreparedStatement,
    /// `(segment)` → `(key, offset)`, paged.
    load_offsets: PreparedStatement,
    /// `(segment)` → `(key, retries, next_retry)`, paged.
    load_keys: PreparedStatement,
}

impl Statements {
    async fn prepare(cassandra: &Cassandra) -> Result<Self> {
        let ks = cassandra.keyspace();
        let prepare = |cql: String| async move {
            let mut statement = cassandra.prepare(&cql).await?;
            statement.set_is_idempotent(true);
            statement.set_page_size(LOAD_PAGE_SIZE);
            Ok::<_, Error>(statement)
        };
        Ok(Self {
            append: prepare(format!(
                "INSERT INTO {ks}.deferred_offsets (segment, key, offset) VALUES (?, ?, ?) \
                 USING TTL ?"
            ))
            .await?,
            reschedule: prepare(format!(
                "INSERT INTO {ks}.deferred_keys (segment, key, retries, next_retry) \
                 VALUES (?, ?, ?, ?) USING TTL ?"
            ))
            .await?,
            delete_offset: prepare(format!(
                "DELETE FROM {ks}.deferred_offsets WHERE segment = ? AND key = ? AND offset = ?"
            ))
            .await?,
            delete_key: prepare(format!(
                "DELETE FROM {ks}.deferred_keys WHERE segment = ? AND key = ?"
            ))
            .await?,
            probe_key: prepare(format!(
                "SELECT offset FROM {ks}.deferred_offsets WHERE segment = ? AND key = ? LIMIT 1"
            ))
            .await?,
            load_offsets: prepare(format!(
                "SELECT key, offset FROM {ks}.deferred_offsets WHERE segment = ?"
            ))
            .await?,
            load_keys: prepare(format!(
                "SELECT key, retries, next_retry FROM {ks}.deferred_keys WHERE segment = ?"
            ))
            .await?,
        })
    }
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
        let mut offsets = session
            .execute_iter(statements.load_offsets.clone(), (segment.id(),))
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(String, i64)>()
            .map_err(|e| fail(&e))?;
        let mut backlogs: Vec<Backlog> = Vec::new();
        while let Some((key, offset)) = offsets.try_next().await.map_err(|e| fail(&e))? {
            match backlogs.last_mut() {
                Some(last) if last.key == key => last.offsets.push(offset),
                _ => {
                    let (retries, next) = retry_records.get(&key).copied().unwrap_or_default();
                    backlogs.push(Backlog {
                        key,
                        offsets: vec![offset],
                        retries: retries.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
                        next_retry_ms: next.unwrap_or(0),
                    });
                }
            }
        }
        Ok(backlogs)
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
        let session = cassandra.session();
        let fail = |e: &dyn fmt::Display| failure("defer remove", segment, Some(key), e);
        session
            .execute_unpaged(&statements.delete_offset, (segment.id(), key, offset))
            .await
            .map_err(|e| fail(&e))?;
        let left = session
            .execute_unpaged(&statements.probe_key, (segment.id(), key))
            .await
            .map_err(|e| fail(&e))?
            .into_rows_result()
            .map_err(|e| fail(&e))?
            .rows_num();
        if left == 0 {
            session
                .execute_unpaged(&statements.delete_key, (segment.id(), key))
                .await
                .map_err(|e| fail(&e))?;
        }
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
