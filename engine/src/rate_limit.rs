//! At most one warning per period for something that can fail many times a second (a store
//! retrying per key, events dropped one by one), with a count of the ones held back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Lets one event through per period and counts the ones it holds back. Lock-free, so it can
/// sit on paths that run per event; usable as a `static`.
pub(crate) struct RateLimit {
    period_ms: u64,
    /// Milliseconds since [`clock_start`] of the last event let through, plus one (0: never).
    last_ms: AtomicU64,
    held: AtomicU64,
}

impl RateLimit {
    pub(crate) const fn new(period: Duration) -> Self {
        Self {
            // Whole milliseconds fit: the periods used are seconds.
            #[allow(clippy::cast_possible_truncation)]
            period_ms: period.as_millis() as u64,
            last_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(events held back since the last one let through)` if an event now may go
    /// through, else `None` (and it is counted).
    pub(crate) fn admit(&self) -> Option<u64> {
        let elapsed = clock_start().elapsed().as_millis();
        self.admit_at(u64::try_from(elapsed).unwrap_or(u64::MAX).saturating_add(1))
    }

    /// [`RateLimit::admit`] at `now_ms` (at least 1) on the limiter's own clock.
    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now_ms.saturating_sub(last) >= self.period_ms;
        if due
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// A monotonic origin shared by every limiter in the process.
fn clock_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::RateLimit;
    use std::time::Duration;

    #[test]
    fn one_event_per_period_goes_through_with_a_count_of_the_rest() {
        let limit = RateLimit::new(Duration::from_secs(10));
        assert_eq!(limit.admit_at(1_000), Some(0));
        assert_eq!(limit.admit_at(1_500), None);
        assert_eq!(limit.admit_at(10_999), None);
        assert_eq!(limit.admit_at(11_000), Some(2));
        assert_eq!(limit.admit_at(11_001), None);
        assert_eq!(limit.admit_at(30_000), Some(1));
    }
}
