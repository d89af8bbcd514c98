//! Quantities that fade with a half-life, such as a key's recent handler time.

use std::time::Duration;

use tokio::time::Instant;

/// Seconds of work that halve every `half_life`: recent work counts fully, old work fades.
///
/// Stored as the value at one instant; reading or adding first decays it to the instant given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decaying {
    seconds: f64,
    at: Instant,
}

impl Decaying {
    /// Nothing, as of `now`.
    pub(crate) fn zero(now: Instant) -> Self {
        Self {
            seconds: 0.0,
            at: now,
        }
    }

    /// The value decayed to `now` (never increases; an earlier `now` reads the stored value).
    pub(crate) fn at(&self, now: Instant, half_life: Duration) -> f64 {
        // Most keys have none: skip the exponential.
        if self.seconds == 0.0 {
            return 0.0;
        }
        self.seconds * factor(now.saturating_duration_since(self.at), half_life)
    }

    /// Decays to `now`, then adds `amount`.
    pub(crate) fn add(&mut self, amount: Duration, now: Instant, half_life: Duration) {
        self.seconds = self.at(now, half_life) + amount.as_secs_f64();
        self.at = self.at.max(now);
    }

    /// A number that orders values as they would compare once decayed to any common instant,
    /// without decaying them: `log2(value) + at / half_life`, counted from `origin`. Two values
    /// decay by the same factor over the same time, so this order never changes and can key a
    /// heap. Zero maps to negative infinity.
    pub(crate) fn order_key(&self, origin: Instant, half_life: Duration) -> f64 {
        if self.seconds <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let since = self.at.saturating_duration_since(origin).as_secs_f64();
        self.seconds.log2() + since / half_life.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// The share of a value left after `elapsed`: `2^(-elapsed / half_life)`.
fn factor(elapsed: Duration, half_life: Duration) -> f64 {
    if half_life.is_zero() {
        return if elapsed.is_zero() { 1.0 } else { 0.0 };
    }
    (-(elapsed.as_secs_f64() / half_life.as_secs_f64())).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF_LIFE: Duration = Duration::from_secs(120);

    #[test]
    fn halves_every_half_life() {
        let start = Instant::now();
        let mut work = Decaying::zero(start);
        work.add(Duration::from_secs(8), start, HALF_LIFE);

        assert!((work.at(start, HALF_LIFE) - 8.0).abs() < 1e-9);
        assert!((work.at(start + HALF_LIFE, HALF_LIFE) - 4.0).abs() < 1e-9);
        assert!((work.at(start + HALF_LIFE * 3, HALF_LIFE) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn adding_decays_first() {
        let start = Instant::now();
        let mut work = Decaying::zero(start);
        work.add(Duration::from_secs(8), start, HALF_LIFE);
        work.add(Duration::from_secs(1), start + HALF_LIFE, HALF_LIFE);

        assert!((work.at(start + HALF_LIFE, HALF_LIFE) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn order_keys_compare_like_decayed_values() {
        let origin = Instant::now();
        let mut early = Decaying::zero(origin);
        early.add(Duration::from_secs(10), origin, HALF_LIFE);
        let mut late = Decaying::zero(origin);
        // 6 s added two half-lives later outweighs 10 s that has decayed to 2.5 s.
        late.add(Duration::from_secs(6), origin + HALF_LIFE * 2, HALF_LIFE);

        let now = origin + HALF_LIFE * 5;
        assert!(early.at(now, HALF_LIFE) < late.at(now, HALF_LIFE));
        assert!(early.order_key(origin, HALF_LIFE) < late.order_key(origin, HALF_LIFE));
        assert_eq!(
            Decaying::zero(origin).order_key(origin, HALF_LIFE),
            f64::NEG_INFINITY
        );
    }
}
