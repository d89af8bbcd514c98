//! The CQL statements of [`super::CassandraDeferStore`], prepared once per store.

use scylla::statement::prepared::PreparedStatement;

use super::LOAD_PAGE_SIZE;
use crate::cassandra::Cassandra;
use crate::error::{Error, Result};

/// The prepared statements, each marked idempotent so the driver may retry it elsewhere.
pub(super) struct Statements {
    /// `(segment, key, offset, ttl)`.
    pub(super) append: PreparedStatement,
    /// `(segment, key, retries, next_retry, ttl)`.
    pub(super) reschedule: PreparedStatement,
    /// `(segment, key, offset)`.
    pub(super) delete_offset: PreparedStatement,
    /// `(segment, key)`.
    pub(super) delete_key: PreparedStatement,
    /// `(segment, key)` → at most one `offset`.
    pub(super) probe_key: PreparedStatement,
    /// `(segment)` → `(key, offset)`, paged.
    pub(super) load_offsets: PreparedStatement,
    /// `(segment)` → `(key, retries, next_retry)`, paged.
    pub(super) load_keys: PreparedStatement,
    /// `(segment, key, time, after_offset, trace, baggage, ttl)`; a missing trace or baggage
    /// is bound unset, which writes nothing (a null would leave a tombstone).
    pub(super) append_timer: PreparedStatement,
    /// `(segment, key, time)`.
    pub(super) delete_timer: PreparedStatement,
    /// `(segment, key)` → at most one `time`.
    pub(super) probe_timers: PreparedStatement,
    /// `(segment)` → `(key, time, after_offset, trace, baggage)`, paged.
    pub(super) load_timers: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(cassandra: &Cassandra) -> Result<Self> {
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
            append_timer: prepare(format!(
                "INSERT INTO {ks}.deferred_timers \
                 (segment, key, time, after_offset, trace, baggage) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
            ))
            .await?,
            delete_timer: prepare(format!(
                "DELETE FROM {ks}.deferred_timers WHERE segment = ? AND key = ? AND time = ?"
            ))
            .await?,
            probe_timers: prepare(format!(
                "SELECT time FROM {ks}.deferred_timers WHERE segment = ? AND key = ? LIMIT 1"
            ))
            .await?,
            load_timers: prepare(format!(
                "SELECT key, time, after_offset, trace, baggage FROM {ks}.deferred_timers \
                 WHERE segment = ?"
            ))
            .await?,
        })
    }
}
