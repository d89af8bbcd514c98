//! Resolution of explicit options and environment variables into a
//! validated [`Config`].
//!
//! Precedence per option: an explicit option (even an empty one) wins; then
//! the `PROSODY_*` variable unless it is blank; then the default.

use std::collections::HashMap;
use std::time::Duration;

use super::error::{ConfigError, ValueSource};
use super::parse::{self, Expected};
use super::spec::{self, OptionSpec};
use super::{Config, Mode, OptionValue, SpanRelation};

impl Config {
    /// Resolves the configuration from explicit `(name, value)` options,
    /// falling back to the process environment and then to defaults.
    ///
    /// To leave an option unset, omit it. If a name occurs twice, the last
    /// value wins.
    ///
    /// # Errors
    ///
    /// Fails on an unknown option name, a malformed or out-of-range value,
    /// or contradictory settings (such as `low_latency` mode without a
    /// `failure_topic`).
    pub fn from_options<I, K, V>(options: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::from_options_with_env(options, process_env)
    }

    /// Like [`Config::from_options`], but reads environment variables
    /// through `env` instead of the process environment.
    ///
    /// # Errors
    ///
    /// As for [`Config::from_options`].
    pub fn from_options_with_env<I, K, V, E>(options: I, env: E) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
        E: Fn(&str) -> Option<String>,
    {
        let mut explicit = HashMap::new();
        for (name, value) in options {
            let name = name.as_ref();
            let spec = spec::find(name).ok_or_else(|| ConfigError::unknown(name))?;
            explicit.insert(spec.name, value.as_ref().to_owned());
        }
        let config = Sources { explicit, env }.resolve()?;
        config.check_consistency()?;
        Ok(config)
    }

    /// Parses one option's `value` as if it were the only option set and the environment were
    /// empty, and returns its typed value. Checks that involve other options (such as
    /// `low_latency` needing a `failure_topic`) are left to [`Config::from_options`]; bindings
    /// use this to reject a bad value as soon as it is assigned.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prosody_engine::config::{Config, OptionValue};
    /// assert_eq!(Config::parse_option("retry_base", "1.5")?, OptionValue::Duration(Duration::from_millis(1500)));
    /// assert!(Config::parse_option("max_concurrency", "0").is_err());
    /// # Ok::<(), prosody_engine::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Fails on an unknown option name or a malformed or out-of-range value.
    pub fn parse_option(name: &str, value: &str) -> Result<OptionValue, ConfigError> {
        let spec = spec::find(name).ok_or_else(|| ConfigError::unknown(name))?;
        let explicit = HashMap::from([(spec.name, value.to_owned())]);
        let config = Sources {
            explicit,
            env: |_: &str| None,
        }
        .resolve()?;
        Ok(config
            .typed_values()
            .into_iter()
            .find(|(option, _)| *option == spec.name)
            .map_or(OptionValue::Unset, |(_, value)| value))
    }

    /// Metadata for every option, in documentation order.
    #[must_use]
    pub fn options() -> &'static [OptionSpec] {
        spec::OPTIONS
    }

    /// Metadata for the option called `name`, if there is one.
    #[must_use]
    pub fn option_spec(name: &str) -> Option<&'static OptionSpec> {
        spec::find(name)
    }

    /// The source-system identity to stamp on produced messages:
    /// `source_system` if set, otherwise `group_id`.
    #[must_use]
    pub fn effective_source_system(&self) -> Option<&str> {
        self.source_system.as_deref().or(self.group_id.as_deref())
    }

    /// Rejects combinations of individually valid values that cannot work.
    fn check_consistency(&self) -> Result<(), ConfigError> {
        if self.mode == Mode::LowLatency && self.failure_topic.is_none() {
            return Err(ConfigError::missing(
                &spec::FAILURE_TOPIC,
                "low_latency mode needs a topic to send persistently failing messages to",
            ));
        }
        Ok(())
    }
}

/// Reads a variable from the process environment, lossily decoding
/// non-UTF-8 values so they are reported rather than ignored.
fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// 80% of the stall threshold, never zero.
fn default_timeout(stall_threshold: Duration) -> Duration {
    let scaled = stall_threshold
        .checked_mul(4)
        .map_or(stall_threshold / 5 * 4, |d| d / 5);
    scaled.max(Duration::from_nanos(1))
}

/// The places a value may come from, consulted in precedence order.
struct Sources<E> {
    /// Explicit options keyed by canonical option name.
    explicit: HashMap<&'static str, String>,
    /// Environment lookup.
    env: E,
}

impl<E: Fn(&str) -> Option<String>> Sources<E> {
    /// The raw text for `spec` and where it came from, if set anywhere.
    fn raw(&self, spec: &OptionSpec) -> Option<(String, ValueSource)> {
        if let Some(value) = self.explicit.get(spec.name) {
            return Some((value.clone(), ValueSource::Option));
        }
        (self.env)(spec.env)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (value, ValueSource::Environment))
    }

    /// Parses the value of `spec` with `parse`, or returns `default`.
    fn get<T>(
        &self,
        spec: &OptionSpec,
        default: T,
        parse: fn(&str) -> Result<T, Expected>,
    ) -> Result<T, ConfigError> {
        match self.raw(spec) {
            None => Ok(default),
            Some((text, origin)) => {
                parse(&text).map_err(|expected| ConfigError::invalid(spec, origin, text, expected))
            }
        }
    }

    /// A comma-separated list; unset means empty.
    fn list(&self, spec: &OptionSpec) -> Vec<String> {
        self.raw(spec)
            .map(|(text, _)| parse::list(&text))
            .unwrap_or_default()
    }

    /// An optional name, trimmed; blank means unset.
    fn name(&self, spec: &OptionSpec) -> Option<String> {
        self.raw(spec)
            .map(|(text, _)| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }

    /// An optional credential, kept verbatim; empty means unset.
    fn secret(&self, spec: &OptionSpec) -> Option<String> {
        self.raw(spec)
            .map(|(text, _)| text)
            .filter(|text| !text.is_empty())
    }

    /// Resolves every option, stopping at the first invalid value.
    fn resolve(&self) -> Result<Config, ConfigError> {
        use parse::{
            boolean, count, duration, fraction, non_empty, non_negative, positive_count,
            positive_duration, small_count, ttl,
        };
        let secs = Duration::from_secs;
        let stall_threshold = self.get(&spec::STALL_THRESHOLD, secs(300), positive_duration)?;

        Ok(Config {
            bootstrap_servers: self.list(&spec::BOOTSTRAP_SERVERS),
            group_id: self.name(&spec::GROUP_ID),
            subscribed_topics: self.list(&spec::SUBSCRIBED_TOPICS),
            allowed_events: self.list(&spec::ALLOWED_EVENTS),
            source_system: self.name(&spec::SOURCE_SYSTEM),
            mock: self.get(&spec::MOCK, false, boolean)?,
            mode: self.get(&spec::MODE, Mode::Pipeline, parse::mode)?,

            max_concurrency: self.get(&spec::MAX_CONCURRENCY, 32, positive_count)?,
            max_uncommitted: self.get(&spec::MAX_UNCOMMITTED, 64, positive_count)?,
            timeout: self.get(
                &spec::TIMEOUT,
                default_timeout(stall_threshold),
                positive_duration,
            )?,
            commit_interval: self.get(&spec::COMMIT_INTERVAL, secs(1), positive_duration)?,
            poll_interval: self.get(
                &spec::POLL_INTERVAL,
                Duration::from_millis(100),
                positive_duration,
            )?,
            shutdown_timeout: self.get(&spec::SHUTDOWN_TIMEOUT, secs(30), duration)?,
            stall_threshold,
            probe_port: self.get(&spec::PROBE_PORT, Some(8000), parse::port)?,
            failure_topic: self.name(&spec::FAILURE_TOPIC),
            idempotence_cache_size: self.get(&spec::IDEMPOTENCE_CACHE_SIZE, 8192, count)?,
            idempotence_version: self.get(&spec::IDEMPOTENCE_VERSION, "1".to_owned(), non_empty)?,
            idempotence_ttl: self.get(&spec::IDEMPOTENCE_TTL, secs(7 * 86_400), ttl)?,
            slab_size: self.get(&spec::SLAB_SIZE, secs(3_600), positive_duration)?,
            message_spans: self.get(
                &spec::MESSAGE_SPANS,
                SpanRelation::Child,
                parse::span_relation,
            )?,
            timer_spans: self.get(
                &spec::TIMER_SPANS,
                SpanRelation::FollowsFrom,
                parse::span_relation,
            )?,

            send_timeout: self.get(&spec::SEND_TIMEOUT, secs(1), positive_duration)?,

            max_retries: self.get(&spec::MAX_RETRIES, 3, small_count)?,
            retry_base: self.get(&spec::RETRY_BASE, Duration::from_millis(20), duration)?,
            max_retry_delay: self.get(&spec::MAX_RETRY_DELAY, secs(300), duration)?,

            defer_enabled: self.get(&spec::DEFER_ENABLED, true, boolean)?,
            defer_base: self.get(&spec::DEFER_BASE, secs(1), duration)?,
            defer_max_delay: self.get(&spec::DEFER_MAX_DELAY, secs(86_400), duration)?,
            defer_failure_threshold: self.get(&spec::DEFER_FAILURE_THRESHOLD, 0.9, fraction)?,
            defer_failure_window: self.get(
                &spec::DEFER_FAILURE_WINDOW,
                secs(300),
                positive_duration,
            )?,
            defer_cache_size: self.get(&spec::DEFER_CACHE_SIZE, 1024, positive_count)?,
            defer_seek_timeout: self.get(&spec::DEFER_SEEK_TIMEOUT, secs(30), duration)?,
            defer_discard_threshold: self.get(&spec::DEFER_DISCARD_THRESHOLD, 100, count)?,

            monopolization_enabled: self.get(&spec::MONOPOLIZATION_ENABLED, true, boolean)?,
            monopolization_threshold: self.get(&spec::MONOPOLIZATION_THRESHOLD, 0.9, fraction)?,
            monopolization_window: self.get(
                &spec::MONOPOLIZATION_WINDOW,
                secs(300),
                positive_duration,
            )?,
            monopolization_cache_size: self.get(
                &spec::MONOPOLIZATION_CACHE_SIZE,
                8192,
                positive_count,
            )?,

            scheduler_failure_weight: self.get(&spec::SCHEDULER_FAILURE_WEIGHT, 0.3, fraction)?,
            scheduler_max_wait: self.get(
                &spec::SCHEDULER_MAX_WAIT,
                secs(120),
                positive_duration,
            )?,
            scheduler_wait_weight: self.get(&spec::SCHEDULER_WAIT_WEIGHT, 200.0, non_negative)?,
            scheduler_cache_size: self.get(&spec::SCHEDULER_CACHE_SIZE, 8192, positive_count)?,

            cassandra_nodes: self.list(&spec::CASSANDRA_NODES),
            cassandra_keyspace: self.get(
                &spec::CASSANDRA_KEYSPACE,
                "prosody".to_owned(),
                parse::keyspace,
            )?,
            cassandra_user: self.secret(&spec::CASSANDRA_USER),
            cassandra_password: self.secret(&spec::CASSANDRA_PASSWORD),
            cassandra_datacenter: self.name(&spec::CASSANDRA_DATACENTER),
            cassandra_rack: self.name(&spec::CASSANDRA_RACK),
            cassandra_retention: self.get(&spec::CASSANDRA_RETENTION, secs(31_557_600), ttl)?,

            telemetry_topic: self.get(
                &spec::TELEMETRY_TOPIC,
                "prosody.telemetry-events".to_owned(),
                non_empty,
            )?,
            telemetry_enabled: self.get(&spec::TELEMETRY_ENABLED, true, boolean)?,
        })
    }
}
