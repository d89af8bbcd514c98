//! Unit tests for configuration resolution, split by concern.

use std::collections::HashMap;

use super::{Config, ConfigError, OptionKind, OptionSpec};

mod defaults;
mod errors;
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

/// A valid, non-default text for the option plus the `Debug` rendering of
/// the field it should produce.
fn sample(spec: &OptionSpec) -> (&'static str, &'static str) {
    match spec.kind {
        OptionKind::String if spec.default.starts_with('(') => {
            ("custom_value", "Some(\"custom_value\")")
        }
        OptionKind::String => ("custom_value", "\"custom_value\""),
        OptionKind::StringList => (" a, b,,c ", "[\"a\", \"b\", \"c\"]"),
        OptionKind::Bool if spec.default == "true" => ("No", "false"),
        OptionKind::Bool => ("YES", "true"),
        OptionKind::Integer => ("7", "7"),
        OptionKind::Float => ("0.25", "0.25"),
        OptionKind::Duration => ("1500ms", "1.5s"),
        OptionKind::OptionalPort => ("9100", "Some(9100)"),
        OptionKind::Mode => ("best-effort", "BestEffort"),
        OptionKind::SpanRelation if spec.default == "child" => ("follows-from", "FollowsFrom"),
        OptionKind::SpanRelation => ("CHILD", "Child"),
    }
}

/// A text the option must reject, if its kind has one.
fn bad_sample(spec: &OptionSpec) -> Option<&'static str> {
    match spec.kind {
        OptionKind::String if spec.name == "cassandra_keyspace" => Some("bad-name"),
        OptionKind::String | OptionKind::StringList => None,
        OptionKind::Bool => Some("maybe"),
        OptionKind::Integer => Some("-3"),
        OptionKind::Float => Some("lots"),
        OptionKind::Duration => Some("soon"),
        OptionKind::OptionalPort => Some("70000"),
        OptionKind::Mode => Some("fast"),
        OptionKind::SpanRelation => Some("sibling"),
    }
}

/// The `Debug` rendering of the field named like option `name`.
fn field(c: &Config, name: &str) -> String {
    match name {
        "bootstrap_servers" => format!("{:?}", c.bootstrap_servers),
        "group_id" => format!("{:?}", c.group_id),
        "subscribed_topics" => format!("{:?}", c.subscribed_topics),
        "allowed_events" => format!("{:?}", c.allowed_events),
        "source_system" => format!("{:?}", c.source_system),
        "mock" => format!("{:?}", c.mock),
        "mode" => format!("{:?}", c.mode),
        "max_concurrency" => format!("{:?}", c.max_concurrency),
        "max_uncommitted" => format!("{:?}", c.max_uncommitted),
        "timeout" => format!("{:?}", c.timeout),
        "commit_interval" => format!("{:?}", c.commit_interval),
        "poll_interval" => format!("{:?}", c.poll_interval),
        "shutdown_timeout" => format!("{:?}", c.shutdown_timeout),
        "stall_threshold" => format!("{:?}", c.stall_threshold),
        "probe_port" => format!("{:?}", c.probe_port),
        "failure_topic" => format!("{:?}", c.failure_topic),
        "idempotence_cache_size" => format!("{:?}", c.idempotence_cache_size),
        "idempotence_version" => format!("{:?}", c.idempotence_version),
        "idempotence_ttl" => format!("{:?}", c.idempotence_ttl),
        "slab_size" => format!("{:?}", c.slab_size),
        "message_spans" => format!("{:?}", c.message_spans),
        "timer_spans" => format!("{:?}", c.timer_spans),
        "send_timeout" => format!("{:?}", c.send_timeout),
        "max_retries" => format!("{:?}", c.max_retries),
        "retry_base" => format!("{:?}", c.retry_base),
        "max_retry_delay" => format!("{:?}", c.max_retry_delay),
        "defer_enabled" => format!("{:?}", c.defer_enabled),
        "defer_base" => format!("{:?}", c.defer_base),
        "defer_max_delay" => format!("{:?}", c.defer_max_delay),
        "defer_failure_threshold" => format!("{:?}", c.defer_failure_threshold),
        "defer_failure_window" => format!("{:?}", c.defer_failure_window),
        "defer_cache_size" => format!("{:?}", c.defer_cache_size),
        "defer_seek_timeout" => format!("{:?}", c.defer_seek_timeout),
        "defer_discard_threshold" => format!("{:?}", c.defer_discard_threshold),
        "monopolization_enabled" => format!("{:?}", c.monopolization_enabled),
        "monopolization_threshold" => format!("{:?}", c.monopolization_threshold),
        "monopolization_window" => format!("{:?}", c.monopolization_window),
        "monopolization_cache_size" => format!("{:?}", c.monopolization_cache_size),
        "scheduler_failure_weight" => format!("{:?}", c.scheduler_failure_weight),
        "scheduler_max_wait" => format!("{:?}", c.scheduler_max_wait),
        "scheduler_wait_weight" => format!("{:?}", c.scheduler_wait_weight),
        "scheduler_cache_size" => format!("{:?}", c.scheduler_cache_size),
        "cassandra_nodes" => format!("{:?}", c.cassandra_nodes),
        "cassandra_keyspace" => format!("{:?}", c.cassandra_keyspace),
        "cassandra_user" => format!("{:?}", c.cassandra_user),
        "cassandra_password" => format!("{:?}", c.cassandra_password),
        "cassandra_datacenter" => format!("{:?}", c.cassandra_datacenter),
        "cassandra_rack" => format!("{:?}", c.cassandra_rack),
        "cassandra_retention" => format!("{:?}", c.cassandra_retention),
        "telemetry_topic" => format!("{:?}", c.telemetry_topic),
        "telemetry_enabled" => format!("{:?}", c.telemetry_enabled),
        other => panic!("test helper does not know option `{other}`"),
    }
}
