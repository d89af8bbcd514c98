//! The `dedup` table's two statements, each over a batch of keys.
//!
//! A lookup is one `SELECT id ... WHERE id IN ?`; a record is one unlogged batch of `INSERT ...
//! USING TTL ?`, one per key. Every key is its own partition, so the batch buys no atomicity:
//! it only saves Cassandra a request per key (it warns, at most once a minute in its log, about
//! unlogged batches over more than ten partitions). Either statement succeeds or fails whole.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::coalesce::{Flush, Limits};
use super::DedupKey;
use crate::cassandra::{Cassandra, REQUEST_TIMEOUT};

/// Batches of up to 64 keys (a write batch of 64 rows is about 2 KiB, under Cassandra's 5 KiB
/// warning), two statements of each kind running at once: one carries the keys that arrived
/// while the other ran, so a key never waits behind more than one round trip.
pub(super) const LIMITS: Limits = Limits {
    batch: 64,
    in_flight: 2,
    queue: 1024,
};

/// Which of a batch's keys have a row.
pub(super) struct Lookup {
    pub(super) cassandra: Cassandra,
    pub(super) select: PreparedStatement,
}

impl Flush for Lookup {
    type Output = bool;
    const OPERATION: &'static str = "dedup read";

    fn flush(&self, keys: Vec<DedupKey>) -> BoxFuture<'_, Result<Vec<bool>, String>> {
        Box::pin(async move {
            let ids: Vec<[u8; 16]> = keys.iter().map(|key| key.to_bytes()).collect();
            let list: Vec<&[u8]> = ids.iter().map(|id| &id[..]).collect();
            let rows = self
                .cassandra
                .session()
                .execute_unpaged(&self.select, (list,))
                .await
                .map_err(|e| e.to_string())?
                .into_rows_result()
                .map_err(|e| e.to_string())?;
            let found = rows
                .rows::<(Vec<u8>,)>()
                .map_err(|e| e.to_string())?
                .map(|row| row.map(|(id,)| id).map_err(|e| e.to_string()))
                .collect::<Result<HashSet<Vec<u8>>, String>>()?;
            Ok(ids.iter().map(|id| found.contains(&id[..])).collect())
        })
    }
}

/// Writes a batch's rows with the store's TTL.
pub(super) struct Record {
    pub(super) cassandra: Cassandra,
    pub(super) insert: PreparedStatement,
    pub(super) ttl_seconds: u64,
}

impl Record {
    /// The TTL to write now: a record that would expire past what Cassandra accepts is kept
    /// for as long as it can be.
    fn ttl(&self) -> i32 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let ttl = self
            .ttl_seconds
            .min(crate::cassandra::ttl_limit(now))
            .max(1);
        i32::try_from(ttl).unwrap_or(i32::MAX)
    }
}

impl Flush for Record {
    type Output = ();
    const OPERATION: &'static str = "dedup write";

    fn flush(&self, keys: Vec<DedupKey>) -> BoxFuture<'_, Result<Vec<()>, String>> {
        Box::pin(async move {
            let ttl = self.ttl();
            let ids: Vec<[u8; 16]> = keys.iter().map(|key| key.to_bytes()).collect();
            let session = self.cassandra.session();
            if let [id] = ids.as_slice() {
                // A lone key needs no batch around it.
                session
                    .execute_unpaged(&self.insert, (&id[..], ttl))
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(vec![()]);
            }
            let mut batch = Batch::new(BatchType::Unlogged);
            batch.set_request_timeout(Some(REQUEST_TIMEOUT));
            for _ in &ids {
                batch.append_statement(self.insert.clone());
            }
            let values: Vec<(&[u8], i32)> = ids.iter().map(|id| (&id[..], ttl)).collect();
            session
                .batch(&batch, values)
                .await
                .map_err(|e| e.to_string())?;
            Ok(vec![(); ids.len()])
        })
    }
}
