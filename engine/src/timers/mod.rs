//! Per-key persistent timers.
//!
//! A handler schedules a timer for the key it is handling; when the timer comes due, the
//! consumer that owns the key's partition calls the handler's `on_timer` through the same
//! per-key queue as messages, so a key's timers and messages never run at once.
//!
//! - [`TimerTime`]: whole seconds since the epoch.
//! - [`TimerStore`]: where timers persist, per [`TimerSegment`] (group, topic, partition);
//!   [`MemoryTimerStore`] in mock mode, [`CassandraTimerStore`] otherwise.
//! - `PartitionTimers` and its loader and scheduler tasks: an owned partition's timers at run
//!   time (see `partition.rs` and `tasks.rs`).
//! - `DeferredTimers`: how those timers see the ones waiting in a deferred key's backlog,
//!   which the consumer owns (see `deferred.rs`).

mod cassandra;
mod deferred;
mod memory;
mod partition;
mod store;
pub(crate) mod tasks;
mod time;

pub use cassandra::CassandraTimerStore;
pub use memory::MemoryTimerStore;
pub use store::{TimerSegment, TimerStore};
pub use time::{TimerTime, TimerTimeError};

pub(crate) use deferred::DeferredTimers;
pub(crate) use partition::PartitionTimers;
pub(crate) use tasks::DueTimer;
