//! Quality of service: who runs next, and which keys are held back.
//!
//! - [`FairScheduler`] hands out handler permits fairly across keys, and splits handler time
//!   between first attempts and retries.
//! - [`HotKeys`] notices a key that takes more than its share of handler time.
//! - [`FailureRate`] measures the share of recent attempts that failed, to gate deferral.
//!
//! Each is plain data behind a lock (the scheduler's uncontended path is an atomic word), with
//! no task of its own; the middleware layers use them.

#[cfg(feature = "bench")]
pub mod baseline;
mod decay;
mod failure_rate;
mod fair_queue;
mod hot_keys;
mod key_cache;
mod permit_counts;
mod sample;
mod scheduler;
mod waiters;
mod window;

pub use failure_rate::FailureRate;
pub use hot_keys::HotKeys;
pub use scheduler::{Acquire, Class, FairScheduler, Permit, SchedulerSettings};

/// Whether consumers subscribed now leave out the quality-of-service machinery; always false
/// outside benchmark builds (see `baseline`).
#[cfg(not(feature = "bench"))]
pub(crate) const fn baseline_enabled() -> bool {
    false
}

#[cfg(feature = "bench")]
pub(crate) use baseline::enabled as baseline_enabled;
