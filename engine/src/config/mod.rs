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

mod effective;
mod error;
mod options;
mod parse;
mod properties;
mod resolve;
mod spec;
mod values;

#[cfg(test)]
mod tests;

pub use effective::OptionValue;
pub use error::{ConfigError, ConfigErrorKind, ValueSource};
pub use options::Config;
pub use properties::{is_secret_property, KafkaProperties};
pub use spec::{OptionKind, OptionSpec};
pub use values::{Mode, SpanRelation};
