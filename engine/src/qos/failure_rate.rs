//! The share of recent handler attempts that failed, over a rolling window.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::window::{Tally, Window};

/// Counts successes and failures of every handler attempt over a rolling window, in fixed
/// memory. Deferral asks it whether failures are rare enough to defer (a few bad keys) or so
/// common that something shared is down (then retrying in place, and so pausing, is right).
#[derive(Debug)]
pub struct FailureRate {
    window: Mutex<Window<Outcomes>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Outcomes {
    succeeded: f64,
    failed: f64,
}

impl Tally for Outcomes {
    fn plus(self, other: Self) -> Self {
        Self {
            succeeded: self.succeeded + other.succeeded,
            failed: self.failed + other.failed,
        }
    }

    fn scaled(self, share: f64) -> Self {
        Self {
            succeeded: self.succeeded * share,
            failed: self.failed * share,
        }
    }
}

impl FailureRate {
    /// Measures over `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window: Mutex::new(Window::new(Instant::now(), window)),
        }
    }

    /// Records one attempt's result at `now`.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let outcome = if succeeded {
            Outcomes {
                succeeded: 1.0,
                failed: 0.0,
            }
        } else {
            Outcomes {
                succeeded: 0.0,
                failed: 1.0,
            }
        };
        self.lock().add(now, outcome);
    }

    /// `failures / (failures + successes)` over the window ending at `now`; 0 with no attempts.
    #[must_use]
    pub fn rate(&self, now: Instant) -> f64 {
        let total = self.lock().total(now);
        let attempts = total.succeeded + total.failed;
        if attempts > 0.0 {
            total.failed / attempts
        } else {
            0.0
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window<Outcomes>> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_follows_the_window() {
        let rate = FailureRate::new(Duration::from_secs(16));
        let start = Instant::now();
        assert_eq!(rate.rate(start), 0.0);
        for n in 0..10 {
            rate.record(n < 9, start);
        }
        assert!((rate.rate(start) - 0.1).abs() < 1e-9);

        let later = start + Duration::from_secs(8);
        for _ in 0..90 {
            rate.record(false, later);
        }
        assert!((rate.rate(later) - 0.91).abs() < 1e-9);
        // Once the first burst leaves the window only the failures remain.
        assert!((rate.rate(start + Duration::from_secs(20)) - 1.0).abs() < 1e-9);
        assert_eq!(rate.rate(start + Duration::from_secs(60)), 0.0);
    }
}
