//! Keyed state in Cassandra, in the tables of migration `0007_keyed_state.cql`.
//!
//! # One conditional batch per commit
//!
//! A commit is one single-partition batch: the head row's conditional write (`IF NOT EXISTS`
//! for a key's first commit, else `IF seq = ? AND epoch = ?`) followed by the cells' inserts
//! and deletes. Cassandra applies a conditional batch whole or not at all, so the cells, the
//! event's marker and the owner's epoch land together. A lightweight transaction per commit
//! costs a Paxos round on the key's replicas; it buys the fencing and the exactly-once marker
//! without a separate deduplication write or any recovery sweep.
//!
//! A commit that timed out may still apply. Retrying the event is safe: it reads the head
//! again, and either finds its marker (the event is skipped) or commits afresh.
//!
//! Clearing a collection moves it to a new generation in the same batch. After the batch
//! applies, the old generation's rows are deleted with one range delete, best effort: they are
//! invisible either way, and expire with their TTL.

mod batch;
mod rows;
mod statements;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Mutex, PoisonError};

use futures::future::BoxFuture;
use futures::TryStreamExt;
use scylla::value::CqlValue;
use tokio::sync::OnceCell;

use super::cell::{CellKey, CellScan, Commit, Head, ItemRows};
use super::error::StateError;
use super::store::StateStore;
use crate::cassandra::{Cassandra, SharedCassandra};
use crate::config::Config;
use crate::error::Result;
use rows::{failure, first_row, section};
use statements::{Scans, Statements};

/// How many times `claim` retries a lost race for the same partition.
const CLAIM_ATTEMPTS: usize = 16;

/// A [`StateStore`] in Cassandra, shared by every process of a consumer group.
///
/// Creating one does no I/O; the first operation connects (through the process's shared
/// session) and prepares the statements. An unreachable Cassandra fails operations with a
/// transient [`Error::Cassandra`](crate::Error::Cassandra) naming the operation, group and key.
///
/// ```
/// use prosody_engine::state::CassandraStateStore;
/// use prosody_engine::Config;
///
/// let config = Config::from_options_with_env([("cassandra_nodes", "127.0.0.1:9042")], |_| None)?;
/// let store = CassandraStateStore::from_config(&config);
/// # Ok::<(), prosody_engine::Error>(())
/// ```
pub struct CassandraStateStore {
    cassandra: SharedCassandra,
    statements: OnceCell<Statements>,
    scans: Scans,
    /// (group, name, identity) checked already.
    pinned: Mutex<HashSet<(String, String, String)>>,
}

impl fmt::Debug for CassandraStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraStateStore")
            .field("cassandra", &self.cassandra)
            .finish_non_exhaustive()
    }
}

impl CassandraStateStore {
    /// A store on `cassandra`.
    pub fn new(cassandra: SharedCassandra) -> Self {
        Self {
            cassandra,
            statements: OnceCell::new(),
            scans: Scans::default(),
            pinned: Mutex::default(),
        }
    }

    /// A store on the process's session for `config`.
    pub fn from_config(config: &Config) -> Self {
        Self::new(Cassandra::shared(config))
    }

    async fn ready(&self) -> Result<(Cassandra, &Statements)> {
        let cassandra = self.cassandra.get().await?;
        let statements = self
            .statements
            .get_or_try_init(|| Statements::prepare(&cassandra))
            .await?;
        Ok((cassandra, statements))
    }

    async fn pin_identity(&self, group: &str, name: &str, identity: &str) -> Result<()> {
        let entry = (group.to_owned(), name.to_owned(), identity.to_owned());
        if self.lock_pinned().contains(&entry) {
            return Ok(());
        }
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("state pin", group, name, e);
        let result = cassandra
            .session()
            .execute_unpaged(&statements.pin, (group, name, identity))
            .await
            .map_err(|e| fail(&e))?;
        let row = first_row(result).map_err(|e| fail(&e))?;
        let stored = match row.as_ref().and_then(|row| row.text("identity")) {
            Some(stored) if !row.as_ref().is_some_and(|row| row.applied()) => stored,
            _ => identity.to_owned(),
        };
        if stored != identity {
            return Err(StateError::IdentityMismatch {
                group: group.to_owned(),
                name: name.to_owned(),
                stored,
                declared: identity.to_owned(),
            }
            .into());
        }
        self.lock_pinned().insert(entry);
        Ok(())
    }

    fn lock_pinned(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String, String)>> {
        self.pinned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn claim_epoch(&self, group: &str, topic: &str, partition: i32) -> Result<i64> {
        let (cassandra, statements) = self.ready().await?;
        let session = cassandra.session();
        let at = format!("{topic}/{partition}");
        let fail = |e: &dyn fmt::Display| failure("state claim", group, &at, e);
        for _ in 0..CLAIM_ATTEMPTS {
            let rows = session
                .execute_unpaged(&statements.owner, (group, topic, partition))
                .await
                .map_err(|e| fail(&e))?;
            let current = first_row(rows)
                .map_err(|e| fail(&e))?
                .and_then(|row| row.bigint("epoch"));
            let result = match current {
                None => {
                    session
                        .execute_unpaged(&statements.owner_insert, (group, topic, partition, 1_i64))
                        .await
                }
                Some(epoch) => {
                    let values = (epoch + 1, group, topic, partition, epoch);
                    session
                        .execute_unpaged(&statements.owner_update, values)
                        .await
                }
            };
            let row = first_row(result.map_err(|e| fail(&e))?).map_err(|e| fail(&e))?;
            if row.is_some_and(|row| row.applied()) {
                return Ok(current.unwrap_or(0) + 1);
            }
        }
        Err(fail(
            &"other owners kept claiming the partition at the same time",
        ))
    }

    async fn read_head(&self, group: &str, key: &str) -> Result<Head> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("state head read", group, key, e);
        let result = cassandra
            .session()
            .execute_unpaged(&statements.head, (group, key))
            .await
            .map_err(|e| fail(&e))?;
        let rows = result.into_rows_result().map_err(|e| fail(&e))?;
        type HeadRow = (
            Option<i64>,
            Option<i64>,
            Option<BTreeMap<String, i64>>,
            Option<BTreeMap<String, i64>>,
        );
        let Some((seq, epoch, markers, generations)) =
            rows.maybe_first_row::<HeadRow>().map_err(|e| fail(&e))?
        else {
            return Ok(Head::default());
        };
        Ok(Head {
            seq: seq.unwrap_or(0),
            epoch: epoch.unwrap_or(0),
            markers: markers.unwrap_or_default(),
            generations: generations.unwrap_or_default(),
        })
    }

    async fn read_cell(&self, group: &str, key: &str, cell: &CellKey) -> Result<Option<Vec<u8>>> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("state read", group, key, e);
        let values = (
            group,
            key,
            &cell.name,
            cell.generation,
            section(cell.section),
            &cell.item,
        );
        let result = cassandra
            .session()
            .execute_unpaged(&statements.get, values)
            .await
            .map_err(|e| fail(&e))?;
        let rows = result.into_rows_result().map_err(|e| fail(&e))?;
        let row = rows
            .maybe_first_row::<(Option<Vec<u8>>,)>()
            .map_err(|e| fail(&e))?;
        Ok(row.map(|(data,)| data.unwrap_or_default()))
    }

    async fn read_scan(&self, group: &str, key: &str, scan: &CellScan) -> Result<ItemRows> {
        let (cassandra, _) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("state scan", group, key, e);
        let statement = self
            .scans
            .get(&cassandra, &scan.lower, &scan.upper, scan.reverse)
            .await?;
        let mut values = vec![
            CqlValue::Text(group.to_owned()),
            CqlValue::Text(key.to_owned()),
            CqlValue::Text(scan.name.clone()),
            CqlValue::BigInt(scan.generation),
            CqlValue::TinyInt(section(scan.section)),
        ];
        for bound in [&scan.lower, &scan.upper] {
            if let Bound::Included(item) | Bound::Excluded(item) = bound {
                values.push(CqlValue::Blob(item.clone()));
            }
        }
        let limit = scan
            .limit
            .map_or(i32::MAX, |limit| i32::try_from(limit).unwrap_or(i32::MAX));
        values.push(CqlValue::Int(limit.max(1)));
        cassandra
            .session()
            .execute_iter(statement, values)
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(Vec<u8>, Option<Vec<u8>>)>()
            .map_err(|e| fail(&e))?
            .map_ok(|(item, data)| (item, data.unwrap_or_default()))
            .try_collect()
            .await
            .map_err(|e| fail(&e))
    }

    async fn apply(&self, group: &str, key: &str, commit: &Commit) -> Result<()> {
        let (cassandra, statements) = self.ready().await?;
        let fail = |e: &dyn fmt::Display| failure("state commit", group, key, e);
        let (batch, values) = batch::build(statements, group, key, commit);
        let result = cassandra
            .session()
            .batch(&batch, values)
            .await
            .map_err(|e| fail(&e))?;
        let row = first_row(result).map_err(|e| fail(&e))?;
        match row {
            Some(row) if !row.applied() => {
                let current = row.bigint("epoch").unwrap_or(0);
                return Err(if current > commit.epoch {
                    StateError::Fenced {
                        key: key.to_owned(),
                        mine: u64::try_from(commit.epoch).unwrap_or(0),
                        current: u64::try_from(current).unwrap_or(0),
                    }
                } else {
                    StateError::Conflict {
                        key: key.to_owned(),
                    }
                }
                .into());
            }
            _ => {}
        }
        for (name, _, old) in &commit.generations {
            let dropped = cassandra
                .session()
                .execute_unpaged(&statements.drop_generation, (group, key, name, *old))
                .await;
            if let Err(error) = dropped {
                tracing::debug!(group, key, name, %error, "could not drop a cleared generation; its rows expire with their TTL");
            }
        }
        Ok(())
    }
}

impl StateStore for CassandraStateStore {
    fn pin<'a>(
        &'a self,
        group: &'a str,
        name: &'a str,
        identity: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.pin_identity(group, name, identity))
    }

    fn claim<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        partition: i32,
    ) -> BoxFuture<'a, Result<i64>> {
        Box::pin(self.claim_epoch(group, topic, partition))
    }

    fn head<'a>(&'a self, group: &'a str, key: &'a str) -> BoxFuture<'a, Result<Head>> {
        Box::pin(self.read_head(group, key))
    }

    fn get<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        cell: &'a CellKey,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(self.read_cell(group, key, cell))
    }

    fn scan<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        scan: &'a CellScan,
    ) -> BoxFuture<'a, Result<ItemRows>> {
        Box::pin(self.read_scan(group, key, scan))
    }

    fn commit<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        commit: &'a Commit,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.apply(group, key, commit))
    }
}
