//! `kafka_config`: librdkafka client properties passed through to every Kafka client.
//!
//! Its text form is a JSON object of property names to text, such as
//! `{"security.protocol":"SASL_SSL","sasl.mechanism":"PLAIN"}`, so values may hold commas and
//! newlines (PEM certificates). From the environment, each `PROSODY_KAFKA_CONFIG_<NAME>`
//! variable sets one property: `<NAME>` lowercased, with `_` read as `.`
//! (`PROSODY_KAFKA_CONFIG_SASL_PASSWORD` sets `sasl.password`). Like every option, a value given
//! explicitly replaces the environment's as a whole.
//!
//! The properties Prosody sets from its own options, or needs for its guarantees, are refused
//! here, naming the option to use instead. Whether librdkafka knows a property and takes its
//! value is checked when a client is built (`kafka/client_config.rs`).
//!
//! Values of properties whose name says they hold a secret (password, secret, key, token) are
//! never shown: not by `Debug`, the effective configuration, nor any error.

use std::collections::BTreeMap;
use std::fmt;

use super::error::ConfigError;
use super::parse::Expected;

/// The environment variables' common prefix.
pub(crate) const ENV_PREFIX: &str = "PROSODY_KAFKA_CONFIG_";

/// What a shown secret reads as.
pub(crate) const REDACTED: &str = "<redacted>";

const PROPERTIES: Expected =
    "a JSON object of librdkafka property names to text, such as {\"security.protocol\":\"SASL_SSL\"}";

/// librdkafka properties, by name.
///
/// ```
/// use prosody_engine::Config;
/// let config = Config::from_options_with_env(
///     [("kafka_config", r#"{"security.protocol":"SASL_SSL","sasl.password":"hunter2"}"#)],
///     |_| None,
/// )?;
/// assert_eq!(config.kafka_config.get("security.protocol"), Some("SASL_SSL"));
/// assert!(!format!("{config:?}").contains("hunter2"));
/// # Ok::<(), prosody_engine::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

impl KafkaProperties {
    /// The value set for `name`, if any.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every property and its value, secrets included, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Whether none is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every property with secret values replaced by `<redacted>`.
    #[must_use]
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(name, value)| {
                let shown = if is_secret_property(name) {
                    REDACTED
                } else {
                    value
                };
                (name.to_owned(), shown.to_owned())
            })
            .collect()
    }

    /// Refuses the properties Prosody owns, naming the first one set.
    pub(crate) fn check_owned(&self) -> Result<(), ConfigError> {
        for (name, _) in self.iter() {
            if let Some(why) = owner(name) {
                return Err(ConfigError::kafka_property(name, why.to_owned()));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

/// Whether a property's value is a secret, judged by its name.
#[must_use]
pub fn is_secret_property(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "key", "token"]
        .iter()
        .any(|word| name.contains(word))
}

/// Why Prosody keeps `name` to itself, if it does.
fn owner(name: &str) -> Option<&'static str> {
    Some(match name {
        "bootstrap.servers" | "metadata.broker.list" => {
            "Prosody sets it from the `bootstrap_servers` option"
        }
        "group.id" => "Prosody sets it from the `group_id` option",
        "group.instance.id" => "Prosody sets it from the `group_instance_id` option",
        "auto.commit.interval.ms" => "Prosody sets it from the `commit_interval` option",
        "message.timeout.ms" | "delivery.timeout.ms" => {
            "Prosody sets it from the `send_timeout` option"
        }
        "enable.auto.commit" | "enable.auto.offset.store" => {
            "Prosody stores and commits offsets itself, only once a message was handled"
        }
        "enable.idempotence" => "Prosody's producer is always idempotent",
        "transactional.id" => "Prosody's producer is not transactional",
        "partition.assignment.strategy" => {
            "Prosody's rebalance handling needs cooperative-sticky with the classic protocol"
        }
        "enable.partition.eof" => "Prosody's poll loop does not take end-of-partition events",
        "statistics.interval.ms" => "Prosody reads partition lag from librdkafka's statistics",
        _ => return None,
    })
}

/// Parses the JSON text form; every value must be text, a number or a boolean.
pub(crate) fn properties(text: &str) -> Result<KafkaProperties, Expected> {
    if text.trim().is_empty() {
        return Ok(KafkaProperties::default());
    }
    let object: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| PROPERTIES)?;
    let mut properties = BTreeMap::new();
    for (name, value) in object {
        let name = name.trim();
        let value = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            _ => return Err(PROPERTIES),
        };
        if name.is_empty() {
            return Err(PROPERTIES);
        }
        properties.insert(name.to_owned(), value);
    }
    Ok(KafkaProperties(properties))
}

/// The JSON text form of the `PROSODY_KAFKA_CONFIG_<NAME>` variables among `vars`, or `None`
/// when there are none.
pub(crate) fn from_env_vars(vars: impl Iterator<Item = (String, String)>) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = vars
        .filter_map(|(name, value)| {
            let suffix = name.strip_prefix(ENV_PREFIX)?;
            let property = suffix.to_ascii_lowercase().replace('_', ".");
            (!property.is_empty()).then_some((property, serde_json::Value::String(value)))
        })
        .collect();
    (!object.is_empty()).then(|| serde_json::Value::Object(object).to_string())
}
