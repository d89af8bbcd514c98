//! The error returned when configuration cannot be resolved.
//!
//! Messages are short lowercase phrases naming the option in backticks, so
//! they read well when a binding prefixes them (for example in a Ruby
//! `ArgumentError`). Callers that need to branch should use the accessors
//! rather than match on the text.

use std::error::Error;
use std::fmt;

use super::spec::{self, OptionSpec};

/// Where a rejected value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueSource {
    /// Passed explicitly to [`Config::from_options`](super::Config::from_options).
    Option,
    /// Read from the option's `PROSODY_*` environment variable.
    Environment,
}

/// What went wrong while resolving the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// An explicit option name matches no known option.
    Unknown {
        /// The name as given.
        name: String,
        /// The closest valid option name, when one is reasonably close.
        suggestion: Option<&'static str>,
    },
    /// A value could not be parsed or is out of range.
    Invalid {
        /// The option's name.
        option: &'static str,
        /// The option's environment variable.
        env: &'static str,
        /// Whether the value was passed explicitly or read from `env`.
        origin: ValueSource,
        /// The rejected text.
        value: String,
        /// What the value should have looked like, as a noun phrase.
        expected: &'static str,
    },
    /// A `kafka_config` property Prosody keeps to itself, or one librdkafka refused.
    Property {
        /// `kafka_config`.
        option: &'static str,
        /// Its environment variables' prefix.
        env: &'static str,
        /// The librdkafka property at fault.
        property: String,
        /// Why (librdkafka's words, with any secret value taken out).
        reason: String,
    },
    /// An option needed by another option's setting was not provided.
    Missing {
        /// The option's name.
        option: &'static str,
        /// The option's environment variable.
        env: &'static str,
        /// Why the option is needed here.
        why: &'static str,
    },
}

/// Error produced by [`Config::from_options`](super::Config::from_options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
}

impl ConfigError {
    /// An unrecognised explicit option, with a suggestion when one fits.
    pub(crate) fn unknown(name: &str) -> Self {
        Self::from(ConfigErrorKind::Unknown {
            name: name.to_owned(),
            suggestion: spec::suggest(name),
        })
    }

    /// A value for `spec` that its parser rejected.
    pub(crate) fn invalid(
        spec: &OptionSpec,
        origin: ValueSource,
        value: String,
        expected: &'static str,
    ) -> Self {
        Self::from(ConfigErrorKind::Invalid {
            option: spec.name,
            env: spec.env,
            origin,
            value,
            expected,
        })
    }

    /// A required-in-context option that was not set.
    /// The `kafka_config` property `property` cannot be used, for `reason`.
    pub(crate) fn kafka_property(property: &str, reason: String) -> Self {
        Self::from(ConfigErrorKind::Property {
            option: super::options::KAFKA_CONFIG.name,
            env: super::properties::ENV_PREFIX,
            property: property.to_owned(),
            reason,
        })
    }

    pub(crate) fn missing(spec: &OptionSpec, why: &'static str) -> Self {
        Self::from(ConfigErrorKind::Missing {
            option: spec.name,
            env: spec.env,
            why,
        })
    }

    /// The structured description of the failure.
    #[must_use]
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }

    /// The option the error is about; for an unknown option, the name as
    /// given.
    #[must_use]
    pub fn option(&self) -> Option<&str> {
        match &self.kind {
            ConfigErrorKind::Unknown { name, .. } => Some(name),
            ConfigErrorKind::Invalid { option, .. }
            | ConfigErrorKind::Missing { option, .. }
            | ConfigErrorKind::Property { option, .. } => Some(option),
        }
    }

    /// The environment variable of the option involved, if it is a known
    /// option.
    #[must_use]
    pub fn env_var(&self) -> Option<&'static str> {
        match &self.kind {
            ConfigErrorKind::Unknown { .. } => None,
            ConfigErrorKind::Invalid { env, .. }
            | ConfigErrorKind::Missing { env, .. }
            | ConfigErrorKind::Property { env, .. } => Some(env),
        }
    }

    /// Where the rejected value came from, for invalid values.
    #[must_use]
    pub fn source_of_value(&self) -> Option<ValueSource> {
        match &self.kind {
            ConfigErrorKind::Invalid { origin, .. } => Some(*origin),
            _ => None,
        }
    }

    /// The rejected text, for invalid values.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        match &self.kind {
            ConfigErrorKind::Invalid { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The suggested option name, for unknown options.
    #[must_use]
    pub fn suggestion(&self) -> Option<&'static str> {
        match &self.kind {
            ConfigErrorKind::Unknown { suggestion, .. } => *suggestion,
            _ => None,
        }
    }

    /// Whether an explicit option name was not recognised.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(self.kind, ConfigErrorKind::Unknown { .. })
    }

    /// Whether a value was malformed or out of range.
    #[must_use]
    pub fn is_invalid(&self) -> bool {
        matches!(self.kind, ConfigErrorKind::Invalid { .. })
    }

    /// Whether a needed option was absent.
    #[must_use]
    pub fn is_missing(&self) -> bool {
        matches!(self.kind, ConfigErrorKind::Missing { .. })
    }
}

impl From<ConfigErrorKind> for ConfigError {
    fn from(kind: ConfigErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConfigErrorKind::Unknown { name, suggestion } => {
                write!(f, "unknown option `{name}`")?;
                match suggestion {
                    Some(suggestion) => write!(f, "; did you mean `{suggestion}`?"),
                    None => Ok(()),
                }
            }
            ConfigErrorKind::Invalid {
                option,
                env,
                origin,
                value,
                expected,
            } => {
                write!(f, "invalid `{option}`")?;
                if *origin == ValueSource::Environment {
                    write!(f, " (from {env})")?;
                }
                write!(f, ": {value:?} is not {expected}")
            }
            ConfigErrorKind::Property {
                option,
                property,
                reason,
                ..
            } => write!(f, "invalid `{option}` property `{property}`: {reason}"),
            ConfigErrorKind::Missing { option, env, why } => {
                write!(f, "missing `{option}` (option or {env}): {why}")
            }
        }
    }
}

impl Error for ConfigError {}
