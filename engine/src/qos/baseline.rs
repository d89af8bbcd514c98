//! The yardstick the quality-of-service layers are measured against (benchmark builds only).
//!
//! With the switch on, a consumer subscribed afterwards takes one plain semaphore permit per
//! event and holds it through every attempt, and its stack has neither the [`Qos`] layer nor
//! deferral: pipeline mode retries in place for ever, as it did before fair scheduling. Nothing
//! else changes, so a benchmark that runs the same case with the switch off and on, side by
//! side, measures what fair scheduling, hot-key protection and the failure-rate gate cost.
//!
//! [`Qos`]: crate::middleware::Qos

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the yardstick on or off for consumers subscribed from now on.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether consumers subscribed now use the yardstick.
#[must_use]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}
