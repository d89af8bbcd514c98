//! Creates the keyspace and tables Prosody needs.
//!
//! Migrations are CQL files compiled into the binary, applied in name order. Each statement
//! is idempotent (`IF NOT EXISTS`), so several processes may run them at once.

use super::{query_error, Cassandra};
use crate::error::Result;

/// Every migration, in the order it applies.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_dedup.cql", include_str!("migrations/0001_dedup.cql")),
    (
        "0002_timers.cql",
        include_str!("migrations/0002_timers.cql"),
    ),
];

/// Creates the keyspace (if missing) and applies every migration.
pub(crate) async fn run(cassandra: &Cassandra) -> Result<()> {
    let keyspace = cassandra.keyspace();
    let create = format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    );
    let session = cassandra.session();
    session
        .query_unpaged(create, &[])
        .await
        .map_err(|e| query_error(&e))?;
    for (_, text) in MIGRATIONS {
        for statement in statements(text, keyspace) {
            session
                .query_unpaged(statement, &[])
                .await
                .map_err(|e| query_error(&e))?;
        }
    }
    Ok(())
}

/// Splits a migration into statements, dropping comments and substituting the keyspace.
fn statements(text: &str, keyspace: &str) -> Vec<String> {
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("{{keyspace}}", keyspace))
        .collect()
}
