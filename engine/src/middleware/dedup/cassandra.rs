use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::coalesce::Coalescer;
use super::cql::{Lookup, Record, LIMITS};
use super::lookahead::Reads;
use super::{DedupKey, DedupStore, MemoryDedupStore};
use crate::cassandra::{Cassandra, SharedCassandra};
use crate::config::Config;
use crate::error::Result;

/// How long one dedup read or write may take before it fails, so a dead or unreachable node
/// costs a handler attempt seconds rather than the driver's 30-second default.
pub const DEDUP_REQUEST_TIMEOUT: Duration = crate::cassandra::REQUEST_TIMEOUT;

/// Handled events recorded in Cassandra's `dedup` table, behind an in-memory cache.
///
/// [`contains`](DedupStore::contains) answers from the cache (a [`MemoryDedupStore`] of
/// `cache_size` keys) when it can, without I/O, and otherwise reads the `dedup` row and caches
/// a hit. [`insert`](DedupStore::insert) writes the row with a TTL (`idempotence_ttl`), then
/// caches it, and returns only once Cassandra acknowledged the write. Each row's id is the 16
/// bytes of the [`DedupKey`], so records survive restarts and are shared by every consumer of
/// the group.
///
/// Concurrent reads that miss the cache are coalesced into one `SELECT ... WHERE id IN ?`, and
/// concurrent writes into one unlogged batch (see `coalesce.rs`): with many handlers in flight,
/// Cassandra answers a few large statements instead of two small ones per message.
///
/// [`prefetch`](DedupStore::prefetch) queues a key's read without waiting and parks the pending
/// answer for the key's next [`contains`](DedupStore::contains). The consumer calls it when a
/// message arrives, so the read overlaps the message's wait for its key's turn and a handler
/// permit. At most [`with_lookahead`](Self::with_lookahead) answers are parked, and the oldest
/// is dropped first. A `contains` that finds no parked answer reads Cassandra itself, and one
/// that finds a failed read fails as its own read would have. The cache is always asked first,
/// so an answer parked before an earlier message with the same key was recorded cannot hide
/// that record.
///
/// The session comes from a [`SharedCassandra`], so creating a store does no I/O: the first
/// lookup connects (and migrates). While Cassandra is unreachable, at start-up or later, every
/// read or write that misses the cache fails with an [`Error::Cassandra`](crate::Error::Cassandra) within about
/// [`DEDUP_REQUEST_TIMEOUT`], which the [`Dedup`](super::Dedup) layer turns into a transient
/// handler error; the next attempt tries again. Statements are prepared once per store.
///
/// ```
/// use prosody_engine::middleware::{CassandraDedupStore, DedupStore};
/// use prosody_engine::Config;
///
/// let config = Config::from_options_with_env(
///     [("cassandra_nodes", "127.0.0.1:9042"), ("idempotence_cache_size", "1024")],
///     |_| None,
/// )?;
/// // No I/O yet: the first lookup connects.
/// let store = CassandraDedupStore::from_config(&config);
/// assert_eq!(store.cache_capacity(), 1024);
/// # let _: &dyn DedupStore = &store;
/// # Ok::<(), prosody_engine::Error>(())
/// ```
pub struct CassandraDedupStore {
    cache: MemoryDedupStore,
    cache_capacity: usize,
    cassandra: SharedCassandra,
    ttl_seconds: u64,
    connected: OnceCell<Connected>,
    lookahead: usize,
}

/// Parked reads at most, unless [`CassandraDedupStore::with_lookahead`] says otherwise.
const LOOKAHEAD: usize = 1024;

/// The flush tasks over the connected session's prepared statements.
struct Connected {
    lookups: Reads<Lookup>,
    records: Coalescer<Record>,
}

impl CassandraDedupStore {
    /// A store on `cassandra` caching up to `cache_size` keys, whose rows expire after `ttl`
    /// (whole seconds, at least one).
    pub fn new(cassandra: SharedCassandra, cache_size: usize, ttl: Duration) -> Self {
        Self {
            cache: MemoryDedupStore::new(cache_size),
            cache_capacity: cache_size,
            cassandra,
            ttl_seconds: ttl.as_secs().max(1),
            connected: OnceCell::new(),
            lookahead: LOOKAHEAD,
        }
    }

    /// The same store, parking up to `capacity` (at least one) reads started by
    /// [`prefetch`](DedupStore::prefetch). A consumer has at most `max_uncommitted` messages
    /// received and not done, so that many keeps every early read until its message runs.
    #[must_use]
    pub fn with_lookahead(mut self, capacity: usize) -> Self {
        self.lookahead = capacity;
        self
    }

    /// A store on the process's session for `config`, with `idempotence_cache_size` and
    /// `idempotence_ttl`, parking up to `max_uncommitted` early reads.
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            Cassandra::shared(config),
            config.idempotence_cache_size,
            config.idempotence_ttl,
        )
        .with_lookahead(config.max_uncommitted)
    }

    /// How many keys the in-memory cache holds at most.
    pub fn cache_capacity(&self) -> usize {
        self.cache_capacity
    }

    async fn connected(&self) -> Result<&Connected> {
        self.connected
            .get_or_try_init(|| async {
                let cassandra = self.cassandra.get().await?;
                let keyspace = cassandra.keyspace();
                let select = format!("SELECT id FROM {keyspace}.dedup WHERE id IN ?");
                let insert = format!("INSERT INTO {keyspace}.dedup (id) VALUES (?) USING TTL ?");
                let select = cassandra.prepare(&select).await?;
                let insert = cassandra.prepare(&insert).await?;
                let lookup = Lookup {
                    cassandra: cassandra.clone(),
                    select,
                };
                let record = Record {
                    cassandra,
                    insert,
                    ttl_seconds: self.ttl_seconds,
                };
                Ok(Connected {
                    lookups: Reads::new(Coalescer::start(lookup, LIMITS)?, self.lookahead),
                    records: Coalescer::start(record, LIMITS)?,
                })
            })
            .await
    }

    async fn read(&self, key: DedupKey) -> Result<bool> {
        if self.cache.contains(key).await? {
            return Ok(true);
        }
        let found = self.connected().await?.lookups.read(key).await?;
        if found {
            self.cache.insert(key).await?;
        }
        Ok(found)
    }

    async fn write(&self, key: DedupKey) -> Result<()> {
        self.connected().await?.records.call(key).await?;
        self.cache.insert(key).await
    }
}

impl fmt::Debug for CassandraDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraDedupStore")
            .field("cassandra", &self.cassandra)
            .field("cache", &self.cache)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("lookahead", &self.lookahead)
            .field("connected", &self.connected.initialized())
            .finish()
    }
}

impl DedupStore for CassandraDedupStore {
    fn prefetches(&self) -> bool {
        true
    }

    fn prefetch(&self, key: DedupKey) {
        // Before the first read connected there is no flush task to queue on without waiting;
        // a cached key needs no read.
        let Some(connected) = self.connected.get() else {
            return;
        };
        if self.cache.holds(key) {
            return;
        }
        connected.lookups.start(key);
    }

    fn contains(&self, key: DedupKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.read(key))
    }

    fn insert(&self, key: DedupKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(key))
    }
}
