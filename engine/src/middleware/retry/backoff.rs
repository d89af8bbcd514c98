use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Exponential backoff with full jitter.
///
/// Before retry `n` (counting from 0) the delay is drawn uniformly from
/// `[0, min(max_delay, base × 2ⁿ))`: the first retry waits less than `base`, and no wait
/// reaches `max_delay`. Drawing the whole range ("full jitter") spreads out retries of many
/// keys that failed together.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::middleware::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
/// assert_eq!(backoff.ceiling(0), Duration::from_millis(20));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(160));
/// assert_eq!(backoff.ceiling(10), Duration::from_secs(1));
/// assert!(backoff.delay(3) < Duration::from_millis(160));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max_delay: Duration,
}

impl Backoff {
    /// Backoff starting at `base` (`retry_base`) and capped at `max_delay`
    /// (`max_retry_delay`).
    pub fn new(base: Duration, max_delay: Duration) -> Self {
        Self { base, max_delay }
    }

    /// The exclusive upper bound of the delay before retry `retry` (counting from 0).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2_u32.saturating_pow(retry);
        self.base.saturating_mul(factor).min(self.max_delay)
    }

    /// A random delay before retry `retry`, in `[0, ceiling(retry))` (zero if the ceiling is).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        let scaled = (u128::from(ceiling) * u128::from(random_u64())) >> 64;
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(ceiling))
    }
}

/// A uniformly distributed `u64`: each `RandomState` carries fresh SipHash keys, so hashing
/// nothing with it yields an unpredictable value without a random-number crate.
fn random_u64() -> u64 {
    RandomState::new().hash_one(())
}
