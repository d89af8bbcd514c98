//! Hot-key detection: a key whose handlers take more than a set share of a rolling window.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::key_cache::{KeyCache, KeyHash, KeyHashSet, KeyHasher};
use super::sample;
use super::window::{BucketClock, Window};

/// Handler time per key over a rolling window, for at most a set number of keys (the least
/// recently active are forgotten first). Memory per key is fixed, however often it runs.
///
/// A key's share of the window grows only when a run is recorded and shrinks as time passes,
/// so recording a run settles whether the key is hot until its next run. The keys hot as of
/// their last run are kept apart, and [`HotKeys::hot_share`] answers for every other key
/// without a lock or a clock read: with no hot key (the usual case) that is one atomic load.
#[derive(Debug)]
pub struct HotKeys {
    threshold: f64,
    /// Runs shorter than this are recorded by sampling.
    grain: Duration,
    clock: BucketClock,
    hasher: KeyHasher,
    state: Mutex<State>,
    /// `state.hot.len()`, readable without the lock. Read by every attempt and written only
    /// when a key turns hot or cools, so it gets a cache line of its own, away from the lock.
    hot_count: CacheLine<AtomicUsize>,
}

/// A value alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(128))]
struct CacheLine<T>(T);

#[derive(Debug)]
struct State {
    keys: KeyCache<Usage>,
    /// Keys over the threshold as of their last recorded run (or since forgotten).
    hot: KeyHashSet,
}

/// A key's handler time, and when its latest recorded run ended.
#[derive(Debug, Default)]
#[repr(C)] // what a run updates, first
struct Usage {
    /// No run of the key recorded so far ended later.
    last_end: Option<Instant>,
    window: Window<f64>,
}

impl HotKeys {
    /// Tracks up to `capacity` keys; a key is hot once its handler time inside `window` exceeds
    /// `threshold` (0 to 1) of it.
    #[must_use]
    pub fn new(window: Duration, threshold: f64, capacity: usize) -> Self {
        let origin = Instant::now();
        Self {
            threshold,
            grain: grain(window, threshold),
            clock: BucketClock::new(origin, window),
            hasher: KeyHasher::default(),
            state: Mutex::new(State {
                keys: KeyCache::new(capacity),
                hot: KeyHashSet::default(),
            }),
            hot_count: CacheLine::default(),
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
        self.clock.length()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a handler for `key` ran from `started` to `ended`.
    ///
    /// A run shorter than a thousandth of the time that makes a key hot (`threshold` of the
    /// window) is recorded by sampling (unbiased, see `qos/sample.rs`): usually not at all, and
    /// sometimes as that thousandth, ending at `ended`. A key's share is then known to within
    /// about 3% by the time it crosses the threshold.
    pub fn record(&self, key: &str, started: Instant, ended: Instant) {
        let Some(ran) = sample::recorded(ended.saturating_duration_since(started), self.grain)
        else {
            return;
        };
        let started = ended.checked_sub(ran).unwrap_or(started);
        let key = self.hasher.hash(key);
        let clock = &self.clock;
        let started = started.max(ended.checked_sub(clock.length()).unwrap_or(started));
        let (first, last) = (clock.bucket_of(started), clock.bucket_of(ended));
        let mut state = self.lock();
        let usage = state.keys.get_or_insert_with(key, Usage::default);
        // A later run of the key may have been recorded first (runs of one key in different
        // partitions overlap): judge as of the latest end, since no bucket holds time after it.
        let latest = usage.last_end.map_or(ended, |last| last.max(ended));
        usage.last_end = Some(latest);
        let usage = &mut usage.window;
        if first == last {
            usage.add_to(
                first,
                ended.saturating_duration_since(started).as_secs_f64(),
            );
        } else {
            // Spread the run over the buckets it spans, so a long run ages out piece by piece.
            let mut from = started;
            for bucket in first..=last {
                let to = clock.start_of(bucket + 1).min(ended);
                usage.add_to(bucket, to.saturating_duration_since(from).as_secs_f64());
                from = to;
            }
        }
        // Only if every bucket kept could add up to more than the threshold.
        let hot = usage.upper_bound() > self.threshold * clock.length().as_secs_f64()
            && self.share_of(usage, latest) > self.threshold;
        let changed = if hot {
            state.hot.insert(key)
        } else {
            state.hot.remove(&key)
        };
        if changed {
            self.hot_count.0.store(state.hot.len(), Ordering::Release);
        }
    }

    /// The share (0 to 1) of the window ending at `now` that `key`'s handlers took.
    #[must_use]
    pub fn share(&self, key: &str, now: Instant) -> f64 {
        let key = self.hasher.hash(key);
        self.lock()
            .keys
            .peek(key)
            .map_or(0.0, |usage| self.share_of(&usage.window, now))
    }

    /// Whether `key` took more than the threshold's share of the window ending at `now`.
    #[must_use]
    pub fn is_hot(&self, key: &str, now: Instant) -> bool {
        self.share(key, now) > self.threshold
    }

    /// `key`'s share of the window ending now if it is over the threshold; `None` otherwise.
    /// Reads the clock only for a key that was hot as of its last run.
    #[must_use]
    pub fn hot_share(&self, key: &str) -> Option<f64> {
        if self.hot_count.0.load(Ordering::Acquire) == 0 {
            return None;
        }
        let key: KeyHash = self.hasher.hash(key);
        let mut state = self.lock();
        if !state.hot.contains(&key) {
            return None;
        }
        let now = Instant::now();
        let share = state
            .keys
            .peek(key)
            .map_or(0.0, |usage| self.share_of(&usage.window, now));
        if share > self.threshold {
            return Some(share);
        }
        // Cooled down (or forgotten); it stays cool until its next run is recorded.
        state.hot.remove(&key);
        self.hot_count.0.store(state.hot.len(), Ordering::Release);
        None
    }

    /// The share (0 to 1) of the window that `usage` holds as of `now`.
    fn share_of(&self, usage: &Window<f64>, now: Instant) -> f64 {
        usage.total(&self.clock, now) / self.clock.length().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// A thousandth of the handler time that makes a key hot.
fn grain(window: Duration, threshold: f64) -> Duration {
    let share = if threshold.is_finite() {
        threshold.clamp(0.0, 1.0)
    } else {
        0.0
    };
    window.mul_f64(share / 1000.0)
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
        let key = "k";
        let start = Instant::now();
        hot.record(key, start, start + ms(590));

        // 590 ms of a 2 s window is just under 0.3 (exactly 600 ms could round either way once
        // split over buckets).
        assert!(!hot.is_hot("k", start + ms(590)));
        hot.record(key, start + ms(700), start + ms(800));
        assert!(hot.is_hot("k", start + ms(800)));
        assert!(!hot.is_hot("other", start + ms(800)));
    }

    #[test]
    fn many_short_runs_add_up_as_if_each_were_recorded() {
        // 50 µs runs are a tenth of this setting's grain (0.5 ms), so most go unrecorded.
        let hot = HotKeys::new(ms(1000), 0.5, 16);
        let start = Instant::now();
        let run = Duration::from_micros(50);
        // "busy" runs 80% of the window, "light" 20%.
        for i in 0..20_000_u32 {
            let at = start + run * i;
            if i % 5 != 0 {
                hot.record("busy", at, at + run);
            }
            if i % 5 == 0 {
                hot.record("light", at, at + run);
            }
        }
        let end = start + ms(1000);
        let (busy, light) = (hot.share("busy", end), hot.share("light", end));
        assert!((busy - 0.8).abs() < 0.1, "busy share {busy}");
        assert!((light - 0.2).abs() < 0.06, "light share {light}");
        assert!(hot.is_hot("busy", end) && !hot.is_hot("light", end));
    }

    #[test]
    fn old_runs_age_out_of_the_window() {
        let hot = HotKeys::new(ms(1600), 0.5, 16);
        let key = "k";
        let start = Instant::now();
        hot.record(key, start, start + ms(1000));
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
            hot.record(key, start, start + ms(500));
        }
        assert_eq!(hot.share("a", start + ms(500)), 0.0);
        assert!(hot.is_hot("c", start + ms(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn hot_share_answers_for_keys_hot_as_of_their_last_run_until_they_cool() {
        let hot = HotKeys::new(ms(1600), 0.5, 16);
        let start = Instant::now();
        hot.record("k", start, start + ms(1000));
        hot.record("cool", start, start + ms(100));
        tokio::time::advance(ms(1000)).await;

        let share = hot.hot_share("k").expect("k is hot");
        assert!((share - 0.625).abs() < 0.01, "share {share}");
        assert_eq!(hot.hot_share("cool"), None);
        assert_eq!(hot.hot_share("unknown"), None);

        // By 2,400 ms only about 200 ms of the run is left in the window.
        tokio::time::advance(ms(1400)).await;
        assert_eq!(hot.hot_share("k"), None);
        assert_eq!(hot.hot_count.0.load(Ordering::Acquire), 0);
    }
}
