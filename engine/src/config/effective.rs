//! The resolved value of every option, typed (for language bindings) and as text (for display).

use std::fmt;
use std::time::Duration;

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

/// Pairs each named field of a `Config` with its typed value.
macro_rules! typed {
    ($config:expr; $($field:ident),* $(,)?) => {
        vec![$((stringify!($field), OptionValue::from(&$config.$field))),*]
    };
}

impl Config {
    /// Every option with its typed value, in catalogue order. The password is shown as
    /// `<redacted>`.
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
        let mut values = typed![self;
            bootstrap_servers, group_id, subscribed_topics, allowed_events, source_system, mock,
            mode, max_concurrency, max_uncommitted, timeout, commit_interval, poll_interval,
            shutdown_timeout, stall_threshold, probe_port, failure_topic, idempotence_cache_size,
            idempotence_version, idempotence_ttl, slab_size, message_spans, timer_spans,
            send_timeout, max_retries, retry_base, max_retry_delay, defer_enabled, defer_base,
            defer_max_delay, defer_failure_threshold, defer_failure_window, defer_cache_size,
            defer_seek_timeout, defer_discard_threshold, monopolization_enabled,
            monopolization_threshold, monopolization_window, monopolization_cache_size,
            scheduler_failure_weight, scheduler_max_wait, scheduler_wait_weight,
            scheduler_cache_size, cassandra_nodes, cassandra_keyspace, cassandra_user,
            cassandra_password, cassandra_datacenter, cassandra_rack, cassandra_retention,
            telemetry_topic, telemetry_enabled,
        ];
        for (name, value) in &mut values {
            if *name == "cassandra_password" && *value != OptionValue::Unset {
                *value = OptionValue::Text("<redacted>".to_owned());
            }
        }
        values
    }

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
