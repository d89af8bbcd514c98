//! Error kinds, accessors and messages.

use super::{bad_sample, resolve};
use crate::config::{Config, ConfigErrorKind, ValueSource};

#[test]
fn bad_values_name_the_option_and_the_env_var_only_when_read_from_it() {
    let mut checked = 0;
    for spec in Config::options() {
        let Some(bad) = bad_sample(spec) else {
            continue;
        };
        // `kafka_config` may hold passwords, so its errors never quote it.
        let shown = if spec.name == "kafka_config" {
            "<redacted>"
        } else {
            bad
        };
        let from_env = resolve(&[], &[(spec.env, bad)]).expect_err(spec.env);
        assert!(from_env.is_invalid());
        assert_eq!(from_env.option(), Some(spec.name));
        assert_eq!(from_env.env_var(), Some(spec.env));
        assert_eq!(from_env.value(), Some(shown));
        assert_eq!(from_env.source_of_value(), Some(ValueSource::Environment));
        let prefix = format!(
            "invalid `{}` (from {}): {shown:?} is not ",
            spec.name, spec.env
        );
        assert!(from_env.to_string().starts_with(&prefix), "{from_env}");

        let explicit = resolve(&[(spec.name, bad)], &[]).expect_err(spec.name);
        assert_eq!(explicit.source_of_value(), Some(ValueSource::Option));
        let prefix = format!("invalid `{}`: {shown:?} is not ", spec.name);
        assert!(explicit.to_string().starts_with(&prefix), "{explicit}");
        checked += 1;
    }
    assert_eq!(checked, 42);
}

#[test]
fn invalid_message_matches_the_documented_shape() {
    let error = resolve(&[], &[("PROSODY_MAX_CONCURRENCY", "abc")]).unwrap_err();
    assert_eq!(error.to_string(), "invalid `max_concurrency` (from PROSODY_MAX_CONCURRENCY): \"abc\" is not a positive integer");
    let error = resolve(&[], &[("PROSODY_RETRY_MAX_DELAY", "forever")]).unwrap_err();
    assert_eq!(error.option(), Some("max_retry_delay"));
    assert!(error
        .to_string()
        .starts_with("invalid `max_retry_delay` (from PROSODY_RETRY_MAX_DELAY): \"forever\""));
    let quoted = resolve(&[("mode", "say \"hi\"")], &[]).unwrap_err();
    assert!(
        quoted.to_string().contains(r#""say \"hi\"" is not"#),
        "{quoted}"
    );
}

#[test]
fn unknown_options_suggest_the_closest_name() {
    let error = resolve(&[("max_concurency", "8")], &[]).unwrap_err();
    assert!(error.is_unknown() && !error.is_invalid() && !error.is_missing());
    assert_eq!(error.option(), Some("max_concurency"));
    assert_eq!(error.suggestion(), Some("max_concurrency"));
    assert_eq!(error.env_var(), None);
    assert_eq!(
        error.to_string(),
        "unknown option `max_concurency`; did you mean `max_concurrency`?"
    );

    for (typo, meant) in [
        ("retry_max_delay", "max_retry_delay"),
        ("PROSODY_RETRY_MAX_DELAY", "max_retry_delay"),
        ("PROSODY_GROUP_ID", "group_id"),
        ("bootstrap_server", "bootstrap_servers"),
        ("stall_treshold", "stall_threshold"),
        ("probe-port", "probe_port"),
    ] {
        assert_eq!(
            resolve(&[(typo, "x")], &[]).unwrap_err().suggestion(),
            Some(meant),
            "{typo}"
        );
    }
    let error = resolve(&[("colour", "blue")], &[]).unwrap_err();
    assert_eq!(error.suggestion(), None);
    assert_eq!(error.to_string(), "unknown option `colour`");
}

#[test]
fn unknown_names_are_reported_before_bad_values() {
    let error = resolve(&[("max_concurrency", "abc"), ("nonsense", "1")], &[]).unwrap_err();
    assert!(error.is_unknown());
}

#[test]
fn low_latency_mode_requires_a_failure_topic() {
    for (options, env) in [
        (vec![("mode", "low_latency")], vec![]),
        (
            vec![("failure_topic", "")],
            vec![
                ("PROSODY_MODE", "low-latency"),
                ("PROSODY_FAILURE_TOPIC", "dlq"),
            ],
        ),
    ] {
        let error = resolve(&options, &env).unwrap_err();
        assert!(error.is_missing());
        assert_eq!(error.option(), Some("failure_topic"));
        assert_eq!(error.env_var(), Some("PROSODY_FAILURE_TOPIC"));
        assert_eq!(
            error.to_string(),
            "missing `failure_topic` (option or PROSODY_FAILURE_TOPIC): low_latency mode needs a topic to send persistently failing messages to"
        );
    }
    let config = resolve(
        &[("mode", "low_latency")],
        &[("PROSODY_FAILURE_TOPIC", "dlq")],
    )
    .unwrap();
    assert_eq!(config.failure_topic.as_deref(), Some("dlq"));
    assert!(resolve(&[("mode", "best_effort")], &[]).is_ok());
}

#[test]
fn errors_expose_their_kind_and_implement_std_error() {
    let error = resolve(&[("poll_interval", "0")], &[]).unwrap_err();
    match error.kind() {
        ConfigErrorKind::Invalid {
            option,
            env,
            origin,
            value,
            ..
        } => {
            assert_eq!(
                (*option, *env, *origin, value.as_str()),
                (
                    "poll_interval",
                    "PROSODY_POLL_INTERVAL",
                    ValueSource::Option,
                    "0"
                )
            );
        }
        other => panic!("unexpected kind {other:?}"),
    }
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
    assert!(boxed.source().is_none());
    assert!(boxed.to_string().starts_with("invalid `poll_interval`"));
}

#[test]
fn a_blank_broker_list_is_refused_and_an_unset_one_fails_when_connecting() {
    for blank in ["", " ", ",", " , ,"] {
        let error = resolve(&[("bootstrap_servers", blank)], &[]).expect_err(blank);
        assert_eq!(error.option(), Some("bootstrap_servers"));
        assert!(
            error.to_string().contains("at least one broker address"),
            "{error}"
        );
    }

    let unset = resolve(&[("group_id", "g")], &[]).expect("no servers is a valid config");
    let error = unset.brokers().expect_err("nothing to connect to");
    assert!(matches!(error.kind(), ConfigErrorKind::Missing { .. }));
    assert_eq!(
        error.to_string(),
        "missing `bootstrap_servers` (option or PROSODY_BOOTSTRAP_SERVERS): connecting to Kafka \
         needs at least one broker address (host:port); set it, or pass `mock: true` for the \
         in-process broker"
    );

    let set = resolve(&[("bootstrap_servers", "k1:9092, k2:9092")], &[]).expect("valid");
    assert_eq!(set.brokers().expect("set"), "k1:9092,k2:9092");
}
