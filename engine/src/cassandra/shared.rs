//! One lazily connected, migrated session per set of connection settings, per process.
//!
//! The driver keeps a task per connection on the runtime that connects. A session is shared
//! by every consumer in the process, whichever runtime they run on (a test runtime per test,
//! the extension's runtime after a fork), so it connects on a runtime of its own: one small
//! background thread that lives as long as the process. Queries may be awaited from any
//! runtime. After a fork, the child's sessions and driver thread are new ones: the parent's
//! threads do not exist in the child.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::OnceCell;

use super::Cassandra;
use crate::config::Config;
use crate::error::{Error, Result};

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
            "{}|{:?}|{}|{:?}|{:?}|{:?}",
            std::process::id(),
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
        if let Some(cassandra) = self.cell.get() {
            return Ok(cassandra.clone());
        }
        let (config, cell) = (Arc::clone(&self.config), Arc::clone(&self.cell));
        let connect = async move {
            cell.get_or_try_init(|| async {
                let cassandra = Cassandra::connect(&config).await?;
                super::migrate::run(&cassandra).await?;
                Ok(cassandra)
            })
            .await
            .cloned()
        };
        driver()?
            .spawn(connect)
            .await
            .map_err(|error| Error::Cassandra {
                operation: "connect",
                reason: format!("the connecting task failed: {error}"),
            })?
    }
}

/// The runtime the driver's connection tasks run on; see the module docs.
fn driver() -> Result<Handle> {
    static DRIVER: Mutex<Option<(u32, Handle)>> = Mutex::new(None);
    let mut driver = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((owner, handle)) = driver.as_ref() {
        if *owner == pid {
            return Ok(handle.clone());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("prosody-cassandra")
        .enable_all()
        .build()
        .map_err(|error| Error::Cassandra {
            operation: "connect",
            reason: format!("could not start the driver's runtime: {error}"),
        })?;
    // Kept for the life of the process. A parent's runtime inherited by a forked child is
    // never dropped either: dropping it would wait for threads the child does not have.
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    let handle = runtime.handle().clone();
    *driver = Some((pid, handle.clone()));
    Ok(handle)
}
