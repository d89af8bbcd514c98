//! One lazily connected, migrated session per set of connection settings, per process.
//!
//! A session's background work (connection pools, reconnection, topology refresh) runs on a
//! small runtime of its own, so the session keeps working when the runtime of whoever
//! connected it first shuts down (each `#[tokio::test]` has its own runtime, and so may an
//! embedding application). Sessions and that runtime belong to one process: a forked child
//! connects afresh, as the parent's driver threads do not exist in it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::runtime::Runtime;
use tokio::sync::OnceCell;

use super::Cassandra;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::process_runtime::ProcessRuntime;

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
        // The password is part of the identity (hashed, so the key never holds it): a client
        // with a wrong password must not borrow a session another client logged in with.
        let password = config.cassandra_password.as_ref().map(|password| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            password.hash(&mut hasher);
            hasher.finish()
        });
        let identity = format!(
            "{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
            std::process::id(),
            config.cassandra_nodes,
            config.cassandra_keyspace,
            config.cassandra_user,
            password,
            config.cassandra_datacenter,
            config.cassandra_rack,
            config.cassandra_tls,
            config.cassandra_tls_ca
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
                let config = Arc::clone(&self.config);
                // Connecting on the driver runtime puts the session's tasks there. If this
                // caller gives up waiting, the task still finishes (and releases any
                // migration lock it took).
                let connect = driver_runtime()?.spawn(async move {
                    let cassandra = Cassandra::connect(&config).await?;
                    cassandra.migrate().await?;
                    Ok::<_, Error>(cassandra)
                });
                connect.await.map_err(|error| Error::Cassandra {
                    operation: "connect",
                    reason: format!("the connection task stopped: {error}"),
                })?
            })
            .await
            .cloned()
    }
}

/// The runtime that runs every shared session's driver tasks, created on first use in each
/// process.
fn driver_runtime() -> Result<Arc<Runtime>> {
    static DRIVER: ProcessRuntime = ProcessRuntime::new("prosody-cassandra", 1);
    DRIVER.get().map_err(|error| Error::Cassandra {
        operation: "connect",
        reason: format!("could not start the cassandra driver runtime: {error}"),
    })
}
