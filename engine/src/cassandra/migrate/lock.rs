//! A keyspace-wide lock that lets one process at a time apply migrations.
//!
//! The lock is one row taken with a lightweight transaction (`INSERT … IF NOT EXISTS`) that
//! records a random owner id, and released with `DELETE … IF owner = ?`, so a process can only
//! release its own lock. The row carries a TTL ([`LOCK_TTL`]): if the holder dies, the lock
//! frees itself. Waiters retry with jittered exponential backoff and give up after
//! [`Backoff::attempts`] with an error saying who holds the lock.

use std::time::Duration;

use scylla::client::session::Session;
use scylla::value::{CqlValue, Row};
use uuid::Uuid;

use super::super::query_error;
use crate::error::{Error, Result};

/// How long a lock lives if its holder never releases it.
pub(super) const LOCK_TTL: Duration = Duration::from_secs(300);

/// The lock row's key; there is one migration lock per keyspace.
const LOCK_NAME: &str = "schema";

/// How long to wait between attempts to take a held lock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    /// The first delay, doubled on each attempt.
    pub(super) base: Duration,
    /// The largest delay.
    pub(super) cap: Duration,
    /// How many times to try before giving up.
    pub(super) attempts: u32,
}

impl Backoff {
    /// Waits of about 20 to 45 seconds in total: longer than applying the embedded files takes.
    pub(super) const DEFAULT: Self = Self {
        base: Duration::from_millis(250),
        cap: Duration::from_secs(4),
        attempts: 15,
    };

    /// Retries for creating the keyspace and bookkeeping tables (see `bootstrap`): waits of
    /// about 4 to 8 seconds in total. A table another process just created can take over a
    /// second to accept queries on a loaded node (four migrators racing while the machine
    /// compiled gave up after the old budget of about one second), and longer in a cluster.
    pub(super) const BOOTSTRAP: Self = Self {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(2),
        attempts: 8,
    };

    /// The delay after failed attempt `attempt` (0-based): half of `min(base * 2^attempt, cap)`
    /// plus a random part of up to the other half, so waiters spread out but always wait.
    pub(super) fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2_u32.saturating_pow(attempt.min(16)))
            .min(self.cap);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// A held migration lock. Release it with [`MigrationLock::release`].
#[derive(Debug)]
pub(super) struct MigrationLock {
    owner: Uuid,
}

impl MigrationLock {
    /// Takes the lock in `keyspace`, waiting per `backoff` while another process holds it.
    pub(super) async fn acquire(
        session: &Session,
        keyspace: &str,
        backoff: Backoff,
    ) -> Result<Self> {
        let owner = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let insert = format!(
            "INSERT INTO {keyspace}.schema_migration_lock (name, owner, acquired_at) \
             VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS USING TTL {}",
            LOCK_TTL.as_secs()
        );
        let mut holder = None;
        for attempt in 0..backoff.attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let result = session
                .query_unpaged(insert.as_str(), (LOCK_NAME, owner))
                .await
                .map_err(|e| query_error(&e))?
                .into_rows_result()
                .map_err(|e| query_error(&e))?;
            let owner_index = result
                .column_specs()
                .iter()
                .position(|spec| spec.name() == "owner");
            let row: Row = result.first_row().map_err(|e| query_error(&e))?;
            let applied = matches!(row.columns.first(), Some(Some(CqlValue::Boolean(true))));
            holder = owner_index
                .and_then(|index| row.columns.get(index).cloned().flatten())
                .and_then(|value| value.as_uuid());
            // An earlier attempt whose reply was lost may have taken the lock for us.
            if applied || holder == Some(owner) {
                tracing::debug!(keyspace, %owner, "schema migration lock taken");
                return Ok(Self { owner });
            }
            tracing::debug!(keyspace, ?holder, attempt, "schema migration lock is held");
        }
        Err(Error::Cassandra {
            operation: "migrate",
            reason: format!(
                "another process (owner {}) held the schema migration lock in keyspace \
                 `{keyspace}` through {} attempts; it expires {}s after it was taken, or delete \
                 the row in {keyspace}.schema_migration_lock if no migration is running",
                holder.map_or_else(|| "unknown".to_owned(), |id| id.to_string()),
                backoff.attempts,
                LOCK_TTL.as_secs()
            ),
        })
    }

    /// Releases the lock if this process still holds it.
    pub(super) async fn release(self, session: &Session, keyspace: &str) -> Result<()> {
        let delete =
            format!("DELETE FROM {keyspace}.schema_migration_lock WHERE name = ? IF owner = ?");
        session
            .query_unpaged(delete, (LOCK_NAME, self.owner))
            .await
            .map_err(|e| query_error(&e))?;
        tracing::debug!(keyspace, owner = %self.owner, "schema migration lock released");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_keep_at_least_half() {
        let backoff = Backoff::DEFAULT;
        for attempt in 0..40 {
            let ceiling = (backoff.base * 2_u32.pow(attempt.min(10))).min(backoff.cap);
            for _ in 0..20 {
                let delay = backoff.delay(attempt);
                assert!(delay >= ceiling / 2, "{attempt}: {delay:?}");
                assert!(delay <= ceiling, "{attempt}: {delay:?}");
            }
        }
    }

    #[test]
    fn the_default_waits_between_20_and_45_seconds_in_total() {
        let backoff = Backoff::DEFAULT;
        let total: Duration = (0..backoff.attempts - 1).map(|a| backoff.delay(a)).sum();
        assert!(total >= Duration::from_secs(20), "{total:?}");
        assert!(total <= Duration::from_secs(45), "{total:?}");
    }
}
