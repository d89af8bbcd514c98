//! The [`StateStore`] trait: where keyed state persists.

use futures::future::BoxFuture;

use super::cell::{CellKey, CellScan, Commit, Head, ItemRows};
use crate::error::Result;

/// Durable keyed state, per (consumer group, key).
///
/// A store knows cells, not collections: the transaction ([`StateTxn`](super::StateTxn)) maps
/// values, maps, sets and deques onto cells, so every store behaves the same. All of one key's
/// cells and its [`Head`] live together, and [`StateStore::commit`] applies a [`Commit`]'s cells,
/// generations, event marker and epoch in one atomic step, conditional on the head being
/// unchanged since the transaction read it.
///
/// Errors are transient [`Error::Cassandra`](crate::Error::Cassandra) for an unreachable store,
/// or [`StateError`](super::StateError)s: `Conflict` and `Fenced` from `commit`,
/// `IdentityMismatch` from `pin`.
///
/// ```
/// use prosody_engine::state::{CellKey, CellWrite, Commit, MemoryStateStore, StateStore};
///
/// # futures::executor::block_on(async {
/// let store = MemoryStateStore::default();
/// let epoch = store.claim("billing", "orders", 0).await?;
/// let cell = CellKey { name: "total".into(), generation: 0, section: 1, item: Vec::new() };
/// let commit = Commit {
///     expected_seq: 0,
///     expected_epoch: 0,
///     epoch,
///     event: None,
///     generations: Vec::new(),
///     cells: vec![CellWrite { cell: cell.clone(), data: Some(b"7".to_vec()), ttl: None }],
///     head_ttl: None,
/// };
/// store.commit("billing", "customer-7", &commit).await?;
/// assert_eq!(store.get("billing", "customer-7", &cell).await?, Some(b"7".to_vec()));
/// assert_eq!(store.head("billing", "customer-7").await?.seq, 1);
/// # Ok::<(), prosody_engine::Error>(()) }).unwrap();
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Pins `name`'s `identity` (such as `map:bytes`) for `group` on first use, or checks it
    /// against the pinned one. Stores remember identities they checked, so this is cheap after
    /// the first call.
    ///
    /// # Errors
    ///
    /// [`StateError::IdentityMismatch`](super::StateError::IdentityMismatch) when the group
    /// pinned another identity.
    fn pin<'a>(
        &'a self,
        group: &'a str,
        name: &'a str,
        identity: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    /// Takes ownership of `group`'s `topic`/`partition`: returns an epoch greater than every
    /// epoch returned before for it, by any process. Called once per partition assignment.
    fn claim<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        partition: i32,
    ) -> BoxFuture<'a, Result<i64>>;

    /// The key's head; the default head (seq 0) when the key has none.
    fn head<'a>(&'a self, group: &'a str, key: &'a str) -> BoxFuture<'a, Result<Head>>;

    /// A cell's committed data, `None` when absent or expired.
    fn get<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        cell: &'a CellKey,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Committed items and data of one section, in item byte order (or reverse).
    fn scan<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        scan: &'a CellScan,
    ) -> BoxFuture<'a, Result<ItemRows>>;

    /// Applies `commit` atomically if the key's head still has its expected seq and epoch.
    ///
    /// # Errors
    ///
    /// [`StateError::Fenced`](super::StateError::Fenced) when a newer epoch committed to the
    /// key, [`StateError::Conflict`](super::StateError::Conflict) when another commit of the
    /// same or an older epoch did; nothing of `commit` is applied in either case.
    fn commit<'a>(
        &'a self,
        group: &'a str,
        key: &'a str,
        commit: &'a Commit,
    ) -> BoxFuture<'a, Result<()>>;
}
