//! Quality of service: who runs next, and which keys are held back.
//!
//! - [`FairScheduler`] hands out handler permits fairly across keys, and splits handler time
//!   between first attempts and retries.
//! - [`HotKeys`] notices a key that takes more than its share of handler time.
//! - [`FailureRate`] measures the share of recent attempts that failed, to gate deferral.
//!
//! Each is plain data behind a lock, with no task of its own; the middleware layers use them.

mod decay;
mod failure_rate;
mod fair_queue;
mod hot_keys;
mod key_cache;
mod sample;
mod scheduler;
mod waiters;
mod window;

pub use failure_rate::FailureRate;
pub use hot_keys::HotKeys;
pub use scheduler::{Acquire, Class, FairScheduler, Permit, SchedulerSettings};
