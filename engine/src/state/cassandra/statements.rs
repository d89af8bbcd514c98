//! The CQL of [`super::CassandraStateStore`], prepared once per store (scans once per shape).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Mutex, PoisonError};

use scylla::statement::prepared::PreparedStatement;

use crate::cassandra::Cassandra;
use crate::error::{Error, Result};

/// Rows per page of a scan.
const PAGE_SIZE: i32 = 1_000;

/// Where the head row sits among a key's rows.
const HEAD: &str = "name = '' AND generation = 0 AND section = 0 AND item = 0x";

/// The statements every operation uses.
pub(super) struct Statements {
    /// `(grp, key)` → `(seq, epoch, markers, generations)`.
    pub(super) head: PreparedStatement,
    /// `(grp, key, name, generation, section, item)` → `data`.
    pub(super) get: PreparedStatement,
    /// `(grp, key, name, generation, section, item, data, ttl)`.
    pub(super) set: PreparedStatement,
    /// `(grp, key, name, generation, section, item)`.
    pub(super) delete: PreparedStatement,
    /// `(grp, key, seq, epoch, markers, generations, ttl)`, `IF NOT EXISTS`.
    pub(super) head_insert: PreparedStatement,
    /// `(ttl, seq, epoch, markers, generations, grp, key, expected seq, expected epoch)`.
    pub(super) head_update: PreparedStatement,
    /// `(grp, key, name, generation)`: a cleared generation's rows.
    pub(super) drop_generation: PreparedStatement,
    /// `(grp, name, identity)`, `IF NOT EXISTS`.
    pub(super) pin: PreparedStatement,
    /// `(grp, topic, partition)` → `epoch`.
    pub(super) owner: PreparedStatement,
    /// `(grp, topic, partition, epoch)`, `IF NOT EXISTS`.
    pub(super) owner_insert: PreparedStatement,
    /// `(epoch, grp, topic, partition, expected epoch)`.
    pub(super) owner_update: PreparedStatement,
}

/// A scan's shape: which bounds it has and its direction.
type Shape = (u8, u8, bool);

/// Scan statements, prepared on first use of each shape (at most 18).
#[derive(Default)]
pub(super) struct Scans {
    prepared: Mutex<HashMap<Shape, PreparedStatement>>,
}

impl Statements {
    pub(super) async fn prepare(cassandra: &Cassandra) -> Result<Self> {
        let ks = cassandra.keyspace();
        let cell =
            "grp = ? AND key = ? AND name = ? AND generation = ? AND section = ? AND item = ?";
        Ok(Self {
            head: prepare(
                cassandra,
                format!("SELECT seq, epoch, markers, generations FROM {ks}.keyed_state WHERE grp = ? AND key = ? AND {HEAD}"),
                true,
            )
            .await?,
            get: prepare(cassandra, format!("SELECT data FROM {ks}.keyed_state WHERE {cell}"), true).await?,
            set: prepare(
                cassandra,
                format!(
                    "INSERT INTO {ks}.keyed_state (grp, key, name, generation, section, item, data) \
                     VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
                ),
                false,
            )
            .await?,
            delete: prepare(cassandra, format!("DELETE FROM {ks}.keyed_state WHERE {cell}"), false).await?,
            head_insert: prepare(
                cassandra,
                format!(
                    "INSERT INTO {ks}.keyed_state (grp, key, name, generation, section, item, seq, epoch, markers, generations) \
                     VALUES (?, ?, '', 0, 0, 0x, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?"
                ),
                false,
            )
            .await?,
            head_update: prepare(
                cassandra,
                format!(
                    "UPDATE {ks}.keyed_state USING TTL ? SET seq = ?, epoch = ?, markers = markers + ?, \
                     generations = generations + ? WHERE grp = ? AND key = ? AND {HEAD} IF seq = ? AND epoch = ?"
                ),
                false,
            )
            .await?,
            drop_generation: prepare(
                cassandra,
                format!("DELETE FROM {ks}.keyed_state WHERE grp = ? AND key = ? AND name = ? AND generation = ?"),
                true,
            )
            .await?,
            pin: prepare(
                cassandra,
                format!("INSERT INTO {ks}.keyed_state_identity (grp, name, identity) VALUES (?, ?, ?) IF NOT EXISTS"),
                false,
            )
            .await?,
            owner: prepare(
                cassandra,
                format!("SELECT epoch FROM {ks}.keyed_state_owners WHERE grp = ? AND topic = ? AND partition = ?"),
                true,
            )
            .await?,
            owner_insert: prepare(
                cassandra,
                format!("INSERT INTO {ks}.keyed_state_owners (grp, topic, partition, epoch) VALUES (?, ?, ?, ?) IF NOT EXISTS"),
                false,
            )
            .await?,
            owner_update: prepare(
                cassandra,
                format!("UPDATE {ks}.keyed_state_owners SET epoch = ? WHERE grp = ? AND topic = ? AND partition = ? IF epoch = ?"),
                false,
            )
            .await?,
        })
    }
}

impl Scans {
    /// The statement for a scan with these bounds: binds `(grp, key, name, generation,
    /// section[, lower][, upper], limit)`.
    pub(super) async fn get(
        &self,
        cassandra: &Cassandra,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<PreparedStatement> {
        let shape = (kind(lower), kind(upper), reverse);
        if let Some(statement) = self.lock().get(&shape) {
            return Ok(statement.clone());
        }
        let ks = cassandra.keyspace();
        let mut cql = format!(
            "SELECT item, data FROM {ks}.keyed_state \
             WHERE grp = ? AND key = ? AND name = ? AND generation = ? AND section = ?"
        );
        cql += ["", " AND item >= ?", " AND item > ?"][usize::from(shape.0)];
        cql += ["", " AND item <= ?", " AND item < ?"][usize::from(shape.1)];
        cql += if reverse {
            " ORDER BY name DESC, generation DESC, section DESC, item DESC"
        } else {
            ""
        };
        cql += " LIMIT ?";
        let statement = prepare(cassandra, cql, true).await?;
        self.lock().insert(shape, statement.clone());
        Ok(statement)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Shape, PreparedStatement>> {
        self.prepared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn kind(bound: &Bound<Vec<u8>>) -> u8 {
    match bound {
        Bound::Unbounded => 0,
        Bound::Included(_) => 1,
        Bound::Excluded(_) => 2,
    }
}

async fn prepare(
    cassandra: &Cassandra,
    cql: String,
    idempotent: bool,
) -> Result<PreparedStatement> {
    let mut statement = cassandra.prepare(&cql).await?;
    statement.set_is_idempotent(idempotent);
    statement.set_page_size(PAGE_SIZE);
    Ok::<_, Error>(statement)
}
