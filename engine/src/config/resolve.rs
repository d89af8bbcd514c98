//! Resolution of explicit options and environment variables into a
//! validated [`Config`].
//!
//! Precedence per option: an explicit option (even an empty one) wins; then
//! the `PROSODY_*` variable unless it is blank; then the default.

use std::collections::HashMap;

use super::error::{ConfigError, ValueSource};
use super::options::{BOOTSTRAP_SERVERS, FAILURE_TOPIC, KAFKA_CONFIG};
use super::parse::Expected;
use super::properties::{self, REDACTED};
use super::spec::{self, OptionSpec};
use super::{Config, Mode, OptionValue};

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
    ///
    /// let retry_base = Config::parse_option("retry_base", "1.5")?;
    /// assert_eq!(retry_base, OptionValue::Duration(Duration::from_millis(1500)));
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
        config.kafka_config.check_owned()?;
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
        self.kafka_config.check_owned()?;
        if self.mode == Mode::LowLatency && self.failure_topic.is_none() {
            return Err(ConfigError::missing(
                &FAILURE_TOPIC,
                "low_latency mode needs a topic to send persistently failing messages to",
            ));
        }
        Ok(())
    }

    /// `bootstrap_servers` as librdkafka takes it.
    ///
    /// # Errors
    ///
    /// When none is set: a client could then only time out, so it is refused at build time,
    /// naming the option. (Mock mode ignores the option and never asks.)
    pub(crate) fn brokers(&self) -> Result<String, ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::missing(
                &BOOTSTRAP_SERVERS,
                "connecting to Kafka needs at least one broker address (host:port); set it, or \
                 pass `mock: true` for the in-process broker",
            ));
        }
        Ok(self.bootstrap_servers.join(","))
    }
}

/// Reads a variable from the process environment, lossily decoding
/// non-UTF-8 values so they are reported rather than ignored.
fn process_env(name: &str) -> Option<String> {
    if name == KAFKA_CONFIG.env {
        return properties::from_env_vars(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }));
    }
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// The places a value may come from, consulted in precedence order.
pub(super) struct Sources<E> {
    /// Explicit options keyed by canonical option name.
    pub(super) explicit: HashMap<&'static str, String>,
    /// Environment lookup.
    pub(super) env: E,
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

    /// Parses the value of `spec` with `parse`; `None` when it is set nowhere.
    pub(super) fn parse<T>(
        &self,
        spec: &OptionSpec,
        parse: fn(&str) -> Result<T, Expected>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(spec)
            .map(|(text, origin)| {
                parse(&text).map_err(|expected| {
                    // It may hold passwords; an error is no place to repeat them.
                    let shown = if spec.name == KAFKA_CONFIG.name {
                        REDACTED.to_owned()
                    } else {
                        text
                    };
                    ConfigError::invalid(spec, origin, shown, expected)
                })
            })
            .transpose()
    }
}
