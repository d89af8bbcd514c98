//! Where deferred retries persist: each key's backlog of offsets waiting to be retried.
//!
//! When a key fails transiently in pipeline mode, its message's offset is set aside in the
//! key's backlog so the partition's offsets can commit past it; later messages of that key join
//! the backlog behind it, in offset order, instead of running. A deferred retry reloads the
//! head of the backlog from Kafka and runs it again.
//!
//! # The backlog lives in memory; the store is written through
//!
//! A consumer reads a partition's whole backlog once, with [`DeferStore::load`], when the
//! partition is assigned to it, and from then on answers "is this key deferred?" from memory,
//! never with a store read per message. Every change ([`DeferStore::append`],
//! [`DeferStore::reschedule`], [`DeferStore::remove`]) is written to the store before the
//! consumer acts on it, so a consumer that takes the partition over (after a rebalance or a
//! restart) loads the same backlog, with each key's retry count and next retry time. Retries are
//! scheduled from that in-memory backlog, not through the timer store.
//!
//! Segments are the timers' [`TimerSegment`]s (group, topic, partition): the partition's owner
//! is the only writer of its segment.
//!
//! - [`DeferStore`]: the trait; an error means the store could not answer and is transient.
//! - [`MemoryDeferStore`]: in process memory, shared by every consumer of the process (mock
//!   mode).
//! - [`CassandraDeferStore`]: in Cassandra (the `deferred_offsets` and `deferred_keys` tables).
//!
//! [`TimerSegment`]: crate::TimerSegment

mod cassandra;
mod memory;
mod store;

pub use cassandra::CassandraDeferStore;
pub use memory::MemoryDeferStore;
pub use store::{Backlog, DeferStore, DeferredTimer};
