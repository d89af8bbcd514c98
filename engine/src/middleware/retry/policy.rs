use crate::error::{ErrorClass, HandlerError};

/// Decides whether a failed attempt is retried in place.
///
/// The default [`RetryPolicy::should_retry`] retries transient errors only, while fewer than
/// [`RetryPolicy::max_retries`] retries were made; permanent and terminal errors are never
/// retried. Override it to retry differently.
///
/// ```
/// use prosody_engine::middleware::{Bounded, RetryForever, RetryPolicy};
/// use prosody_engine::HandlerError;
///
/// let flaky = HandlerError::transient("broker busy");
/// let bad = HandlerError::permanent("invalid payload");
/// assert!(RetryForever.should_retry(&flaky, 1_000_000));
/// assert!(!RetryForever.should_retry(&bad, 0));
/// assert!(Bounded(3).should_retry(&flaky, 2));
/// assert!(!Bounded(3).should_retry(&flaky, 3));
/// ```
pub trait RetryPolicy: Send + Sync + 'static {
    /// Most in-place retries after the first attempt; `None` means no limit.
    fn max_retries(&self) -> Option<u32>;

    /// Whether to retry after `error`, given that `retries` retries were already made.
    fn should_retry(&self, error: &HandlerError, retries: u32) -> bool {
        error.class() == ErrorClass::Transient && self.max_retries().is_none_or(|max| retries < max)
    }
}

/// Retries transient errors until they succeed (pipeline mode). Permanent errors are not
/// retried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryForever;

impl RetryPolicy for RetryForever {
    fn max_retries(&self) -> Option<u32> {
        None
    }
}

/// Retries transient errors at most this many times (`max_retries`; low-latency mode), so an
/// event gets up to `max_retries + 1` attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded(pub u32);

impl RetryPolicy for Bounded {
    fn max_retries(&self) -> Option<u32> {
        Some(self.0)
    }
}
