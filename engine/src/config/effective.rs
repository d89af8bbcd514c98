//! The resolved value of an option, typed (for language bindings) and as text (for display).

use std::fmt;
use std::time::Duration;

use super::options::is_secret;
use super::properties::KafkaProperties;
use super::spec::OptionSpec;
use super::{Config, Mode, SpanRelation};

/// One option's resolved value, as a binding should present it.
///
/// Its `Display` form is the text the option accepts (durations in humantime form, lists
/// comma-separated), so it can be fed back as an explicit option.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// The option has no value (an optional name, credential or port left unset).
    Unset,
    /// A name or credential. A set password reads `<redacted>`.
    Text(String),
    /// A list, possibly empty.
    List(Vec<String>),
    /// A switch.
    Bool(bool),
    /// A count, a size or a port.
    Integer(u64),
    /// A weight or a fraction.
    Float(f64),
    /// A span of time.
    Duration(Duration),
    /// The failure-handling mode.
    Mode(Mode),
    /// A span relation.
    SpanRelation(SpanRelation),
    /// librdkafka properties by name, secret values reading `<redacted>`.
    Properties(Vec<(String, String)>),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => Ok(()),
            Self::Text(text) => f.write_str(text),
            Self::List(items) => f.write_str(&items.join(",")),
            Self::Bool(value) => write!(f, "{value}"),
            Self::Integer(value) => write!(f, "{value}"),
            Self::Float(value) => write!(f, "{value}"),
            Self::Duration(value) => write!(f, "{}", humantime::format_duration(*value)),
            Self::Mode(mode) => f.write_str(mode.as_str()),
            Self::SpanRelation(relation) => f.write_str(relation.as_str()),
            Self::Properties(properties) => {
                let object: serde_json::Map<String, serde_json::Value> = properties
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone().into()))
                    .collect();
                write!(f, "{}", serde_json::Value::Object(object))
            }
        }
    }
}

impl From<&String> for OptionValue {
    fn from(text: &String) -> Self {
        Self::Text(text.clone())
    }
}

impl From<&Option<String>> for OptionValue {
    fn from(text: &Option<String>) -> Self {
        text.as_ref().map_or(Self::Unset, Self::from)
    }
}

impl From<&Vec<String>> for OptionValue {
    fn from(items: &Vec<String>) -> Self {
        Self::List(items.clone())
    }
}

impl From<&bool> for OptionValue {
    fn from(value: &bool) -> Self {
        Self::Bool(*value)
    }
}

impl From<&usize> for OptionValue {
    fn from(value: &usize) -> Self {
        Self::Integer(u64::try_from(*value).unwrap_or(u64::MAX))
    }
}

impl From<&u32> for OptionValue {
    fn from(value: &u32) -> Self {
        Self::Integer(u64::from(*value))
    }
}

impl From<&Option<u16>> for OptionValue {
    fn from(port: &Option<u16>) -> Self {
        port.map_or(Self::Unset, |port| Self::Integer(u64::from(port)))
    }
}

impl From<&f64> for OptionValue {
    fn from(value: &f64) -> Self {
        Self::Float(*value)
    }
}

impl From<&Duration> for OptionValue {
    fn from(value: &Duration) -> Self {
        Self::Duration(*value)
    }
}

impl From<&Mode> for OptionValue {
    fn from(mode: &Mode) -> Self {
        Self::Mode(*mode)
    }
}

impl From<&SpanRelation> for OptionValue {
    fn from(relation: &SpanRelation) -> Self {
        Self::SpanRelation(*relation)
    }
}

impl From<&KafkaProperties> for OptionValue {
    fn from(properties: &KafkaProperties) -> Self {
        Self::Properties(properties.redacted())
    }
}

impl OptionValue {
    /// The value as it may be shown for `spec`: a set secret reads `<redacted>`.
    pub(crate) fn redacted_for(self, spec: &OptionSpec) -> Self {
        if is_secret(spec) && self != Self::Unset {
            Self::Text("<redacted>".to_owned())
        } else {
            self
        }
    }
}

impl Config {
    /// Every option with its effective value as text (durations in humantime form, lists
    /// comma-separated), or `None` when unset. The password is shown as `<redacted>`.
    ///
    /// ```
    /// use prosody_engine::Config;
    /// let config = Config::from_options_with_env([("stall_threshold", "10s")], |_| None)?;
    /// let values = config.effective_values();
    /// let timeout = values.iter().find(|(name, _)| *name == "timeout").and_then(|(_, v)| v.clone());
    /// assert_eq!(timeout.as_deref(), Some("8s"));
    /// # Ok::<(), prosody_engine::ConfigError>(())
    /// ```
    #[must_use]
    pub fn effective_values(&self) -> Vec<(&'static str, Option<String>)> {
        self.typed_values()
            .into_iter()
            .map(|(name, value)| match value {
                OptionValue::Unset => (name, None),
                value => (name, Some(value.to_string())),
            })
            .collect()
    }
}

impl Config {
    /// Options set to something other than their default that do nothing in this
    /// configuration's mode: deferral and hot-key options outside pipeline mode, the failure
    /// topic outside low-latency mode, retries in best-effort mode, and deferral's own options
    /// with `defer_enabled: false` (likewise for `monopolization_enabled`).
    ///
    /// ```
    /// use prosody_engine::Config;
    /// let config = Config::from_options_with_env(
    ///     [("mode", "best_effort"), ("defer_base", "5s"), ("max_retries", "9")],
    ///     |_| None,
    /// )?;
    /// assert_eq!(config.inactive_options(), ["max_retries", "defer_base"]);
    /// # Ok::<(), prosody_engine::ConfigError>(())
    /// ```
    #[must_use]
    pub fn inactive_options(&self) -> Vec<&'static str> {
        let Ok(defaults) =
            Self::from_options_with_env(std::iter::empty::<(&str, &str)>(), |_| None)
        else {
            return Vec::new();
        };
        let defaults = defaults.typed_values();
        self.typed_values()
            .into_iter()
            .zip(defaults)
            .filter(|((_, value), (_, default))| value != default)
            .map(|((name, _), _)| name)
            .filter(|name| !self.applies(name))
            .collect()
    }

    /// Every option that does nothing in this configuration's mode, set or not, in catalogue
    /// order. [`inactive_options`](Self::inactive_options) is the part of it someone set.
    ///
    /// ```
    /// use prosody_engine::Config;
    /// let config = Config::from_options_with_env(
    ///     [("mode", "low_latency"), ("failure_topic", "dlq")],
    ///     |_| None,
    /// )?;
    /// let inert = config.inapplicable_options();
    /// assert!(inert.contains(&"defer_base") && inert.contains(&"monopolization_window"));
    /// assert!(!inert.contains(&"failure_topic") && !inert.contains(&"max_retries"));
    /// # Ok::<(), prosody_engine::ConfigError>(())
    /// ```
    #[must_use]
    pub fn inapplicable_options(&self) -> Vec<&'static str> {
        self.typed_values()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !self.applies(name))
            .collect()
    }

    /// Whether option `name` has any effect in this configuration's mode. Names that are not
    /// options answer `true`: nothing here says they are ignored.
    #[must_use]
    pub fn applies(&self, name: &str) -> bool {
        let pipeline = self.mode == Mode::Pipeline;
        match name {
            "failure_topic" => self.mode == Mode::LowLatency,
            "max_retries" | "retry_base" | "max_retry_delay" => self.mode != Mode::BestEffort,
            "defer_enabled" => pipeline,
            name if name.starts_with("defer_") => pipeline && self.defer_enabled,
            "monopolization_enabled" => pipeline,
            "telemetry_topic" => self.telemetry_enabled,
            name if name.starts_with("monopolization_") => pipeline && self.monopolization_enabled,
            _ => true,
        }
    }
}
