//! Creates the keyspace and applies the embedded schema migrations, safely from many processes.
//!
//! Migrations are CQL files compiled into the binary and applied in name order. Each applied
//! file is recorded in `schema_migrations` with the SHA-256 of its text; a recorded file whose
//! text has since changed is an [`Error::Migration`] naming it, and no
//! further file is applied. Files this binary does not know (from a newer release) are ignored.
//!
//! When every file is recorded and unchanged, [`run`] only reads `schema_migrations` (the fast
//! path, taken by every process after the first). Otherwise it takes the keyspace's migration
//! [lock], reads the records again (another process may have applied them meanwhile),
//! applies what is still pending, records each file once all its statements succeeded, and
//! releases the lock, also when applying failed. A failed run can be retried: statements are
//! written to be idempotent (`IF NOT EXISTS`), so a half-applied file applies again cleanly.
//!
//! The keyspace is created if missing with `SimpleStrategy` and replication factor 1, which
//! only suits development and tests. Production should create the keyspace itself, with the
//! replication it needs, before the first process starts; [`run`] then leaves it alone. The
//! bookkeeping tables are likewise created only when missing.

mod files;
mod lock;

use std::collections::HashMap;

use scylla::client::session::Session;

use super::query_error;
use crate::error::{Error, Result};
use files::{pending, Migration, MIGRATIONS};
use lock::{Backoff, MigrationLock};

/// Tables the migrator itself needs, created before any migration runs.
const BOOKKEEPING: &[(&str, &str)] = &[
    (
        "schema_migrations",
        "CREATE TABLE IF NOT EXISTS {{keyspace}}.schema_migrations (
             name text PRIMARY KEY, checksum text, applied_at timestamp)",
    ),
    (
        "schema_migration_lock",
        "CREATE TABLE IF NOT EXISTS {{keyspace}}.schema_migration_lock (
             name text PRIMARY KEY, owner uuid, acquired_at timestamp)",
    ),
];

/// Creates `keyspace` if missing and applies every pending migration in it. Returns the names
/// of the files this call applied (empty when another process had applied them).
pub(crate) async fn run(session: &Session, keyspace: &str) -> Result<Vec<&'static str>> {
    let recorded = bootstrap(session, keyspace).await?;
    if pending(MIGRATIONS, &recorded)?.is_empty() {
        return Ok(Vec::new());
    }
    let lock = MigrationLock::acquire(session, keyspace, Backoff::DEFAULT).await?;
    let outcome = apply_pending(session, keyspace).await;
    let released = lock.release(session, keyspace).await;
    if let Err(error) = &released {
        tracing::warn!(keyspace, %error, "could not release the schema migration lock");
    }
    let applied = outcome?;
    Ok(applied)
}

/// Creates the keyspace and bookkeeping tables if missing, checks both tables answer queries,
/// and reads the recorded migrations.
///
/// A keyspace or table that another process is creating at this moment can be listed in the
/// schema a moment before the node (or, in a cluster, every node) accepts queries on it, so a
/// failure here is retried a few times before it is returned.
async fn bootstrap(session: &Session, keyspace: &str) -> Result<HashMap<String, String>> {
    let backoff = Backoff::BOOTSTRAP;
    let mut attempt = 0;
    loop {
        let outcome = async {
            create_keyspace(session, keyspace).await?;
            create_bookkeeping(session, keyspace).await?;
            let probe = format!("SELECT owner FROM {keyspace}.schema_migration_lock LIMIT 1");
            session
                .query_unpaged(probe, &[])
                .await
                .map_err(|e| query_error(&e))?;
            applied(session, keyspace).await
        }
        .await;
        match outcome {
            Ok(recorded) => return Ok(recorded),
            Err(error) if attempt + 1 < backoff.attempts => {
                tracing::debug!(keyspace, %error, attempt, "retrying the migration bootstrap");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Creates `keyspace` with `SimpleStrategy`, replication factor 1, unless it exists.
pub(crate) async fn create_keyspace(session: &Session, keyspace: &str) -> Result<()> {
    if exists(session, keyspace, None).await? {
        return Ok(());
    }
    let create = format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    );
    tracing::info!(
        keyspace,
        "creating the cassandra keyspace (replication factor 1)"
    );
    session
        .query_unpaged(create, &[])
        .await
        .map_err(|e| query_error(&e))?;
    Ok(())
}

async fn create_bookkeeping(session: &Session, keyspace: &str) -> Result<()> {
    for (table, create) in BOOKKEEPING {
        if !exists(session, keyspace, Some(table)).await? {
            session
                .query_unpaged(create.replace("{{keyspace}}", keyspace), &[])
                .await
                .map_err(|e| query_error(&e))?;
        }
    }
    Ok(())
}

/// Whether `keyspace` (or its `table`) is in the schema.
async fn exists(session: &Session, keyspace: &str, table: Option<&str>) -> Result<bool> {
    let keyspace = keyspace.to_ascii_lowercase();
    let result = match table {
        None => {
            session
                .query_unpaged(
                    "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                    (keyspace,),
                )
                .await
        }
        Some(table) => {
            session
                .query_unpaged(
                    "SELECT table_name FROM system_schema.tables \
                     WHERE keyspace_name = ? AND table_name = ?",
                    (keyspace, table),
                )
                .await
        }
    };
    let rows = result
        .map_err(|e| query_error(&e))?
        .into_rows_result()
        .map_err(|e| query_error(&e))?;
    Ok(rows.rows_num() > 0)
}

/// The recorded migrations: file name to checksum.
async fn applied(session: &Session, keyspace: &str) -> Result<HashMap<String, String>> {
    let rows = session
        .query_unpaged(
            format!("SELECT name, checksum FROM {keyspace}.schema_migrations"),
            &[],
        )
        .await
        .map_err(|e| query_error(&e))?
        .into_rows_result()
        .map_err(|e| query_error(&e))?;
    rows.rows::<(String, String)>()
        .map_err(|e| query_error(&e))?
        .map(|row| row.map_err(|e| query_error(&e)))
        .collect()
}

/// Applies what is pending now; call only while holding the lock.
async fn apply_pending(session: &Session, keyspace: &str) -> Result<Vec<&'static str>> {
    let recorded = applied(session, keyspace).await?;
    let mut done = Vec::new();
    for migration in pending(MIGRATIONS, &recorded)? {
        apply(session, keyspace, migration).await?;
        done.push(migration.name);
    }
    Ok(done)
}

async fn apply(session: &Session, keyspace: &str, migration: &Migration) -> Result<()> {
    tracing::info!(
        keyspace,
        file = migration.name,
        "applying cassandra migration"
    );
    for statement in migration.statements(keyspace) {
        session
            .query_unpaged(statement, &[])
            .await
            .map_err(|e| Error::Cassandra {
                operation: "migrate",
                reason: format!("applying `{}`: {e}", migration.name),
            })?;
    }
    session
        .query_unpaged(
            format!(
                "INSERT INTO {keyspace}.schema_migrations (name, checksum, applied_at) \
                 VALUES (?, ?, toTimestamp(now()))"
            ),
            (migration.name, migration.checksum()),
        )
        .await
        .map_err(|e| query_error(&e))?;
    Ok(())
}
