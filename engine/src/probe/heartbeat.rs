//! Heartbeats of the consumer's loops, for the liveness probe.
//!
//! A loop beats when it starts a turn of work and parks when it waits for something from
//! outside (a record, a due timer, the next load window). It has stalled when it has been at
//! work, without beating again, for longer than `stall_threshold`. Parking is what lets a loop
//! sleep for an hour (the timer loader between windows) without waking up just to prove it is
//! alive; a loop whose waits are always short (the poll loop) never parks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Stored in place of a beat while the loop is parked.
const PARKED: u64 = u64::MAX;

/// The last beat of one loop; see the module docs.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// Milliseconds since the process's heartbeat epoch (see `now_ms`) of the last beat, or
    /// [`PARKED`].
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    /// A heartbeat that has just beaten.
    fn default() -> Self {
        Self {
            last_ms: AtomicU64::new(now_ms()),
        }
    }
}

impl Heartbeat {
    /// The loop starts (or continues) a turn of work.
    pub(crate) fn beat(&self) {
        self.last_ms.store(now_ms(), Ordering::Release);
    }

    /// The loop waits for an outside event and cannot stall until it beats again.
    pub(crate) fn park(&self) {
        self.last_ms.store(PARKED, Ordering::Release);
    }

    /// How long the loop has been at work without a beat, if that is longer than `threshold`.
    pub(crate) fn stalled_for(&self, threshold: Duration) -> Option<Duration> {
        let last = self.last_ms.load(Ordering::Acquire);
        if last == PARKED {
            return None;
        }
        let silent = Duration::from_millis(now_ms().saturating_sub(last));
        (silent > threshold).then_some(silent)
    }
}

/// A monotonic clock shared by every heartbeat (and valid across `fork`: `Instant` is
/// system-wide).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_millis()).unwrap_or(PARKED - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_stalls_only_while_at_work_without_beating() {
        let hour = Duration::from_secs(3600);
        let heartbeat = Heartbeat::default();
        assert_eq!(heartbeat.stalled_for(hour), None);
        std::thread::sleep(Duration::from_millis(20));
        let silent = heartbeat.stalled_for(Duration::from_millis(10));
        assert!(
            silent.is_some_and(|s| s >= Duration::from_millis(20)),
            "{silent:?}"
        );
        heartbeat.beat();
        assert_eq!(heartbeat.stalled_for(hour), None);
        heartbeat.park();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            heartbeat.stalled_for(Duration::ZERO),
            None,
            "a parked loop waits, it is not stuck"
        );
    }
}
