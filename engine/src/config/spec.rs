//! The static catalogue of configuration options: names, environment
//! variables, human-readable defaults, value kinds and short descriptions.
//!
//! The catalogue is the single list the resolver, the error suggestions and
//! the language bindings all draw from, so every option appears here exactly
//! once.

/// The syntax an option's textual value must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionKind {
    /// Free text, taken as given (surrounding whitespace is trimmed for
    /// names, kept for credentials).
    String,
    /// Comma-separated list; entries are trimmed and empty entries dropped.
    StringList,
    /// `true`/`false`, `yes`/`no` or `1`/`0`, in any letter case.
    Bool,
    /// A non-negative decimal integer (some options require at least 1).
    Integer,
    /// A finite decimal number (some options require the range 0 to 1).
    Float,
    /// A humantime duration such as `250ms`, `5m` or `7d`, or a bare number
    /// of seconds such as `1.5`.
    Duration,
    /// A TCP port from 1 to 65535, or `none`/`false`/`nil`/empty to disable.
    OptionalPort,
    /// `pipeline`, `low_latency` or `best_effort` (hyphens also accepted).
    Mode,
    /// `child` or `follows_from` (hyphen also accepted).
    SpanRelation,
}

/// Metadata describing one configuration option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The option's name as passed explicitly (also the `Config` field name).
    pub name: &'static str,
    /// The environment variable consulted when the option is not passed.
    pub env: &'static str,
    /// The default, as text for humans. Text in parentheses describes an
    /// absent or derived default rather than a literal value.
    pub default: &'static str,
    /// The syntax the value must follow.
    pub kind: OptionKind,
    /// A one-sentence description of what the option controls.
    pub doc: &'static str,
}

/// Declares one `pub(crate)` constant per option plus the ordered table.
macro_rules! option_table {
    ($($konst:ident = $name:literal, $env:literal, $kind:ident, $default:literal, $doc:literal;)*) => {
        $(
            pub(crate) const $konst: OptionSpec = OptionSpec {
                name: $name,
                env: $env,
                default: $default,
                kind: OptionKind::$kind,
                doc: $doc,
            };
        )*

        /// Every option, grouped as in the product documentation.
        pub(crate) static OPTIONS: &[OptionSpec] = &[$($konst),*];
    };
}

option_table! {
    // Core
    BOOTSTRAP_SERVERS = "bootstrap_servers", "PROSODY_BOOTSTRAP_SERVERS", StringList, "(none)",
        "Comma-separated Kafka broker addresses (host:port) used to reach the cluster.";
    GROUP_ID = "group_id", "PROSODY_GROUP_ID", String, "(none)",
        "Kafka consumer group to join; leave unset for a producer-only client.";
    SUBSCRIBED_TOPICS = "subscribed_topics", "PROSODY_SUBSCRIBED_TOPICS", StringList, "(none)",
        "Comma-separated topics to consume; empty for a producer-only client.";
    ALLOWED_EVENTS = "allowed_events", "PROSODY_ALLOWED_EVENTS", StringList, "(all events)",
        "Comma-separated event-type prefixes to handle; when empty, every event is handled.";
    SOURCE_SYSTEM = "source_system", "PROSODY_SOURCE_SYSTEM", String, "(group_id)",
        "Identity stamped on produced messages so a consumer with that group id skips them.";
    MOCK = "mock", "PROSODY_MOCK", Bool, "false",
        "Swap Kafka and Cassandra for in-memory stand-ins, for tests.";
    MODE = "mode", "PROSODY_MODE", Mode, "pipeline",
        "Failure strategy: pipeline (retry until success), low_latency (hand persistent failures to failure_topic) or best_effort (tolerate failures).";

    // Consumer
    MAX_CONCURRENCY = "max_concurrency", "PROSODY_MAX_CONCURRENCY", Integer, "32",
        "Upper limit on messages being handled at the same moment; at least 1.";
    MAX_UNCOMMITTED = "max_uncommitted", "PROSODY_MAX_UNCOMMITTED", Integer, "64",
        "Received-but-uncommitted messages at which consumption pauses; at least 1.";
    TIMEOUT = "timeout", "PROSODY_TIMEOUT", Duration, "(80% of stall_threshold)",
        "Running time after which a handler is asked to cancel; must be non-zero.";
    COMMIT_INTERVAL = "commit_interval", "PROSODY_COMMIT_INTERVAL", Duration, "1s",
        "Period between offset commits to Kafka; must be non-zero.";
    POLL_INTERVAL = "poll_interval", "PROSODY_POLL_INTERVAL", Duration, "100ms",
        "Period between fetches of new records from Kafka; must be non-zero.";
    SHUTDOWN_TIMEOUT = "shutdown_timeout", "PROSODY_SHUTDOWN_TIMEOUT", Duration, "30s",
        "Budget for a graceful shutdown; in-flight handlers are cancelled only as it runs out.";
    STALL_THRESHOLD = "stall_threshold", "PROSODY_STALL_THRESHOLD", Duration, "5m",
        "A partition without progress for this long makes the liveness probe fail; must be non-zero.";
    PROBE_PORT = "probe_port", "PROSODY_PROBE_PORT", OptionalPort, "8000",
        "Port of the HTTP server answering /readyz and /livez; none disables it.";
    FAILURE_TOPIC = "failure_topic", "PROSODY_FAILURE_TOPIC", String, "(none)",
        "Dead-letter topic for messages that cannot be processed; required in low_latency mode.";
    IDEMPOTENCE_CACHE_SIZE = "idempotence_cache_size", "PROSODY_IDEMPOTENCE_CACHE_SIZE", Integer, "8192",
        "Capacity of the process-wide cache of seen message ids; 0 turns deduplication off entirely.";
    IDEMPOTENCE_VERSION = "idempotence_version", "PROSODY_IDEMPOTENCE_VERSION", String, "1",
        "Salt mixed into deduplication hashes; changing it invalidates every stored record.";
    IDEMPOTENCE_TTL = "idempotence_ttl", "PROSODY_IDEMPOTENCE_TTL", Duration, "7d",
        "Lifetime of deduplication records in Cassandra (1s up to 7300d).";
    SLAB_SIZE = "slab_size", "PROSODY_SLAB_SIZE", Duration, "1h",
        "Time span grouped into one timer-storage slab; seldom worth changing.";
    MESSAGE_SPANS = "message_spans", "PROSODY_MESSAGE_SPANS", SpanRelation, "child",
        "How a message's processing span links to the producer's span.";
    TIMER_SPANS = "timer_spans", "PROSODY_TIMER_SPANS", SpanRelation, "follows_from",
        "How a timer's processing span links to the span that scheduled it.";

    // Producer
    SEND_TIMEOUT = "send_timeout", "PROSODY_SEND_TIMEOUT", Duration, "1s",
        "How long a send may wait for delivery before failing; must be non-zero.";

    // Retry
    MAX_RETRIES = "max_retries", "PROSODY_MAX_RETRIES", Integer, "3",
        "In-place retries, with exponential backoff, before a failure is escalated; 0 disables them.";
    RETRY_BASE = "retry_base", "PROSODY_RETRY_BASE", Duration, "20ms",
        "Backoff before the first in-place retry; later backoffs grow exponentially.";
    MAX_RETRY_DELAY = "max_retry_delay", "PROSODY_RETRY_MAX_DELAY", Duration, "5m",
        "Ceiling on the backoff between in-place retries (note the environment variable's word order).";

    // Deferral
    DEFER_ENABLED = "defer_enabled", "PROSODY_DEFER_ENABLED", Bool, "true",
        "Park failing keys on a timer so the partition keeps moving (pipeline mode).";
    DEFER_BASE = "defer_base", "PROSODY_DEFER_BASE", Duration, "1s",
        "Delay before the first deferred retry; later delays grow exponentially.";
    DEFER_MAX_DELAY = "defer_max_delay", "PROSODY_DEFER_MAX_DELAY", Duration, "24h",
        "Ceiling on the delay between deferred retries.";
    DEFER_FAILURE_THRESHOLD = "defer_failure_threshold", "PROSODY_DEFER_FAILURE_THRESHOLD", Float, "0.9",
        "Failure rate (0 to 1) above which deferral pauses and the partition blocks instead.";
    DEFER_FAILURE_WINDOW = "defer_failure_window", "PROSODY_DEFER_FAILURE_WINDOW", Duration, "5m",
        "Sliding window over which the deferral failure rate is measured; must be non-zero.";
    DEFER_CACHE_SIZE = "defer_cache_size", "PROSODY_DEFER_CACHE_SIZE", Integer, "1024",
        "Deferred keys remembered in memory; at least 1.";
    DEFER_SEEK_TIMEOUT = "defer_seek_timeout", "PROSODY_DEFER_SEEK_TIMEOUT", Duration, "30s",
        "Time limit for reading a deferred message back from Kafka.";
    DEFER_DISCARD_THRESHOLD = "defer_discard_threshold", "PROSODY_DEFER_DISCARD_THRESHOLD", Integer, "100",
        "Tuning knob for reading deferred messages back; seldom worth changing.";

    // Monopolization detection
    MONOPOLIZATION_ENABLED = "monopolization_enabled", "PROSODY_MONOPOLIZATION_ENABLED", Bool, "true",
        "Reject (and so defer) keys that hog handler time (pipeline mode).";
    MONOPOLIZATION_THRESHOLD = "monopolization_threshold", "PROSODY_MONOPOLIZATION_THRESHOLD", Float, "0.9",
        "Share (0 to 1) of the window one key may spend in handlers before rejection.";
    MONOPOLIZATION_WINDOW = "monopolization_window", "PROSODY_MONOPOLIZATION_WINDOW", Duration, "5m",
        "Rolling window for measuring per-key handler time; must be non-zero.";
    MONOPOLIZATION_CACHE_SIZE = "monopolization_cache_size", "PROSODY_MONOPOLIZATION_CACHE_SIZE", Integer, "8192",
        "Distinct keys whose handler time is tracked; at least 1.";

    // Fair scheduling
    SCHEDULER_FAILURE_WEIGHT = "scheduler_failure_weight", "PROSODY_SCHEDULER_FAILURE_WEIGHT", Float, "0.3",
        "Share (0 to 1) of execution time granted to retries rather than fresh messages.";
    SCHEDULER_MAX_WAIT = "scheduler_max_wait", "PROSODY_SCHEDULER_MAX_WAIT", Duration, "2m",
        "Queueing time at which a waiting message earns the full priority boost; must be non-zero.";
    SCHEDULER_WAIT_WEIGHT = "scheduler_wait_weight", "PROSODY_SCHEDULER_WAIT_WEIGHT", Float, "200.0",
        "Strength of the boost for waiting messages; larger favours them more (0 or more).";
    SCHEDULER_CACHE_SIZE = "scheduler_cache_size", "PROSODY_SCHEDULER_CACHE_SIZE", Integer, "8192",
        "Distinct keys whose virtual time is tracked; at least 1.";

    // Cassandra
    CASSANDRA_NODES = "cassandra_nodes", "PROSODY_CASSANDRA_NODES", StringList, "(none)",
        "Comma-separated Cassandra contact points (host:port); unused with mock.";
    CASSANDRA_KEYSPACE = "cassandra_keyspace", "PROSODY_CASSANDRA_KEYSPACE", String, "prosody",
        "Keyspace holding timers, deferrals and dedup records; a valid CQL identifier.";
    CASSANDRA_USER = "cassandra_user", "PROSODY_CASSANDRA_USER", String, "(none)",
        "Username for Cassandra authentication.";
    CASSANDRA_PASSWORD = "cassandra_password", "PROSODY_CASSANDRA_PASSWORD", String, "(none)",
        "Password for Cassandra authentication.";
    CASSANDRA_DATACENTER = "cassandra_datacenter", "PROSODY_CASSANDRA_DATACENTER", String, "(none)",
        "Datacenter preferred when routing Cassandra queries.";
    CASSANDRA_RACK = "cassandra_rack", "PROSODY_CASSANDRA_RACK", String, "(none)",
        "Rack preferred when routing Cassandra queries.";
    CASSANDRA_RETENTION = "cassandra_retention", "PROSODY_CASSANDRA_RETENTION", Duration, "1y",
        "Age at which stored data expires (1s up to 7300d).";

    // Telemetry emitter
    TELEMETRY_TOPIC = "telemetry_topic", "PROSODY_TELEMETRY_TOPIC", String, "prosody.telemetry-events",
        "Kafka topic receiving internal processing events such as message and timer lifecycle.";
    TELEMETRY_ENABLED = "telemetry_enabled", "PROSODY_TELEMETRY_ENABLED", Bool, "true",
        "Whether internal processing events are produced at all.";
}

/// Finds an option by its exact name.
pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.name == name)
}

/// Proposes the valid option name a mistyped `name` most likely meant.
///
/// Environment variable spellings (`PROSODY_RETRY_MAX_DELAY`,
/// `retry_max_delay`) map straight to their option; otherwise the closest
/// name by Jaro-Winkler similarity is returned if it is close enough.
pub(crate) fn suggest(name: &str) -> Option<&'static str> {
    let lowered = name.trim().to_ascii_lowercase().replace('-', "_");
    let bare = lowered.strip_prefix("prosody_").unwrap_or(&lowered);
    if let Some(spec) = OPTIONS
        .iter()
        .find(|spec| spec.name == bare || env_suffix_matches(spec, bare))
    {
        return Some(spec.name);
    }
    OPTIONS
        .iter()
        .map(|spec| (strsim::jaro_winkler(bare, spec.name), spec.name))
        .filter(|(score, _)| *score >= SUGGESTION_THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Minimum Jaro-Winkler similarity for a suggestion to be offered.
const SUGGESTION_THRESHOLD: f64 = 0.85;

/// Whether `bare` is the option's environment variable without `PROSODY_`.
fn env_suffix_matches(spec: &OptionSpec, bare: &str) -> bool {
    spec.env
        .strip_prefix("PROSODY_")
        .is_some_and(|suffix| suffix.eq_ignore_ascii_case(bare))
}
