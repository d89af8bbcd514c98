//! Timer times: whole seconds since the Unix epoch.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a timer is due, in whole seconds since the Unix epoch (1970-01-01 up to 2106-02-07).
///
/// Converting from a [`SystemTime`] rounds to the nearest second, halves up, because stores
/// keep whole seconds and a timer asked for at `x.5` should not fire before `x.5`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use prosody_engine::TimerTime;
///
/// let time = TimerTime::from_system_time(UNIX_EPOCH + Duration::from_millis(10_500))?;
/// assert_eq!(time.as_secs(), 11);
/// assert!(TimerTime::from_system_time(UNIX_EPOCH - Duration::from_secs(1)).is_err());
/// # Ok::<(), prosody_engine::TimerTimeError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerTime(u32);

/// Why a time cannot be used for a timer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerTimeError {
    /// The time is before 1970-01-01T00:00:00Z.
    #[error("timer time {0:?} is before the Unix epoch (1970-01-01T00:00:00Z)")]
    BeforeEpoch(Duration),
    /// The time is after 2106-02-07T06:28:15Z, the last second a timer can hold.
    #[error("timer time {0} s after the epoch is past 2106-02-07T06:28:15Z, the latest a timer can hold")]
    TooLate(u64),
}

impl TimerTime {
    /// The earliest time, the Unix epoch.
    pub const MIN: Self = Self(0);
    /// The latest time, 2106-02-07T06:28:15Z.
    pub const MAX: Self = Self(u32::MAX);

    /// A time from whole seconds since the epoch.
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs)
    }

    /// Rounds `time` to the nearest whole second (halves up).
    ///
    /// # Errors
    ///
    /// When `time` is before the epoch or after [`TimerTime::MAX`].
    pub fn from_system_time(time: SystemTime) -> Result<Self, TimerTimeError> {
        let since = time
            .duration_since(UNIX_EPOCH)
            .map_err(|e| TimerTimeError::BeforeEpoch(e.duration()))?;
        let secs = since.as_secs() + u64::from(since.subsec_nanos() >= 500_000_000);
        u32::try_from(secs)
            .map(Self)
            .map_err(|_| TimerTimeError::TooLate(secs))
    }

    /// The current time, rounded like [`TimerTime::from_system_time`].
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now()).unwrap_or(Self::MAX)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u32 {
        self.0
    }

    /// The same instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::from(self.0))
    }

    /// `self + secs`, saturating at [`TimerTime::MAX`].
    pub fn saturating_add(self, secs: u64) -> Self {
        Self(u32::try_from(u64::from(self.0).saturating_add(secs)).unwrap_or(u32::MAX))
    }
}

impl fmt::Display for TimerTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{TimerTime, TimerTimeError};

    #[test]
    fn rounds_half_up() {
        let at = |ms| TimerTime::from_system_time(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(10_499), Ok(TimerTime::from_secs(10)));
        assert_eq!(at(10_500), Ok(TimerTime::from_secs(11)));
        assert_eq!(at(0), Ok(TimerTime::MIN));
    }

    #[test]
    fn rejects_out_of_range() {
        let late = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) + 1);
        assert_eq!(
            TimerTime::from_system_time(late),
            Err(TimerTimeError::TooLate(u64::from(u32::MAX) + 1))
        );
        let last = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX));
        assert_eq!(TimerTime::from_system_time(last), Ok(TimerTime::MAX));
        assert!(matches!(
            TimerTime::from_system_time(UNIX_EPOCH - Duration::from_millis(1)),
            Err(TimerTimeError::BeforeEpoch(_))
        ));
    }
}
