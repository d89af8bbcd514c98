//! The timer store's prepared statements, prepared once per store on first use.
//!
//! Every statement carries the session's request timeout (see [`Cassandra::prepare`]), so a
//! node that stops answering fails the operation in seconds, and is marked idempotent (each is
//! an upsert, a delete or a read), so the driver may retry it on another node.

use scylla::statement::prepared::PreparedStatement;

use crate::cassandra::Cassandra;
use crate::error::{Error, Result};

/// Prepared statements on the timer tables of one keyspace.
#[derive(Debug)]
pub(super) struct Statements {
    /// `(segment, key, time, ttl)`.
    pub(super) insert_key: PreparedStatement,
    /// `(segment, key, time, trace, baggage, ttl)`: a timer scheduled inside an exported span
    /// or with baggage; the one of the two it lacks is bound unset, which writes nothing.
    pub(super) insert_key_traced: PreparedStatement,
    /// `(segment, key, time)` → at most one `(trace, baggage)`.
    pub(super) select_trace: PreparedStatement,
    /// `(segment, start, size, key, time, ttl)`.
    pub(super) insert_slab: PreparedStatement,
    /// `(segment, start, size, ttl)`.
    pub(super) insert_index: PreparedStatement,
    /// `(segment, key, time)`.
    pub(super) delete_key: PreparedStatement,
    /// `(segment, start, size, key, time)`.
    pub(super) delete_slab: PreparedStatement,
    /// `(segment, start, size)`.
    pub(super) delete_index: PreparedStatement,
    /// `(segment, key)` → `time`, ascending.
    pub(super) select_times: PreparedStatement,
    /// `(segment, start_before)` → `(start, size)`.
    pub(super) select_index: PreparedStatement,
    /// `(segment, start, size)` → `(key, time)`.
    pub(super) select_slab: PreparedStatement,
    /// `(segment, start, size)` → at most one `key`.
    pub(super) probe_slab: PreparedStatement,
}

impl Statements {
    /// Prepares every statement against `cassandra`'s keyspace.
    pub(super) async fn prepare(cassandra: &Cassandra) -> Result<Self> {
        let ks = cassandra.keyspace();
        let prepare = |cql: String| async move {
            let mut statement = cassandra.prepare(&cql).await?;
            statement.set_is_idempotent(true);
            Ok::<_, Error>(statement)
        };
        Ok(Self {
            insert_key: prepare(format!(
                "INSERT INTO {ks}.timer_keys (segment, key, time) VALUES (?, ?, ?) USING TTL ?"
            ))
            .await?,
            insert_key_traced: prepare(format!(
                "INSERT INTO {ks}.timer_keys (segment, key, time, trace, baggage) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ?"
            ))
            .await?,
            select_trace: prepare(format!(
                "SELECT trace, baggage FROM {ks}.timer_keys \
                 WHERE segment = ? AND key = ? AND time = ?"
            ))
            .await?,
            insert_slab: prepare(format!(
                "INSERT INTO {ks}.timer_slabs (segment, start, size, key, time) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ?"
            ))
            .await?,
            insert_index: prepare(format!(
                "INSERT INTO {ks}.timer_slab_index (segment, start, size) VALUES (?, ?, ?) \
                 USING TTL ?"
            ))
            .await?,
            delete_key: prepare(format!(
                "DELETE FROM {ks}.timer_keys WHERE segment = ? AND key = ? AND time = ?"
            ))
            .await?,
            delete_slab: prepare(format!(
                "DELETE FROM {ks}.timer_slabs \
                 WHERE segment = ? AND start = ? AND size = ? AND key = ? AND time = ?"
            ))
            .await?,
            delete_index: prepare(format!(
                "DELETE FROM {ks}.timer_slab_index WHERE segment = ? AND start = ? AND size = ?"
            ))
            .await?,
            select_times: prepare(format!(
                "SELECT time FROM {ks}.timer_keys WHERE segment = ? AND key = ?"
            ))
            .await?,
            select_index: prepare(format!(
                "SELECT start, size FROM {ks}.timer_slab_index WHERE segment = ? AND start < ?"
            ))
            .await?,
            select_slab: prepare(format!(
                "SELECT key, time FROM {ks}.timer_slabs \
                 WHERE segment = ? AND start = ? AND size = ?"
            ))
            .await?,
            probe_slab: prepare(format!(
                "SELECT key FROM {ks}.timer_slabs \
                 WHERE segment = ? AND start = ? AND size = ? LIMIT 1"
            ))
            .await?,
        })
    }
}
