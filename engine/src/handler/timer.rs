//! The event a handler receives when a timer comes due.

use std::time::SystemTime;

/// A timer firing for a key.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let timer = prosody_engine::Timer { key: "order-1".into(), time: UNIX_EPOCH + Duration::from_secs(60) };
/// assert_eq!(timer.key, "order-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The key the timer was scheduled for.
    pub key: String,
    /// When the timer was due.
    pub time: SystemTime,
}
