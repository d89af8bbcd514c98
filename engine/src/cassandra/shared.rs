//! One lazily connected, migrated session per set of connection settings, per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::OnceCell;

use super::Cassandra;
use crate::config::Config;
use crate::error::Result;

/// A handle on the process's Cassandra session for one configuration. Creating it does no I/O;
/// the first [`SharedCassandra::get`] connects and applies migrations. A failed attempt is not
/// remembered, so the next call tries again: a Cassandra outage at start-up behaves like one
/// later on (store operations fail as transient errors and are retried).
///
/// ```no_run
/// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
/// let cassandra = prosody_engine::Cassandra::shared(&config).get().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedCassandra {
    config: Arc<Config>,
    cell: Arc<OnceCell<Cassandra>>,
}

impl std::fmt::Debug for SharedCassandra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCassandra")
            .field("nodes", &self.config.cassandra_nodes)
            .field("keyspace", &self.config.cassandra_keyspace)
            .field("connected", &self.cell.initialized())
            .finish()
    }
}

impl SharedCassandra {
    pub(super) fn for_config(config: &Config) -> Self {
        static SESSIONS: OnceLock<Mutex<HashMap<String, Arc<OnceCell<Cassandra>>>>> =
            OnceLock::new();
        let identity = format!(
            "{:?}|{}|{:?}|{:?}|{:?}",
            config.cassandra_nodes,
            config.cassandra_keyspace,
            config.cassandra_user,
            config.cassandra_datacenter,
            config.cassandra_rack
        );
        let cell = Arc::clone(
            SESSIONS
                .get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(identity)
                .or_default(),
        );
        Self {
            config: Arc::new(config.clone()),
            cell,
        }
    }

    /// The connected, migrated session; connects on first use.
    pub async fn get(&self) -> Result<Cassandra> {
        self.cell
            .get_or_try_init(|| async {
                let cassandra = Cassandra::connect(&self.config).await?;
                cassandra.migrate().await?;
                Ok(cassandra)
            })
            .await
            .cloned()
    }
}
