//! Hot-key detection: a key whose handlers take more than a set share of a rolling window.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

use super::window::Window;

/// Handler time per key over a rolling window, for at most a set number of keys (the least
/// recently active are forgotten first). Memory per key is fixed, however often it runs.
#[derive(Debug)]
pub struct HotKeys {
    window: Duration,
    threshold: f64,
    origin: Instant,
    keys: Mutex<LruCache<Arc<str>, Window<f64>, foldhash::fast::RandomState>>,
}

impl HotKeys {
    /// Tracks up to `capacity` keys; a key is hot once its handler time inside `window` exceeds
    /// `threshold` (0 to 1) of it.
    #[must_use]
    pub fn new(window: Duration, threshold: f64, capacity: usize) -> Self {
        Self {
            window,
            threshold,
            origin: Instant::now(),
            keys: Mutex::new(LruCache::with_hasher(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
                foldhash::fast::RandomState::default(),
            )),
        }
    }

    /// The share of the window above which a key is hot.
    #[must_use]
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The rolling window.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records that a handler for `key` ran from `started` to `ended`.
    pub fn record(&self, key: &Arc<str>, started: Instant, ended: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let (origin, window) = (self.origin, self.window);
        let usage = keys.get_or_insert_mut(Arc::clone(key), || Window::new(origin, window));
        // Spread the run over the buckets it spans, so a long run ages out piece by piece.
        let started = started.max(ended.checked_sub(usage.length()).unwrap_or(started));
        let mut from = started;
        while from < ended {
            let next = usage.start_of(usage.bucket_of(from) + 1).min(ended);
            if next <= from {
                break;
            }
            usage.add(from, (next - from).as_secs_f64());
            from = next;
        }
    }

    /// The share (0 to 1) of the window ending at `now` that `key`'s handlers took.
    #[must_use]
    pub fn share(&self, key: &str, now: Instant) -> f64 {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.peek(key).map_or(0.0, |usage| {
            usage.total(now) / usage.length().as_secs_f64().max(f64::MIN_POSITIVE)
        })
    }

    /// Whether `key` took more than the threshold's share of the window ending at `now`.
    #[must_use]
    pub fn is_hot(&self, key: &str, now: Instant) -> bool {
        self.share(key, now) > self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_key_over_its_share_of_the_window_is_hot() {
        let hot = HotKeys::new(ms(2000), 0.3, 16);
        let key: Arc<str> = "k".into();
        let start = Instant::now();
        hot.record(&key, start, start + ms(600));

        // 600 ms of a 2 s window is exactly 0.3: not over the threshold yet.
        assert!(!hot.is_hot("k", start + ms(600)));
        hot.record(&key, start + ms(700), start + ms(800));
        assert!(hot.is_hot("k", start + ms(800)));
        assert!(!hot.is_hot("other", start + ms(800)));
    }

    #[test]
    fn old_runs_age_out_of_the_window() {
        let hot = HotKeys::new(ms(1600), 0.5, 16);
        let key: Arc<str> = "k".into();
        let start = Instant::now();
        hot.record(&key, start, start + ms(1000));
        assert!(hot.is_hot("k", start + ms(1000)));

        // 1,000 ms of work, then idle: by 2,400 ms only the last 200 ms of it is in the window.
        let share = hot.share("k", start + ms(2400));
        assert!((share - 0.125).abs() < 0.07, "share {share}");
        assert!(!hot.is_hot("k", start + ms(2400)));
        assert!(hot.share("k", start + ms(5000)).abs() < 1e-9);
    }

    #[test]
    fn forgets_the_least_recently_active_keys_past_capacity() {
        let hot = HotKeys::new(ms(1000), 0.1, 2);
        let start = Instant::now();
        for key in ["a", "b", "c"] {
            hot.record(&key.into(), start, start + ms(500));
        }
        assert_eq!(hot.share("a", start + ms(500)), 0.0);
        assert!(hot.is_hot("c", start + ms(500)));
    }
}
