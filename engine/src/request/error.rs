//! `RequestError`: a request refused before anything was sent. A leaf: it imports nothing
//! from the crate, so `error.rs` can wrap it.

use std::time::Duration;

/// The longest a request may wait for its answers.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// The longest subsystem name, in bytes.
pub const MAX_SUBSYSTEM_BYTES: usize = 249;

/// A request that was refused, naming the argument at fault. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No subsystem was named.
    #[error("subsystems must name at least one subsystem")]
    NoSubsystems,
    /// A subsystem was named twice.
    #[error("subsystems names `{0}` more than once")]
    DuplicateSubsystem(String),
    /// A subsystem name that no client could have.
    #[error("subsystem {name:?} is not a valid subsystem name: {reason}")]
    InvalidSubsystem {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A timeout of zero or below, or too long.
    #[error("timeout must be above 0 and at most {max} seconds, got {given}", max = MAX_REQUEST_TIMEOUT.as_secs())]
    TimeoutOutOfRange {
        /// The timeout given, as text.
        given: String,
    },
    /// The caller set a header the engine writes itself.
    #[error("header `{0}` is reserved for requests; use another name")]
    ReservedHeader(String),
}

impl RequestError {
    /// Checks one subsystem name: 1 to 249 bytes, no control characters.
    ///
    /// # Errors
    ///
    /// [`RequestError::InvalidSubsystem`].
    pub fn check_subsystem(name: &str) -> Result<(), RequestError> {
        let reason = if name.trim().is_empty() {
            "it is empty or blank"
        } else if name.len() > MAX_SUBSYSTEM_BYTES {
            "it is longer than 249 bytes"
        } else if name.chars().any(char::is_control) {
            "it holds a control character"
        } else {
            return Ok(());
        };
        Err(RequestError::InvalidSubsystem {
            name: name.to_owned(),
            reason,
        })
    }
}
