//! The one declaration of every option.
//!
//! Each row of the table below declares an option once: its constant, its `Config` field and
//! type, its default value, the parser that checks it (and so its bounds), its environment
//! variable, its kind, its default as text for humans, and its one-line description. The macro
//! derives from that row the catalogue entry ([`OptionSpec`]), the `Config` field, its place in
//! resolution, its typed effective value and its `Debug` line. Adding an option means adding a
//! row, plus the code that uses it.

use std::fmt;
use std::time::Duration;

use super::effective::OptionValue;
use super::error::ConfigError;
use super::parse::{
    boolean, count, duration, fraction, instance_id, keyspace, list, mode, name, non_empty,
    non_negative, port, positive_count, positive_duration, secret, servers, small_count,
    span_relation, ttl,
};
use super::properties::{properties, KafkaProperties};
use super::resolve::Sources;
use super::spec::{OptionKind, OptionSpec};
use super::{Mode, SpanRelation};

const DAY: u64 = 86_400;
const STALL_THRESHOLD_DEFAULT: Duration = secs(300);

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

const fn millis(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// 80% of the stall threshold, never zero.
fn default_timeout(stall_threshold: Duration) -> Duration {
    let scaled = stall_threshold
        .checked_mul(4)
        .map_or(stall_threshold / 5 * 4, |d| d / 5);
    scaled.max(Duration::from_nanos(1))
}

/// The probe server listens by default, except with `mock`: tests and local runs would
/// otherwise fight over port 8000. Setting `probe_port` (option or environment) turns it on
/// with `mock` too, because an explicit value never falls back to this default.
fn default_probe_port(mock: bool) -> Option<u16> {
    (!mock).then_some(8000)
}

macro_rules! options {
    ($(
        $konst:ident $field:ident: $ty:ty = $default:expr, $parse:ident,
            $env:literal, $kind:ident, $default_text:literal,
            $doc:literal;
    )*) => {
        $(
            pub(crate) const $konst: OptionSpec = OptionSpec {
                name: stringify!($field),
                env: $env,
                default: $default_text,
                kind: OptionKind::$kind,
                doc: $doc,
            };
        )*

        /// Every option, grouped as in the product documentation.
        pub(crate) static OPTIONS: &[OptionSpec] = &[$($konst),*];

        /// A fully resolved client configuration, one field per option.
        ///
        /// Field names equal option names; see [`Config::options`] for environment variables
        /// and defaults. `Debug` output redacts the Cassandra password.
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
            $(
                #[doc = $doc]
                pub $field: $ty,
            )*
        }

        impl<E: Fn(&str) -> Option<String>> Sources<E> {
            /// Resolves every option, stopping at the first invalid value. Defaults are
            /// evaluated after every option is parsed, so one may derive from another.
            pub(super) fn resolve(&self) -> Result<Config, ConfigError> {
                $(let $field: Option<$ty> = self.parse(&$konst, $parse)?;)*
                Ok(Config {
                    $($field: $field.unwrap_or_else(|| $default),)*
                })
            }
        }

        impl Config {
            /// Every option with its typed value, in catalogue order. The password is shown
            /// as `<redacted>`.
            ///
            /// ```
            /// use std::time::Duration;
            /// use prosody_engine::config::{Config, OptionValue};
            /// let config = Config::from_options_with_env([("stall_threshold", "10s")], |_| None)?;
            /// let values = config.typed_values();
            /// let timeout = values.iter().find(|(name, _)| *name == "timeout").map(|(_, v)| v);
            /// assert_eq!(timeout, Some(&OptionValue::Duration(Duration::from_secs(8))));
            /// # Ok::<(), prosody_engine::ConfigError>(())
            /// ```
            #[must_use]
            pub fn typed_values(&self) -> Vec<(&'static str, OptionValue)> {
                vec![$((stringify!($field), OptionValue::from(&self.$field).redacted_for(&$konst)),)*]
            }
        }

        impl fmt::Debug for Config {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let password = self.cassandra_password.as_ref().map(|_| "<redacted>");
                let mut out = f.debug_struct("Config");
                $(
                    let value: &dyn fmt::Debug = &self.$field;
                    out.field(stringify!($field), if is_secret(&$konst) { &password } else { value });
                )*
                out.finish()
            }
        }
    };
}

/// Whether the option's value is never shown.
pub(crate) fn is_secret(spec: &OptionSpec) -> bool {
    spec.name == CASSANDRA_PASSWORD.name
}

options! {
    // Core
    BOOTSTRAP_SERVERS bootstrap_servers: Vec<String> = Vec::new(), servers,
        "PROSODY_BOOTSTRAP_SERVERS", StringList, "(none)",
        "Comma-separated Kafka broker addresses (host:port) used to reach the cluster.";
    GROUP_ID group_id: Option<String> = None, name,
        "PROSODY_GROUP_ID", String, "(none)",
        "Kafka consumer group to join; leave unset for a producer-only client.";
    GROUP_INSTANCE_ID group_instance_id: Option<String> = None, instance_id,
        "PROSODY_GROUP_INSTANCE_ID", String, "(none)",
        "Static group membership: an id unique in the group and stable across restarts, so a restarted process takes its partitions back without a rebalance.";
    SUBSCRIBED_TOPICS subscribed_topics: Vec<String> = Vec::new(), list,
        "PROSODY_SUBSCRIBED_TOPICS", StringList, "(none)",
        "Comma-separated topics to consume; empty for a producer-only client.";
    ALLOWED_EVENTS allowed_events: Vec<String> = Vec::new(), list,
        "PROSODY_ALLOWED_EVENTS", StringList, "(all events)",
        "Comma-separated event-type prefixes to handle; when empty, every event is handled.";
    SOURCE_SYSTEM source_system: Option<String> = None, name,
        "PROSODY_SOURCE_SYSTEM", String, "(group_id)",
        "Identity stamped on produced messages so a consumer with that group id skips them.";
    MOCK mock: bool = false, boolean,
        "PROSODY_MOCK", Bool, "false",
        "Swap Kafka and Cassandra for in-memory stand-ins, for tests.";
    MODE mode: Mode = Mode::Pipeline, mode,
        "PROSODY_MODE", Mode, "pipeline",
        "Failure strategy: pipeline (retry until success), low_latency (hand persistent failures to failure_topic) or best_effort (tolerate failures).";
    // Consumer
    MAX_CONCURRENCY max_concurrency: usize = 32, positive_count,
        "PROSODY_MAX_CONCURRENCY", Integer, "32",
        "Upper limit on messages being handled at the same moment; at least 1.";
    MAX_UNCOMMITTED max_uncommitted: usize = 64, positive_count,
        "PROSODY_MAX_UNCOMMITTED", Integer, "64",
        "Received-but-uncommitted messages at which consumption pauses; at least 1.";
    TIMEOUT timeout: Duration = default_timeout(stall_threshold.unwrap_or(STALL_THRESHOLD_DEFAULT)), positive_duration,
        "PROSODY_TIMEOUT", Duration, "(80% of stall_threshold)",
        "Running time after which a handler is asked to cancel; must be non-zero.";
    COMMIT_INTERVAL commit_interval: Duration = secs(1), positive_duration,
        "PROSODY_COMMIT_INTERVAL", Duration, "1s",
        "Period between offset commits to Kafka; must be non-zero.";
    POLL_INTERVAL poll_interval: Duration = millis(100), positive_duration,
        "PROSODY_POLL_INTERVAL", Duration, "100ms",
        "Period between fetches of new records from Kafka; must be non-zero.";
    SHUTDOWN_TIMEOUT shutdown_timeout: Duration = secs(30), duration,
        "PROSODY_SHUTDOWN_TIMEOUT", Duration, "30s",
        "Budget for a graceful shutdown; in-flight handlers are cancelled only as it runs out.";
    STALL_THRESHOLD stall_threshold: Duration = STALL_THRESHOLD_DEFAULT, positive_duration,
        "PROSODY_STALL_THRESHOLD", Duration, "5m",
        "A partition without progress for this long makes the liveness probe fail; must be non-zero.";
    PROBE_PORT probe_port: Option<u16> = default_probe_port(mock.unwrap_or(false)), port,
        "PROSODY_PROBE_PORT", OptionalPort, "(8000; none with mock)",
        "Port of the HTTP server answering /readyz and /livez; none disables it. Off with mock unless set.";
    PROBE_HOST probe_host: String = "0.0.0.0".to_owned(), non_empty,
        "PROSODY_PROBE_HOST", String, "0.0.0.0",
        "Address the probe server listens on (an IP address or host name).";
    FAILURE_TOPIC failure_topic: Option<String> = None, name,
        "PROSODY_FAILURE_TOPIC", String, "(none)",
        "Dead-letter topic for messages that cannot be processed; required in low_latency mode.";
    IDEMPOTENCE_CACHE_SIZE idempotence_cache_size: usize = 8192, count,
        "PROSODY_IDEMPOTENCE_CACHE_SIZE", Integer, "8192",
        "Capacity of the process-wide cache of seen message ids; 0 turns deduplication off entirely.";
    IDEMPOTENCE_VERSION idempotence_version: String = "1".to_owned(), non_empty,
        "PROSODY_IDEMPOTENCE_VERSION", String, "1",
        "Salt mixed into deduplication hashes; changing it invalidates every stored record.";
    IDEMPOTENCE_TTL idempotence_ttl: Duration = secs(7 * DAY), ttl,
        "PROSODY_IDEMPOTENCE_TTL", Duration, "7d",
        "Lifetime of deduplication records in Cassandra (1s up to 7300d).";
    SLAB_SIZE slab_size: Duration = secs(3_600), positive_duration,
        "PROSODY_SLAB_SIZE", Duration, "1h",
        "Time span grouped into one timer-storage slab; seldom worth changing.";
    MESSAGE_SPANS message_spans: SpanRelation = SpanRelation::Child, span_relation,
        "PROSODY_MESSAGE_SPANS", SpanRelation, "child",
        "How a message's processing span links to the producer's span.";
    TIMER_SPANS timer_spans: SpanRelation = SpanRelation::FollowsFrom, span_relation,
        "PROSODY_TIMER_SPANS", SpanRelation, "follows_from",
        "How a timer's processing span links to the span that scheduled it.";
    // Kafka clients
    KAFKA_CONFIG kafka_config: KafkaProperties = KafkaProperties::default(), properties,
        "PROSODY_KAFKA_CONFIG_*", Properties, "(none)",
        "librdkafka properties for every Kafka client (security.protocol, sasl.*, ssl.*, tuning), over Prosody's own; those Prosody sets from its options are refused.";
    // Producer
    SEND_TIMEOUT send_timeout: Duration = secs(1), positive_duration,
        "PROSODY_SEND_TIMEOUT", Duration, "1s",
        "How long a send may wait for delivery before failing; must be non-zero.";
    // Retry
    MAX_RETRIES max_retries: u32 = 3, small_count,
        "PROSODY_MAX_RETRIES", Integer, "3",
        "In-place retries, with exponential backoff, before a failure is escalated; 0 disables them.";
    RETRY_BASE retry_base: Duration = millis(20), duration,
        "PROSODY_RETRY_BASE", Duration, "20ms",
        "Backoff before the first in-place retry; later backoffs grow exponentially.";
    MAX_RETRY_DELAY max_retry_delay: Duration = secs(300), duration,
        "PROSODY_RETRY_MAX_DELAY", Duration, "5m",
        "Ceiling on the backoff between in-place retries (note the environment variable's word order).";
    // Deferral
    DEFER_ENABLED defer_enabled: bool = true, boolean,
        "PROSODY_DEFER_ENABLED", Bool, "true",
        "Park failing keys on a timer so the partition keeps moving (pipeline mode).";
    DEFER_BASE defer_base: Duration = secs(1), duration,
        "PROSODY_DEFER_BASE", Duration, "1s",
        "Delay before the first deferred retry; later delays grow exponentially.";
    DEFER_MAX_DELAY defer_max_delay: Duration = secs(DAY), duration,
        "PROSODY_DEFER_MAX_DELAY", Duration, "24h",
        "Ceiling on the delay between deferred retries.";
    DEFER_FAILURE_THRESHOLD defer_failure_threshold: f64 = 0.9, fraction,
        "PROSODY_DEFER_FAILURE_THRESHOLD", Float, "0.9",
        "Failure rate (0 to 1) above which deferral pauses and the partition blocks instead.";
    DEFER_FAILURE_WINDOW defer_failure_window: Duration = secs(300), positive_duration,
        "PROSODY_DEFER_FAILURE_WINDOW", Duration, "5m",
        "Sliding window over which the deferral failure rate is measured; must be non-zero.";
    DEFER_CACHE_SIZE defer_cache_size: usize = 1024, positive_count,
        "PROSODY_DEFER_CACHE_SIZE", Integer, "1024",
        "Deferred keys remembered in memory; at least 1.";
    DEFER_SEEK_TIMEOUT defer_seek_timeout: Duration = secs(30), duration,
        "PROSODY_DEFER_SEEK_TIMEOUT", Duration, "30s",
        "Time limit for reading a deferred message back from Kafka.";
    DEFER_DISCARD_THRESHOLD defer_discard_threshold: usize = 100, count,
        "PROSODY_DEFER_DISCARD_THRESHOLD", Integer, "100",
        "Tuning knob for reading deferred messages back; seldom worth changing.";
    // Monopolization detection
    MONOPOLIZATION_ENABLED monopolization_enabled: bool = true, boolean,
        "PROSODY_MONOPOLIZATION_ENABLED", Bool, "true",
        "Reject (and so defer) keys that hog handler time (pipeline mode).";
    MONOPOLIZATION_THRESHOLD monopolization_threshold: f64 = 0.9, fraction,
        "PROSODY_MONOPOLIZATION_THRESHOLD", Float, "0.9",
        "Share (0 to 1) of the window one key may spend in handlers before rejection.";
    MONOPOLIZATION_WINDOW monopolization_window: Duration = secs(300), positive_duration,
        "PROSODY_MONOPOLIZATION_WINDOW", Duration, "5m",
        "Rolling window for measuring per-key handler time; must be non-zero.";
    MONOPOLIZATION_CACHE_SIZE monopolization_cache_size: usize = 8192, positive_count,
        "PROSODY_MONOPOLIZATION_CACHE_SIZE", Integer, "8192",
        "Distinct keys whose handler time is tracked; at least 1.";
    // Fair scheduling
    SCHEDULER_FAILURE_WEIGHT scheduler_failure_weight: f64 = 0.3, fraction,
        "PROSODY_SCHEDULER_FAILURE_WEIGHT", Float, "0.3",
        "Share (0 to 1) of execution time granted to retries rather than fresh messages.";
    SCHEDULER_MAX_WAIT scheduler_max_wait: Duration = secs(120), positive_duration,
        "PROSODY_SCHEDULER_MAX_WAIT", Duration, "2m",
        "Queueing time at which a waiting message earns the full priority boost; must be non-zero.";
    SCHEDULER_WAIT_WEIGHT scheduler_wait_weight: f64 = 200.0, non_negative,
        "PROSODY_SCHEDULER_WAIT_WEIGHT", Float, "200.0",
        "Strength of the boost for waiting messages; larger favours them more (0 or more).";
    SCHEDULER_CACHE_SIZE scheduler_cache_size: usize = 8192, positive_count,
        "PROSODY_SCHEDULER_CACHE_SIZE", Integer, "8192",
        "Distinct keys whose virtual time is tracked; at least 1.";
    // Cassandra
    CASSANDRA_NODES cassandra_nodes: Vec<String> = Vec::new(), list,
        "PROSODY_CASSANDRA_NODES", StringList, "(none)",
        "Comma-separated Cassandra contact points (host:port); unused with mock.";
    CASSANDRA_KEYSPACE cassandra_keyspace: String = "prosody".to_owned(), keyspace,
        "PROSODY_CASSANDRA_KEYSPACE", String, "prosody",
        "Keyspace holding timers, deferrals and dedup records; a valid CQL identifier.";
    CASSANDRA_USER cassandra_user: Option<String> = None, secret,
        "PROSODY_CASSANDRA_USER", String, "(none)",
        "Username for Cassandra authentication.";
    CASSANDRA_PASSWORD cassandra_password: Option<String> = None, secret,
        "PROSODY_CASSANDRA_PASSWORD", String, "(none)",
        "Password for Cassandra authentication.";
    CASSANDRA_TLS cassandra_tls: bool = false, boolean,
        "PROSODY_CASSANDRA_TLS", Bool, "false",
        "Connect to Cassandra over TLS, checking its certificate and host name.";
    CASSANDRA_TLS_CA cassandra_tls_ca: Option<String> = None, name,
        "PROSODY_CASSANDRA_TLS_CA", String, "(system CAs)",
        "PEM file of the CAs trusted for Cassandra's certificate; setting it turns TLS on.";
    CASSANDRA_DATACENTER cassandra_datacenter: Option<String> = None, name,
        "PROSODY_CASSANDRA_DATACENTER", String, "(none)",
        "Datacenter preferred when routing Cassandra queries.";
    CASSANDRA_RACK cassandra_rack: Option<String> = None, name,
        "PROSODY_CASSANDRA_RACK", String, "(none)",
        "Rack preferred when routing Cassandra queries.";
    CASSANDRA_RETENTION cassandra_retention: Duration = secs(365 * DAY + DAY / 4), ttl,
        "PROSODY_CASSANDRA_RETENTION", Duration, "1y",
        "Age at which stored data expires (1s up to 7300d).";
    // Requests
    REPLY_TOPIC reply_topic: String = "prosody.replies".to_owned(), non_empty,
        "PROSODY_REPLY_TOPIC", String, "prosody.replies",
        "Kafka topic answers to this client's requests come back on; created with 16 partitions when missing.";
    // Telemetry emitter
    TELEMETRY_TOPIC telemetry_topic: String = "prosody.telemetry-events".to_owned(), non_empty,
        "PROSODY_TELEMETRY_TOPIC", String, "prosody.telemetry-events",
        "Kafka topic receiving internal processing events such as message and timer lifecycle.";
    TELEMETRY_ENABLED telemetry_enabled: bool = !mock.unwrap_or(false), boolean,
        "PROSODY_TELEMETRY_ENABLED", Bool, "(true; false with mock)",
        "Whether lifecycle events are written to telemetry_topic. Off with mock unless set.";
}
