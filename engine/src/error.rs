//! Engine errors.
//!
//! [`Error`] is what engine operations (connecting, producing, administering topics) return.
//! [`HandlerError`] is what a user handler returns; its [`ErrorClass`] decides what the engine
//! does next. Classify with methods such as [`Error::is_transient`], never by matching text.

use std::fmt;

use crate::config::ConfigError;
use crate::kafka::{is_retriable, KafkaError, MAX_RECORD_BYTES};

/// A `Result` whose error is the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something the engine could not do. Each variant names the failed operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A Kafka client could not be created.
    #[error("could not create the kafka {role}: {source}")]
    Client {
        /// Which client: `consumer`, `producer` or `admin client`.
        role: &'static str,
        /// The underlying error.
        source: KafkaError,
    },

    /// A message could not be sent.
    #[error("could not send to topic `{topic}`: {source}")]
    Send {
        /// The destination topic.
        topic: String,
        /// The underlying error.
        source: KafkaError,
    },

    /// The message payload could not be encoded as JSON.
    #[error("could not encode the payload for topic `{topic}` as JSON: {source}")]
    Encode {
        /// The destination topic.
        topic: String,
        /// The underlying error.
        source: serde_json::Error,
    },

    /// A record is larger than Kafka accepts.
    #[error("could not send to topic `{topic}`: the record is too large ({key_bytes} bytes of key and {payload_bytes} bytes of payload; Kafka takes at most {limit} bytes per record by default, headers included): send a smaller key or payload, or store the data elsewhere and send a reference", limit = MAX_RECORD_BYTES)]
    TooLarge {
        /// The destination topic.
        topic: String,
        /// The key's size.
        key_bytes: usize,
        /// The payload's size.
        payload_bytes: usize,
    },

    /// Kafka did not acknowledge a message within `send_timeout` (the first sends of a new
    /// producer get a little longer, to connect).
    #[error("timed out after {waited:?} sending to topic `{topic}` (send_timeout {timeout:?}{})", startup_note(*.timeout, *.waited))]
    SendTimeout {
        /// The destination topic.
        topic: String,
        /// The configured `send_timeout`.
        timeout: std::time::Duration,
        /// How long the send was given: `timeout`, plus the start-up allowance while the
        /// producer was new.
        waited: std::time::Duration,
    },

    /// A send ran out of time while the brokers refused this client: a failed SASL
    /// authentication or TLS handshake, such as a wrong password or an untrusted certificate.
    /// Transient, because retrying loses nothing and succeeds once the settings are fixed.
    #[error("timed out after {waited:?} sending to topic `{topic}`: the kafka brokers refused this client ({reason}); check the security settings in `kafka_config`")]
    Refused {
        /// The destination topic.
        topic: String,
        /// How long the send was given.
        waited: std::time::Duration,
        /// librdkafka's words for the last refusal.
        reason: String,
    },

    /// Subscribing or unsubscribing failed.
    #[error("could not subscribe to {topics:?}: {source}")]
    Subscribe {
        /// The topics asked for.
        topics: Vec<String>,
        /// The underlying error.
        source: KafkaError,
    },

    /// The consumer was asked to do something its state does not allow.
    #[error("{0}")]
    State(&'static str),

    /// A topic could not be created or deleted.
    #[error("could not {operation} topic `{topic}`: {reason}")]
    Admin {
        /// `create` or `delete`.
        operation: &'static str,
        /// The topic at fault.
        topic: String,
        /// What the broker said.
        reason: String,
    },

    /// A Cassandra operation failed.
    #[error("cassandra {operation} failed: {reason}")]
    Cassandra {
        /// What was being done (`connect`, `query`, `migrate`...).
        operation: &'static str,
        /// The driver's message.
        reason: String,
    },

    /// A timer operation failed.
    #[error("could not {operation} a timer for key `{key}`: {reason}")]
    Timer {
        /// `schedule`, `unschedule`, `list` or `fire`.
        operation: &'static str,
        /// The key whose timers were being changed.
        key: String,
        /// What went wrong.
        reason: String,
    },

    /// A time cannot be used for a timer.
    #[error(transparent)]
    TimerTime(#[from] crate::timers::TimerTimeError),

    /// An applied Cassandra schema migration no longer matches the embedded file.
    #[error("cassandra migration `{file}` cannot be verified: {reason}")]
    Migration {
        /// The migration file at fault.
        file: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The health-probe server could not listen on `probe_host:probe_port`.
    #[error("could not start the probe server on {address} (probe_port {port}): {reason}")]
    Probe {
        /// The address asked for, `probe_host:probe_port`.
        address: String,
        /// The port asked for (`probe_port`).
        port: u16,
        /// What the operating system said, such as "Address already in use".
        reason: String,
    },

    /// The in-process mock cluster could not be started.
    #[error("could not start the in-process mock kafka cluster: {0}")]
    Mock(KafkaError),

    /// No broker answered a metadata request in time.
    #[error("no kafka broker answered at {servers} within {within:?}: {reason}")]
    Unreachable {
        /// The bootstrap servers tried.
        servers: String,
        /// How long it waited.
        within: std::time::Duration,
        /// librdkafka's reason.
        reason: String,
    },

    /// The OTLP span exporter could not be built from the `OTEL_*` variables.
    #[error(
        "could not start the OTLP span exporter (check the OTEL_EXPORTER_OTLP_* variables): {0}"
    )]
    Tracing(String),

    /// A keyed-state operation failed: see [`StateError::is_permanent`].
    ///
    /// [`StateError::is_permanent`]: crate::state::StateError::is_permanent
    #[error(transparent)]
    KeyedState(#[from] crate::state::StateError),

    /// A request refused before anything was sent (an argument at fault).
    #[error(transparent)]
    Request(#[from] crate::request::RequestError),

    /// What reached the mock cluster could not be read back (a test helper).
    #[error("could not read back the mock kafka cluster's records: {reason}")]
    MockLog {
        /// What went wrong.
        reason: String,
    },
}

/// Says why a send waited longer than `send_timeout`, when it did.
fn startup_note(timeout: std::time::Duration, waited: std::time::Duration) -> String {
    match waited.checked_sub(timeout) {
        Some(extra) if !extra.is_zero() => {
            format!(", plus {extra:?} allowed while the new producer connects")
        }
        _ => String::new(),
    }
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    ///
    /// ```
    /// use prosody_engine::Error;
    /// let second = std::time::Duration::from_secs(1);
    /// let err = Error::SendTimeout { topic: "t".into(), timeout: second, waited: second };
    /// assert!(err.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::SendTimeout { .. }
            | Error::Refused { .. }
            | Error::Cassandra { .. }
            | Error::Timer { .. }
            | Error::Unreachable { .. } => true,
            Error::Send { source, .. } | Error::Subscribe { source, .. } => is_retriable(source),
            Error::KeyedState(error) => !error.is_permanent(),
            _ => false,
        }
    }
}

/// How a handler failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retrying may help (the default for unclassified errors).
    Transient,
    /// Retrying will not help; the event is given up according to the mode.
    Permanent,
    /// The consumer cannot continue with this partition: the offset is not committed.
    Terminal,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Terminal => "terminal",
        })
    }
}

/// A failure reported by a user handler.
///
/// ```
/// use prosody_engine::{ErrorClass, HandlerError};
/// let err = HandlerError::permanent("bad payload");
/// assert_eq!(err.class(), ErrorClass::Permanent);
/// assert_eq!(err.to_string(), "permanent handler error: bad payload");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    class: ErrorClass,
    message: String,
    /// Set by the deferral layer: park the event and retry it later, off the partition's path.
    defer: bool,
}

impl HandlerError {
    /// A failure of the given class.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            defer: false,
        }
    }

    /// A failure that may succeed on retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }

    /// A failure that will not succeed on retry.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }

    /// A failure after which the event's offset must not be committed.
    pub fn terminal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Terminal, message)
    }

    /// The failure's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The failure's description.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same transient failure, marked for deferral: the consumer parks the event in its
    /// key's deferred backlog, lets the offset commit, and retries it later.
    #[must_use]
    pub fn deferred(mut self) -> Self {
        self.defer = true;
        self
    }

    /// Whether the event is to be deferred rather than retried in place or given up.
    pub fn is_deferred(&self) -> bool {
        self.defer
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} handler error: {}", self.class, self.message)
    }
}

impl std::error::Error for HandlerError {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Error;

    #[test]
    fn a_send_timeout_says_how_long_it_waited_and_why() {
        let timeout = |waited| Error::SendTimeout {
            topic: "orders".into(),
            timeout: Duration::from_secs(1),
            waited,
        };
        assert_eq!(
            timeout(Duration::from_secs(1)).to_string(),
            "timed out after 1s sending to topic `orders` (send_timeout 1s)"
        );
        assert_eq!(
            timeout(Duration::from_secs(3)).to_string(),
            "timed out after 3s sending to topic `orders` (send_timeout 1s, plus 2s allowed \
             while the new producer connects)"
        );
    }

    #[test]
    fn a_too_large_record_names_both_sizes() {
        let error = Error::TooLarge {
            topic: "orders".into(),
            key_bytes: 10_000_000,
            payload_bytes: 7,
        };
        assert!(error
            .to_string()
            .contains("(10000000 bytes of key and 7 bytes of payload;"));
    }
}
