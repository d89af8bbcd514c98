//! Typed, validated configuration for a Prosody client.
//!
//! Every option can be given explicitly (by name, as text) or through its
//! `PROSODY_*` environment variable; explicit values win, and options set
//! nowhere take their documented default. [`Config::options`] lists every
//! option with its environment variable, default and value syntax.
//!
//! Checks that depend on how the client is used (for instance that a
//! consumer has a `group_id` and topics) belong to the consumer and
//! producer; this module only rejects values that are malformed, out of
//! range, or contradict each other.

#![warn(missing_docs)]

mod debug;
mod effective;
mod error;
mod parse;
mod resolve;
mod spec;
mod values;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use effective::OptionValue;
pub use error::{ConfigError, ConfigErrorKind, ValueSource};
pub use spec::{OptionKind, OptionSpec};
pub use values::{Mode, SpanRelation};

/// A fully resolved client configuration, one field per option.
///
/// Field names equal option names; see [`Config::options`] for environment
/// variables and defaults. `Debug` output redacts the Cassandra password.
///
/// ```
/// use std::time::Duration;
/// use prosody_engine::config::{Config, Mode};
///
/// let env = |name: &str| match name {
///     "PROSODY_BOOTSTRAP_SERVERS" => Some("kafka-1:9092, kafka-2:9092".to_owned()),
///     "PROSODY_STALL_THRESHOLD" => Some("1m".to_owned()),
///     _ => None,
/// };
/// let config = Config::from_options_with_env(
///     [("group_id", "billing"), ("subscribed_topics", "invoices"), ("mode", "best_effort")],
///     env,
/// )?;
///
/// assert_eq!(config.bootstrap_servers, ["kafka-1:9092", "kafka-2:9092"]);
/// assert_eq!(config.mode, Mode::BestEffort);
/// assert_eq!(config.timeout, Duration::from_secs(48)); // 80% of stall_threshold
/// assert_eq!(config.effective_source_system(), Some("billing"));
///
/// let error = Config::from_options_with_env([("max_concurency", "8")], |_| None).unwrap_err();
/// assert_eq!(error.to_string(), "unknown option `max_concurency`; did you mean `max_concurrency`?");
/// # Ok::<(), prosody_engine::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Config {
    // Core
    /// Kafka brokers to bootstrap from (`host:port`).
    pub bootstrap_servers: Vec<String>,
    /// Consumer group; `None` for a producer-only client.
    pub group_id: Option<String>,
    /// Topics to consume; empty for a producer-only client.
    pub subscribed_topics: Vec<String>,
    /// Event-type prefixes to handle; empty means every event.
    pub allowed_events: Vec<String>,
    /// Source-system header for produced messages; `None` means use
    /// `group_id` (see [`Config::effective_source_system`]).
    pub source_system: Option<String>,
    /// Use in-memory Kafka and storage instead of real services.
    pub mock: bool,
    /// Failure-handling strategy.
    pub mode: Mode,

    // Consumer
    /// Most messages handled at the same moment (at least 1).
    pub max_concurrency: usize,
    /// Uncommitted messages at which consumption pauses (at least 1).
    pub max_uncommitted: usize,
    /// Handler running time after which cancellation is requested; defaults
    /// to 80% of `stall_threshold`.
    pub timeout: Duration,
    /// Period between offset commits (non-zero).
    pub commit_interval: Duration,
    /// Period between Kafka fetches (non-zero).
    pub poll_interval: Duration,
    /// Budget for a graceful shutdown.
    pub shutdown_timeout: Duration,
    /// Time without progress after which a partition counts as stalled
    /// (non-zero).
    pub stall_threshold: Duration,
    /// Port for the `/readyz` and `/livez` probe server; `None` disables it.
    pub probe_port: Option<u16>,
    /// Dead-letter topic; required when `mode` is [`Mode::LowLatency`].
    pub failure_topic: Option<String>,
    /// Capacity of the shared dedup cache; 0 disables deduplication.
    pub idempotence_cache_size: usize,
    /// Salt for dedup hashes; changing it invalidates stored records.
    pub idempotence_version: String,
    /// Lifetime of dedup records in Cassandra (1s to 7300d).
    pub idempotence_ttl: Duration,
    /// Time span of one timer-storage slab (non-zero).
    pub slab_size: Duration,
    /// Link between a message's execution span and the producer's span.
    pub message_spans: SpanRelation,
    /// Link between a timer's execution span and the scheduling span.
    pub timer_spans: SpanRelation,

    // Producer
    /// Time a send may wait for delivery (non-zero).
    pub send_timeout: Duration,

    // Retry
    /// In-place retries before a failure is escalated (0 allowed).
    pub max_retries: u32,
    /// Backoff before the first in-place retry.
    pub retry_base: Duration,
    /// Ceiling on in-place retry backoff (environment variable
    /// `PROSODY_RETRY_MAX_DELAY`).
    pub max_retry_delay: Duration,

    // Deferral
    /// Defer failing keys to timers (pipeline mode).
    pub defer_enabled: bool,
    /// Delay before the first deferred retry.
    pub defer_base: Duration,
    /// Ceiling on the delay between deferred retries.
    pub defer_max_delay: Duration,
    /// Failure rate (0 to 1) above which deferral pauses.
    pub defer_failure_threshold: f64,
    /// Window over which the failure rate is measured (non-zero).
    pub defer_failure_window: Duration,
    /// Deferred keys kept in memory (at least 1).
    pub defer_cache_size: usize,
    /// Time limit for reloading a deferred message.
    pub defer_seek_timeout: Duration,
    /// Read-back tuning threshold for deferred messages.
    pub defer_discard_threshold: usize,

    // Monopolization detection
    /// Reject keys that monopolize handler time (pipeline mode).
    pub monopolization_enabled: bool,
    /// Share (0 to 1) of the window one key may use.
    pub monopolization_threshold: f64,
    /// Rolling measurement window (non-zero).
    pub monopolization_window: Duration,
    /// Keys tracked for monopolization (at least 1).
    pub monopolization_cache_size: usize,

    // Fair scheduling
    /// Share (0 to 1) of execution time reserved for retries.
    pub scheduler_failure_weight: f64,
    /// Wait after which a message gets the maximum boost (non-zero).
    pub scheduler_max_wait: Duration,
    /// Strength of the wait boost (finite, 0 or more).
    pub scheduler_wait_weight: f64,
    /// Keys tracked by the scheduler (at least 1).
    pub scheduler_cache_size: usize,

    // Cassandra
    /// Cassandra contact points (`host:port`).
    pub cassandra_nodes: Vec<String>,
    /// Keyspace for persistent state (a valid CQL identifier).
    pub cassandra_keyspace: String,
    /// Cassandra username.
    pub cassandra_user: Option<String>,
    /// Cassandra password (redacted in `Debug` output).
    pub cassandra_password: Option<String>,
    /// Preferred Cassandra datacenter.
    pub cassandra_datacenter: Option<String>,
    /// Preferred Cassandra rack.
    pub cassandra_rack: Option<String>,
    /// Expiry age for stored data (1s to 7300d).
    pub cassandra_retention: Duration,

    // Telemetry emitter
    /// Topic receiving internal processing events.
    pub telemetry_topic: String,
    /// Produce internal processing events.
    pub telemetry_enabled: bool,
}
