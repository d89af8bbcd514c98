//! The process's Cassandra session.
//!
//! Timers and deduplication records persist in Cassandra when not in mock mode. A session is
//! expensive (it keeps a connection pool per node), so one is shared per set of connection
//! settings for the life of the process.
//!
//! # Schema and migrations
//!
//! The tables live in `cassandra_keyspace` (default `prosody`) and are defined by CQL files
//! embedded in the binary (`engine/src/cassandra/migrations/`), applied in name order:
//!
//! | Table | Holds |
//! |---|---|
//! | `dedup` | ids of handled events, each row expiring after `idempotence_ttl` |
//! | `timer_slabs`, `timer_slab_index`, `timer_keys` | scheduled timers, by time and by key |
//! | `deferred_offsets`, `deferred_timers`, `deferred_keys` | deferred retries: each key's offsets, timers (with their trace context and baggage) and retry record |
//! | `keyed_state`, `keyed_state_identity`, `keyed_state_owners` | keyed state: each key's collections and head, pinned identities, partition owner epochs |
//! | `schema_migrations` | each applied file with its SHA-256 and when it was applied |
//! | `schema_migration_lock` | the lock one process holds while applying files |
//!
//! The first [`SharedCassandra::get`] of a process (or [`Cassandra::migrate`]) creates the
//! keyspace if missing, then applies the files not yet recorded. Processes starting together
//! are safe: a lightweight-transaction lock with a TTL lets one of them apply the files while
//! the others wait, and a process that finds every file recorded takes no lock at all. A
//! recorded file whose text changed is an [`Error::Migration`] naming it, so released files
//! are never edited; a change is a new file. A missing keyspace is created with
//! `SimpleStrategy` and replication factor 1, fit for development only: in production, create
//! the keyspace with the replication you need before the first process starts.

mod migrate;
mod shared;
mod tls;

use std::sync::Arc;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;

use crate::config::Config;
use crate::error::{Error, Result};

pub use shared::SharedCassandra;

/// A connected Cassandra session. Cheap to clone.
#[derive(Clone)]
pub struct Cassandra {
    session: Arc<Session>,
    keyspace: String,
}

impl std::fmt::Debug for Cassandra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cassandra")
            .field("keyspace", &self.keyspace)
            .finish_non_exhaustive()
    }
}

impl Cassandra {
    /// Connects to `cassandra_nodes` with the configured credentials and preferred datacenter.
    ///
    /// ```no_run
    /// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
    /// let cassandra = prosody_engine::Cassandra::connect(&config).await?;
    /// let version = cassandra.release_version().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: &Config) -> Result<Self> {
        if config.cassandra_nodes.is_empty() {
            return Err(Error::Cassandra {
                operation: "connect",
                reason: "no nodes given: set `cassandra_nodes` (PROSODY_CASSANDRA_NODES)".into(),
            });
        }
        let mut builder = SessionBuilder::new()
            .known_nodes(&config.cassandra_nodes)
            .default_execution_profile_handle(execution_profile(config).into_handle())
            .tls_context(tls::context(config)?);
        match (&config.cassandra_user, &config.cassandra_password) {
            (Some(user), Some(password)) => builder = builder.user(user, password),
            (None, None) => {}
            // Half a login would connect anonymously and fail later with a driver error that
            // names neither option.
            (user, _) => {
                let (set, unset) = if user.is_some() {
                    (
                        "cassandra_user",
                        "cassandra_password (PROSODY_CASSANDRA_PASSWORD)",
                    )
                } else {
                    (
                        "cassandra_password",
                        "cassandra_user (PROSODY_CASSANDRA_USER)",
                    )
                };
                return Err(Error::Cassandra {
                    operation: "connect",
                    reason: format!("`{set}` is set but `{unset}` is not: logging in needs both"),
                });
            }
        }
        let session = builder.build().await.map_err(|e| Error::Cassandra {
            operation: "connect",
            reason: connect_failure(&e.to_string(), config),
        })?;
        Ok(Self {
            session: Arc::new(session),
            keyspace: config.cassandra_keyspace.clone(),
        })
    }

    /// The process's session for `config`'s connection settings, connected and migrated on
    /// first use. See [`SharedCassandra`].
    pub fn shared(config: &Config) -> SharedCassandra {
        SharedCassandra::for_config(config)
    }

    /// Prepares `cql` with [`REQUEST_TIMEOUT`] on the statement, waiting at most that long for
    /// the server, so an unreachable node fails the caller in seconds rather than the driver's
    /// default 30. The error quotes the statement.
    pub(crate) async fn prepare(&self, cql: &str) -> Result<PreparedStatement> {
        let failed = |reason: String| Error::Cassandra {
            operation: "prepare",
            reason: format!("{reason} (statement: {cql})"),
        };
        let prepared = tokio::time::timeout(REQUEST_TIMEOUT, self.session.prepare(cql))
            .await
            .map_err(|_| failed(format!("no answer within {REQUEST_TIMEOUT:?}")))?;
        let mut prepared = prepared.map_err(|e| failed(e.to_string()))?;
        prepared.set_request_timeout(Some(REQUEST_TIMEOUT));
        Ok(prepared)
    }

    /// The driver session, for running statements.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The configured keyspace name.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// Creates the configured keyspace if missing and applies the pending schema migrations;
    /// see the module docs. Safe to call from several processes at once. Returns the names of
    /// the migration files this call applied: empty when they were all applied before.
    ///
    /// [`Cassandra::shared`] does this on first use; call it directly to migrate a keyspace
    /// ahead of time, for instance from a deploy step.
    ///
    /// # Errors
    ///
    /// A query failure, another process holding the migration lock for too long (both
    /// transient), or an applied migration whose file changed since ([`Error::Migration`]).
    ///
    /// ```no_run
    /// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
    /// let cassandra = prosody_engine::Cassandra::connect(&config).await?;
    /// for file in cassandra.migrate().await? {
    ///     println!("applied {file}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<Vec<&'static str>> {
        migrate::run(&self.session, &self.keyspace).await
    }

    /// The server's `release_version`, a cheap health check.
    pub async fn release_version(&self) -> Result<String> {
        let rows = self
            .session
            .query_unpaged("SELECT release_version FROM system.local", &[])
            .await
            .map_err(|e| query_error(&e))?
            .into_rows_result()
            .map_err(|e| query_error(&e))?;
        let (version,): (String,) = rows.first_row().map_err(|e| query_error(&e))?;
        Ok(version)
    }
}

/// The driver's reason for a failed connect, with the nodes; when the server wants a login
/// and none is configured, the options to set rather than the driver's Rust API.
fn connect_failure(reason: &str, config: &Config) -> String {
    let nodes = config.cassandra_nodes.join(",");
    if config.cassandra_user.is_none() && reason.contains("Authentication is required") {
        return format!(
            "the server requires a login: set `cassandra_user` and `cassandra_password` \
             (PROSODY_CASSANDRA_USER, PROSODY_CASSANDRA_PASSWORD) (nodes: {nodes})"
        );
    }
    format!("{reason} (nodes: {nodes})")
}

pub(crate) fn query_error(error: &dyn std::fmt::Display) -> Error {
    Error::Cassandra {
        operation: "query",
        reason: error.to_string(),
    }
}

/// How statements run: `LOCAL_QUORUM`, token-aware, preferring `cassandra_datacenter` (and
/// `cassandra_rack` within it) while allowing other datacenters when the preferred one is down.
fn execution_profile(config: &Config) -> ExecutionProfile {
    let mut policy = DefaultPolicy::builder()
        .token_aware(true)
        .permit_dc_failover(true);
    match (&config.cassandra_datacenter, &config.cassandra_rack) {
        (Some(datacenter), Some(rack)) => {
            policy = policy.prefer_datacenter_and_rack(datacenter.clone(), rack.clone());
        }
        (Some(datacenter), None) => policy = policy.prefer_datacenter(datacenter.clone()),
        (None, Some(rack)) => {
            tracing::warn!(
                rack,
                "`cassandra_rack` is ignored without `cassandra_datacenter`"
            );
        }
        (None, None) => {}
    }
    ExecutionProfile::builder()
        .load_balancing_policy(policy.build())
        .consistency(Consistency::LocalQuorum)
        .build()
}

/// How long one request (or one page of a read) may take before it fails.
pub(crate) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest TTL Cassandra accepts, 20 years.
pub(crate) const MAX_TTL: u64 = 630_720_000;

/// The last expiry a Cassandra 5 node in its default storage compatibility mode (`CASSANDRA_4`)
/// accepts, 2038-01-19T03:14:06Z; a write expiring later is rejected (CASSANDRA-14092).
pub(crate) const LAST_EXPIRY: u64 = 2_147_483_646;

/// Room left for the server's clock running ahead of ours when checking [`LAST_EXPIRY`].
const CLOCK_MARGIN: u64 = 86_400;

/// The longest TTL a row written at `now` (epoch seconds) can be given without being rejected.
pub(crate) fn ttl_limit(now: u64) -> u64 {
    MAX_TTL.min(LAST_EXPIRY.saturating_sub(now.saturating_add(CLOCK_MARGIN)))
}
