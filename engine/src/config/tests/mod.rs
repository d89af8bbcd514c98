//! Unit tests for configuration resolution, split by concern.

use std::collections::HashMap;

use super::{Config, ConfigError, OptionKind, OptionSpec};

mod defaults;
mod errors;
mod kafka;
mod sources;
mod values;

/// Resolves `options` against a fake environment holding only `env`.
fn resolve(options: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Config::from_options_with_env(options.iter().copied(), move |name| env.get(name).cloned())
}

/// The configuration with nothing set anywhere.
fn defaults() -> Config {
    resolve(&[], &[]).expect("an empty configuration resolves")
}

/// Resolves a single explicit option and expects an error.
fn option_error(name: &str, value: &str) -> ConfigError {
    resolve(&[(name, value)], &[]).expect_err("the value should be rejected")
}

/// A valid, non-default text for the option plus the text of the value it should produce
/// (as [`field`] renders it).
fn sample(spec: &OptionSpec) -> (&'static str, &'static str) {
    match spec.kind {
        OptionKind::String => ("custom_value", "custom_value"),
        OptionKind::StringList => (" a, b,,c ", "a,b,c"),
        OptionKind::Bool if spec.default.trim_start_matches('(').starts_with("true") => {
            ("No", "false")
        }
        OptionKind::Bool => ("YES", "true"),
        OptionKind::Integer => ("7", "7"),
        OptionKind::Float => ("0.25", "0.25"),
        OptionKind::Duration => ("1500ms", "1s 500ms"),
        OptionKind::OptionalPort => ("9100", "9100"),
        OptionKind::Mode => ("best-effort", "best_effort"),
        OptionKind::SpanRelation if spec.default == "child" => ("follows-from", "follows_from"),
        OptionKind::SpanRelation => ("CHILD", "child"),
        OptionKind::Properties => (
            r#"{"client.id": "billing", "linger.ms": 5}"#,
            r#"{"client.id":"billing","linger.ms":"5"}"#,
        ),
    }
}

/// A text the option must reject, if its kind has one.
fn bad_sample(spec: &OptionSpec) -> Option<&'static str> {
    match spec.kind {
        OptionKind::String if spec.name == "cassandra_keyspace" => Some("bad-name"),
        OptionKind::String if spec.name == "group_instance_id" => Some("pod 1"),
        OptionKind::StringList if spec.name == "bootstrap_servers" => Some(" , "),
        OptionKind::String | OptionKind::StringList => None,
        OptionKind::Bool => Some("maybe"),
        OptionKind::Integer => Some("-3"),
        OptionKind::Float => Some("lots"),
        OptionKind::Duration => Some("soon"),
        OptionKind::OptionalPort => Some("70000"),
        OptionKind::Mode => Some("fast"),
        OptionKind::SpanRelation => Some("sibling"),
        OptionKind::Properties => Some("security.protocol=SSL"),
    }
}

/// The value of option `name` as text (the password in clear), from the typed values the
/// bindings see.
fn field(c: &Config, name: &str) -> String {
    if name == "cassandra_password" {
        return c.cassandra_password.clone().unwrap_or_default();
    }
    c.typed_values()
        .into_iter()
        .find(|(option, _)| *option == name)
        .map(|(_, value)| value.to_string())
        .unwrap_or_else(|| panic!("no typed value for option `{name}`"))
}
