//! Where values come from: explicit options, the environment, precedence,
//! and the derived handler timeout.

use std::time::Duration;

use super::{defaults, field, resolve, sample};
use crate::config::Config;

#[test]
fn every_option_is_read_from_its_env_var_and_only_sets_its_field() {
    let base = defaults();
    for spec in Config::options() {
        let (value, expected) = sample(spec);
        let config = resolve(&[], &[(spec.env, value)])
            .unwrap_or_else(|e| panic!("{} = {value:?} rejected: {e}", spec.env));
        assert_eq!(field(&config, spec.name), expected, "{}", spec.env);
        assert_ne!(
            field(&base, spec.name),
            expected,
            "sample for {} equals the default",
            spec.name
        );
        for other in Config::options() {
            let derived = (spec.name == "stall_threshold" && other.name == "timeout")
                || (spec.name == "mock" && other.name == "probe_port")
                || (spec.name == "mock" && other.name == "telemetry_enabled");
            if other.name != spec.name && !derived {
                assert_eq!(
                    field(&config, other.name),
                    field(&base, other.name),
                    "{} leaked into {}",
                    spec.env,
                    other.name
                );
            }
        }
    }
}

#[test]
fn explicit_options_beat_the_environment_for_every_option() {
    for spec in Config::options() {
        let (value, expected) = sample(spec);
        let config = resolve(&[(spec.name, value)], &[(spec.env, "!! not valid !!")])
            .unwrap_or_else(|e| panic!("explicit {} = {value:?} rejected: {e}", spec.name));
        assert_eq!(field(&config, spec.name), expected, "{}", spec.name);
    }
    let config = resolve(
        &[("max_concurrency", "16")],
        &[("PROSODY_MAX_CONCURRENCY", "8")],
    )
    .unwrap();
    assert_eq!(config.max_concurrency, 16);
}

#[test]
fn blank_env_values_count_as_unset() {
    let env = [
        ("PROSODY_MAX_CONCURRENCY", ""),
        ("PROSODY_PROBE_PORT", ""),
        ("PROSODY_GROUP_ID", "  "),
        ("PROSODY_TELEMETRY_TOPIC", ""),
        ("PROSODY_STALL_THRESHOLD", " "),
    ];
    assert_eq!(resolve(&[], &env).unwrap(), defaults());
}

#[test]
fn empty_explicit_values_unset_optional_strings_but_are_errors_for_typed_ones() {
    let config = resolve(
        &[("group_id", ""), ("failure_topic", "")],
        &[("PROSODY_GROUP_ID", "env-group")],
    )
    .unwrap();
    assert_eq!(config.group_id, None, "explicit empty wins over env");
    assert_eq!(config.failure_topic, None);
    for name in [
        "max_concurrency",
        "poll_interval",
        "mock",
        "mode",
        "idempotence_version",
        "telemetry_topic",
        "cassandra_keyspace",
    ] {
        let error = resolve(&[(name, "")], &[]).unwrap_err();
        assert_eq!(error.option(), Some(name));
        assert!(
            error
                .to_string()
                .starts_with(&format!("invalid `{name}`: \"\" is not ")),
            "{error}"
        );
    }
}

#[test]
fn the_last_duplicate_option_wins() {
    let config = resolve(&[("max_retries", "1"), ("max_retries", "5")], &[]).unwrap();
    assert_eq!(config.max_retries, 5);
}

#[test]
fn timeout_defaults_to_eighty_percent_of_stall_threshold() {
    assert_eq!(defaults().timeout, Duration::from_secs(240));
    let from_env = resolve(&[], &[("PROSODY_STALL_THRESHOLD", "15s")]).unwrap();
    assert_eq!(
        (from_env.stall_threshold, from_env.timeout),
        (Duration::from_secs(15), Duration::from_secs(12))
    );
    let explicit = resolve(
        &[("stall_threshold", "60")],
        &[("PROSODY_STALL_THRESHOLD", "15s")],
    )
    .unwrap();
    assert_eq!(explicit.timeout, Duration::from_secs(48));
    let odd = resolve(&[("stall_threshold", "1ms")], &[]).unwrap();
    assert_eq!(odd.timeout, Duration::from_micros(800));
}

#[test]
fn an_explicit_timeout_is_not_derived_and_may_exceed_the_threshold() {
    let config = resolve(&[("timeout", "30")], &[("PROSODY_STALL_THRESHOLD", "10s")]).unwrap();
    assert_eq!(config.timeout, Duration::from_secs(30));
    let config = resolve(
        &[],
        &[("PROSODY_TIMEOUT", "2m"), ("PROSODY_STALL_THRESHOLD", "1m")],
    )
    .unwrap();
    assert_eq!(config.timeout, Duration::from_secs(120));
}

#[test]
fn lists_are_trimmed_and_empty_entries_dropped() {
    let config = resolve(
        &[("bootstrap_servers", " k1:9092 ,, k2:9092,")],
        &[("PROSODY_ALLOWED_EVENTS", "user.,account.")],
    )
    .unwrap();
    assert_eq!(config.bootstrap_servers, ["k1:9092", "k2:9092"]);
    assert_eq!(config.allowed_events, ["user.", "account."]);
    let empty = resolve(
        &[("subscribed_topics", "")],
        &[("PROSODY_SUBSCRIBED_TOPICS", "t")],
    )
    .unwrap();
    assert!(empty.subscribed_topics.is_empty());
}

#[test]
fn names_are_trimmed_but_credentials_are_kept_verbatim() {
    let config = resolve(
        &[
            ("group_id", " billing "),
            ("cassandra_password", " p w "),
            ("cassandra_user", "u "),
        ],
        &[("PROSODY_CASSANDRA_RACK", " rack1")],
    )
    .unwrap();
    assert_eq!(config.group_id.as_deref(), Some("billing"));
    assert_eq!(config.cassandra_password.as_deref(), Some(" p w "));
    assert_eq!(config.cassandra_user.as_deref(), Some("u "));
    assert_eq!(config.cassandra_rack.as_deref(), Some("rack1"));
}

#[test]
fn from_options_reads_the_process_environment() {
    // Only asserts what holds whatever PROSODY_* variables the test runner has.
    match Config::from_options([("mode", "pipeline"), ("max_retries", "9")]) {
        Ok(config) => assert_eq!(config.max_retries, 9),
        Err(error) => assert!(error.is_invalid() && error.to_string().contains("(from PROSODY_")),
    }
}
