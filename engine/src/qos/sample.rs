//! Accounting for short handler runs by sampling, so they cost nothing most of the time.
//!
//! Fair scheduling and hot-key detection care about handler time on a scale far above a single
//! fast run: a boost worth `scheduler_wait_weight` seconds, a share of a window of minutes.
//! Recording every run in a per-key table would cost a lock and a table lookup per event even
//! for handlers that take microseconds, which is most of an event's overhead in a fast
//! consumer. So each user picks a *grain* well below the amounts it tells apart: a run of at
//! least one grain is recorded as it is, and a shorter run of `d` is recorded as one whole
//! grain with probability `d / grain` and not at all otherwise.
//!
//! The expected time recorded equals the time run, so totals stay unbiased, and their relative
//! error after `n` grains is about `1 / sqrt(n)`: a total of 1,000 grains is within about 3%.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::time::Duration;

/// What to record for a run of `ran`: `ran` itself when it is at least `grain`; for a shorter
/// run, `grain` with probability `ran / grain`, else `None` (record nothing).
pub(crate) fn recorded(ran: Duration, grain: Duration) -> Option<Duration> {
    if ran >= grain {
        return Some(ran);
    }
    // Both are under `grain`, which is far below 2^64 ns.
    let (nanos, ran_nanos) = (grain.as_nanos() as u64, ran.as_nanos() as u64);
    (below(nanos) < ran_nanos).then_some(grain)
}

/// A uniform draw in `0..bound` (`bound` > 0) from a per-thread generator.
fn below(bound: u64) -> u64 {
    thread_local! {
        // Seeded per thread from the standard library's random hasher keys.
        static STATE: Cell<u64> = Cell::new(std::collections::hash_map::RandomState::new().hash_one(0_u64) | 1);
    }
    let draw = STATE.with(|state| {
        // splitmix64: one add and a few mixing steps, ample for sampling.
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    });
    // Lemire's multiply-shift: maps a 64-bit draw onto 0..bound with negligible bias.
    ((u128::from(draw) * u128::from(bound)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAIN: Duration = Duration::from_millis(1);

    #[test]
    fn runs_of_a_grain_or_more_are_recorded_as_they_are() {
        assert_eq!(recorded(GRAIN, GRAIN), Some(GRAIN));
        let long = Duration::from_millis(1500);
        assert_eq!(recorded(long, GRAIN), Some(long));
    }

    #[test]
    fn a_zero_run_is_never_recorded() {
        assert!((0..10_000).all(|_| recorded(Duration::ZERO, GRAIN).is_none()));
    }

    #[test]
    fn short_runs_are_recorded_in_grains_that_add_up_to_the_time_run() {
        // 200,000 runs of 10 µs: 2 s run, so about 2,000 grains of 1 ms (sd about 45 grains).
        let run = Duration::from_micros(10);
        let total: Duration = (0..200_000).filter_map(|_| recorded(run, GRAIN)).sum();
        let expected = run * 200_000;
        let error = (total.as_secs_f64() - expected.as_secs_f64()).abs() / expected.as_secs_f64();
        assert!(error < 0.15, "recorded {total:?} for {expected:?} run");
        assert!(total > Duration::ZERO);
    }

    #[test]
    fn draws_cover_their_range_evenly() {
        let mut counts = [0_u32; 4];
        for _ in 0..40_000 {
            counts[below(4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&n| (9_000..11_000).contains(&n)),
            "{counts:?}"
        );
    }
}
