//! Per-key persistent timers.
//!
//! A handler schedules a timer for the key it is handling; when the timer comes due, the
//! consumer that owns the key's partition calls the handler's `on_timer` through the same
//! per-key queue as messages, so a key's timers and messages never run at once.
//!
//! - [`TimerTime`]: whole seconds since the epoch.
//! - [`TimerStore`]: where timers persist, per [`TimerSegment`] (group, topic, partition);
//!   [`MemoryTimerStore`] in mock mode, [`CassandraTimerStore`] otherwise.

mod cassandra;
mod memory;
mod store;
mod time;

pub use cassandra::CassandraTimerStore;
pub use memory::MemoryTimerStore;
pub use store::{TimerSegment, TimerStore};
pub use time::{TimerTime, TimerTimeError};
