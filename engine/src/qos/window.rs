//! A rolling time window split into a fixed number of buckets, so that tracking it costs the
//! same however many events arrive.

use std::time::Duration;

use tokio::time::Instant;

/// Buckets per window. One more is kept: the bucket straddling the window's start, counted by
/// the share of it still inside the window.
pub(crate) const BUCKETS: usize = 16;
pub(crate) const SLOTS: usize = BUCKETS + 1;

/// Splits time since `origin` into buckets of `width`: the arithmetic every rolling window
/// here shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketClock {
    origin: Instant,
    width: Duration,
    /// `width` in nanoseconds, at least 1.
    width_nanos: u64,
}

impl BucketClock {
    /// `BUCKETS` buckets per `window`, counted from now.
    pub(crate) fn new(origin: Instant, window: Duration) -> Self {
        let buckets = u32::try_from(BUCKETS).unwrap_or(u32::MAX);
        let width = (window / buckets).max(Duration::from_micros(1));
        Self {
            origin,
            width,
            width_nanos: u64::try_from(width.as_nanos()).unwrap_or(u64::MAX).max(1),
        }
    }

    /// The bucket holding `at`.
    pub(crate) fn bucket_of(&self, at: Instant) -> u64 {
        // In u64 nanoseconds (enough for 584 years): this runs for every handler attempt, and
        // a u128 division costs several times a u64 one.
        let since =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        (since / self.width_nanos).min(u64::MAX - 1)
    }

    /// When bucket `bucket` starts.
    pub(crate) fn start_of(&self, bucket: u64) -> Instant {
        let offset = self
            .width
            .checked_mul(u32::try_from(bucket).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        self.origin.checked_add(offset).unwrap_or(self.origin)
    }

    /// The window ending at `now`: its oldest and newest buckets, and the share (0 to 1) of the
    /// oldest still inside it. The oldest is the one straddling the window's start.
    pub(crate) fn span(&self, now: Instant) -> (u64, u64, f64) {
        let newest = self.bucket_of(now);
        let buckets = u64::try_from(BUCKETS).unwrap_or(u64::MAX);
        let oldest = newest.saturating_sub(buckets);
        let into_newest = now.saturating_duration_since(self.start_of(newest));
        let share = if oldest + buckets == newest {
            (1.0 - into_newest.as_secs_f64() / self.width.as_secs_f64()).clamp(0.0, 1.0)
        } else {
            1.0
        };
        (oldest, newest, share)
    }

    /// The window's length.
    pub(crate) fn length(&self) -> Duration {
        self.width * u32::try_from(BUCKETS).unwrap_or(u32::MAX)
    }
}

/// Sums of `T` per bucket over the last window of a [`BucketClock`], which the caller keeps
/// (one clock serves many windows).
// `kept` first: with the key's cache entry, an update reads it on the line it already loads.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Window<T> {
    /// The sum over every slot, stale ones included.
    kept: T,
    /// `(bucket number since origin, sum)`; a slot holds the bucket `n` with `n % SLOTS` equal
    /// to its index, or stale data from an older one.
    slots: [(u64, T); SLOTS],
}

/// What a bucket adds up.
pub(crate) trait Tally: Copy + Default {
    /// Adds another bucket's (or event's) tally.
    fn plus(self, other: Self) -> Self;
    /// Scales a tally by `share` (0 to 1), for the bucket straddling the window's start.
    fn scaled(self, share: f64) -> Self;
}

impl<T: Tally> Default for Window<T> {
    fn default() -> Self {
        Self {
            slots: [(0, T::default()); SLOTS],
            kept: T::default(),
        }
    }
}

impl<T: Tally> Window<T> {
    /// Adds `value` to bucket `bucket` (see [`BucketClock::bucket_of`]).
    pub(crate) fn add_to(&mut self, bucket: u64, value: T) {
        let slot = &mut self.slots[index(bucket)];
        if slot.0 == bucket {
            slot.1 = slot.1.plus(value);
            self.kept = self.kept.plus(value);
        } else {
            *slot = (bucket, value);
            // Summed afresh once per bucket, so no rounding builds up.
            self.kept = self
                .slots
                .iter()
                .fold(T::default(), |sum, (_, value)| sum.plus(*value));
        }
    }

    /// The sum over `[now - window, now]`.
    pub(crate) fn total(&self, clock: &BucketClock, now: Instant) -> T {
        let (oldest, newest, oldest_share) = clock.span(now);
        self.slots
            .iter()
            .filter(|(bucket, _)| *bucket >= oldest && *bucket <= newest)
            .fold(T::default(), |sum, (bucket, value)| {
                let value = if *bucket == oldest {
                    value.scaled(oldest_share)
                } else {
                    *value
                };
                sum.plus(value)
            })
    }

    /// The sum over every bucket kept, stale ones included: for non-negative values, at least
    /// [`Window::total`] at any time (up to rounding), without reading every bucket.
    pub(crate) fn upper_bound(&self) -> T {
        self.kept
    }
}

/// The slot (of `BUCKETS + 1`) that bucket `bucket` uses.
pub(crate) fn index(bucket: u64) -> usize {
    let slots = u64::try_from(SLOTS).unwrap_or(u64::MAX);
    usize::try_from(bucket % slots).unwrap_or(0)
}

impl Tally for f64 {
    fn plus(self, other: Self) -> Self {
        self + other
    }

    fn scaled(self, share: f64) -> Self {
        self * share
    }
}
