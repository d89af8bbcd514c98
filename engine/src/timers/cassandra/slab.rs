//! Slab arithmetic and row lifetimes for the Cassandra timer store.
//!
//! A slab is the span `[start, start + size)` of whole seconds; `start` is a multiple of `size`.
//! Rows expire `retention` after the instant they stand for (the timer's time, or the slab's end
//! for an index row), so every write of the same row expires at the same moment wherever and
//! whenever it is made, and an index row never expires before a timer it points to.

use std::time::Duration;

use crate::timers::TimerTime;

#[cfg(test)]
use crate::cassandra::{LAST_EXPIRY, MAX_TTL};

/// One slab of one size: what a `timer_slabs` partition and a `timer_slab_index` row name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Slab {
    /// First second of the slab, a multiple of `size`.
    pub(super) start: i64,
    /// Length in seconds.
    pub(super) size: i32,
}

impl Slab {
    /// The slab of length `size` seconds holding `time`.
    pub(super) fn of(time: TimerTime, size: i32) -> Self {
        let size_secs = i64::from(size.max(1));
        let time = i64::from(time.as_secs());
        Self {
            start: time - time % size_secs,
            size: size.max(1),
        }
    }

    /// The first second after the slab.
    pub(super) fn end(self) -> i64 {
        self.start.saturating_add(i64::from(self.size))
    }
}

/// A configured slab length in whole seconds, at least 1 and at most `i32::MAX`.
pub(super) fn size_secs(slab_size: Duration) -> i32 {
    i32::try_from(slab_size.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// The TTL, in seconds, of a row standing for the instant `at` (epoch seconds) written at
/// `now`: `(at - now, floored at 0) + retention`, and at least 1 (a TTL of 0 means "never").
///
/// Returns 0, Cassandra's "no TTL", when that would pass what Cassandra accepts: a
/// row that outlives its retention is only wasted space, while one rejected (or capped to
/// expire before its timer fires) is a lost timer.
pub(super) fn ttl(at: i64, now: TimerTime, retention: Duration) -> i32 {
    let now = u64::from(now.as_secs());
    let ahead = u64::try_from(at).unwrap_or(0).saturating_sub(now);
    let ttl = ahead.saturating_add(retention.as_secs()).max(1);
    if ttl > crate::cassandra::ttl_limit(now) {
        0
    } else {
        i32::try_from(ttl).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{size_secs, ttl, Slab, LAST_EXPIRY, MAX_TTL};
    use crate::timers::TimerTime;

    const NOW: u32 = 1_800_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn slabs_start_at_multiples_of_their_size() {
        let slab = Slab::of(TimerTime::from_secs(7_199), 3_600);
        assert_eq!((slab.start, slab.size, slab.end()), (3_600, 3_600, 7_200));
        assert_eq!(Slab::of(TimerTime::from_secs(7_200), 3_600).start, 7_200);
        assert_eq!(Slab::of(TimerTime::MAX, 60).end(), i64::from(u32::MAX) + 45);
        assert_eq!(Slab::of(TimerTime::from_secs(5), 0).size, 1);
    }

    #[test]
    fn sizes_are_whole_seconds_within_int() {
        assert_eq!(size_secs(Duration::from_millis(1_500)), 1);
        assert_eq!(size_secs(Duration::ZERO), 1);
        assert_eq!(size_secs(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn ttl_is_time_ahead_plus_retention_floored_at_retention() {
        let now = TimerTime::from_secs(NOW);
        assert_eq!(ttl(i64::from(NOW) + 100, now, DAY), 86_500);
        assert_eq!(ttl(i64::from(NOW) - 100, now, DAY), 86_400);
        assert_eq!(ttl(-5, now, DAY), 86_400);
        assert_eq!(ttl(i64::from(NOW), now, Duration::ZERO), 1);
    }

    #[test]
    fn ttl_past_the_limits_means_no_ttl() {
        let now = TimerTime::from_secs(NOW);
        let room = LAST_EXPIRY - u64::from(NOW) - 86_400;
        let at = |ahead: u64| i64::try_from(u64::from(NOW) + ahead).unwrap_or(i64::MAX);
        assert_eq!(
            ttl(at(room), now, Duration::ZERO),
            i32::try_from(room).unwrap()
        );
        assert_eq!(ttl(at(room + 1), now, Duration::ZERO), 0);
        assert_eq!(ttl(at(0), now, Duration::from_secs(room + 1)), 0);
        let early = TimerTime::from_secs(1_000);
        assert_eq!(ttl(1_000, early, Duration::from_secs(MAX_TTL)), 630_720_000);
        assert_eq!(ttl(1_001, early, Duration::from_secs(MAX_TTL)), 0);
        assert_eq!(ttl(i64::MAX, now, DAY), 0);
    }
}
