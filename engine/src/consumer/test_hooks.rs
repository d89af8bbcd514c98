//! Hooks that let tests drive a mock-mode consumer instead of waiting on the clock.
//!
//! They refuse to run against a real cluster: firing a timer early there would break what
//! its owner relied on (a timer fires at or after its time), and on real Kafka a test can
//! wait instead.

use std::future::Future;
use std::sync::Arc;

use super::Consumer;
use crate::error::{Error, Result};

impl Consumer {
    /// Fires every timer `key` has in this consumer's owned partitions now, through the same
    /// path as a due timer (per-key queue, middleware, the handler's `on_timer` with the
    /// timer's own time), and returns how many were queued. Mock mode only: a test of timer
    /// logic runs in milliseconds instead of waiting until the timer is due.
    ///
    /// A timer that is firing already is not counted. Timers in a partition this consumer does
    /// not own (yet) are not seen, so a test fires them once the consumer has its assignment.
    ///
    /// # Errors
    ///
    /// [`Error::Timer`] outside mock mode, or if the timer store cannot list the key's timers.
    ///
    /// ```no_run
    /// # async fn demo(consumer: prosody_engine::Consumer) -> prosody_engine::Result<()> {
    /// let fired = consumer.fire_timers("order-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The partitions are those owned when it is called; the future borrows nothing from the
    /// consumer, so a caller can start it and wait elsewhere.
    pub fn fire_timers(&self, key: &str) -> impl Future<Output = Result<usize>> + Send + 'static {
        let key: Arc<str> = key.into();
        let owned: Option<Vec<_>> = self.shared.settings.mock.then(|| {
            self.shared
                .partitions()
                .values()
                .map(|handle| Arc::clone(&handle.timers))
                .collect()
        });
        async move {
            let Some(owned) = owned else {
                return Err(Error::Timer {
                    operation: "fire",
                    key: key.to_string(),
                    reason: "firing timers on demand is a test hook of mock mode (`mock: true`)"
                        .into(),
                });
            };
            let mut fired = 0;
            for timers in owned {
                fired += timers.fire_now(&key).await?;
            }
            Ok(fired)
        }
    }

    /// Whether `key` is deferred in one of this consumer's owned partitions: a failure of it
    /// was parked in the key's backlog, to be retried later, and the key's later events queue
    /// behind it. Always false outside pipeline mode or with `defer_enabled: false`.
    ///
    /// ```no_run
    /// # fn demo(consumer: &prosody_engine::Consumer) {
    /// if consumer.is_deferred("order-1") {
    ///     println!("order-1 waits for its deferred retry");
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn is_deferred(&self, key: &str) -> bool {
        self.shared
            .partitions()
            .values()
            .filter_map(|handle| handle.backlogs.as_ref())
            .any(|backlogs| backlogs.holds(key))
    }
}
