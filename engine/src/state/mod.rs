//! Keyed state: per-key values, maps, sets and deques that commit with the event.
//!
//! Every Kafka key of a consumer group gets its own durable collections. A handler reads and
//! writes them through one [`StateTxn`] per event; the event's writes become visible to other
//! events only when [`StateTxn::commit`] applies them, all at once, together with the event's
//! marker, so a redelivered message is recognised as applied and a failed one leaves nothing.
//!
//! - [`Definition`]: a collection's name, [`StateKind`], [`Payload`] and validated
//!   [`Options`]; [`Registry`]: a client's collections, checked together.
//! - [`StateTxn`]: one event's transaction; [`ScanQuery`] for ordered map and set scans.
//! - [`StateHandle`]: how a handler reaches its event's transaction
//!   ([`Context::state`](crate::Context::state)) when its consumer registered collections.
//! - [`StateStore`]: where state persists, as cells ([`CellKey`]) and a per-key [`Head`];
//!   [`MemoryStateStore`] in mock mode, [`CassandraStateStore`] otherwise.
//!
//! # One atomic step per event
//!
//! All collections of one (group, key) live in one store partition, beside the key's head:
//! a commit sequence number, the epoch of the owner that last wrote, the last applied offset
//! per source partition, and each collection's generation. A commit is one conditional write
//! to that partition: it applies only if the head still has the sequence and epoch the event
//! read, and it moves the cells, the marker and the epoch together. Nothing can be half
//! applied, and nothing needs recovering later.
//!
//! # Fencing
//!
//! Each owner of a partition gets an epoch from [`StateStore::claim`], greater than every
//! earlier one. A transaction whose key was last written under a newer epoch fails with
//! [`StateError::Fenced`] when it starts, and a commit that lost a race to a newer owner fails
//! the same way, so a zombie owner (one whose session timed out) never overwrites its
//! successor. A commit that lost a race to the same epoch fails with [`StateError::Conflict`],
//! and the event is retried on fresh reads.
//!
//! # Identity
//!
//! The first use of a collection by a group pins its kind and format (such as `map:bytes`);
//! a later deploy declaring another fails with [`StateError::IdentityMismatch`] instead of
//! misreading the data. Options are not part of the identity.

mod cassandra;
mod cell;
mod definition;
mod error;
mod event;
mod memory;
mod query;
mod registry;
mod store;
mod txn;
mod value;

pub use cassandra::CassandraStateStore;
pub use cell::{CellKey, CellScan, CellWrite, Commit, EventRef, Head, ItemBound, ItemRows};
pub use definition::{
    Definition, DefinitionBuilder, Options, Payload, StateKind, MAX_KEYSET_LIMIT, MAX_NAME_BYTES,
    MAX_TTL_SECS,
};
pub use error::StateError;
pub(crate) use event::{ConsumerState, EventId, EventState, PartitionState};
pub use event::{StateGuard, StateHandle};
pub use memory::MemoryStateStore;
pub use query::ScanQuery;
pub use registry::Registry;
pub use store::StateStore;
pub use txn::{Outcome, StateTxn, TxnScope};
pub use value::{MessageRef, StateValue};
