//! Value syntax for each kind: durations, booleans, numbers, ports, enums
//! and keyspace names.

use std::time::Duration;

use super::{option_error, resolve};
use crate::config::{Config, Mode, OptionValue, SpanRelation};

fn defer_base(text: &str) -> Duration {
    resolve(&[("defer_base", text)], &[])
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .defer_base
}

#[test]
fn durations_accept_humantime_units_and_bare_seconds() {
    let cases = [
        ("100ms", Duration::from_millis(100)),
        ("5m", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
        ("7d", Duration::from_secs(604_800)),
        ("1y", Duration::from_secs(31_557_600)),
        ("1h 30m", Duration::from_secs(5400)),
        ("1.5", Duration::from_millis(1500)),
        ("30", Duration::from_secs(30)),
        ("0.1", Duration::from_millis(100)),
        ("1.0e-3", Duration::from_millis(1)),
        (" 2s ", Duration::from_secs(2)),
        ("0", Duration::ZERO),
    ];
    for (text, expected) in cases {
        assert_eq!(defer_base(text), expected, "{text:?}");
    }
    let from_env = resolve(&[], &[("PROSODY_IDEMPOTENCE_TTL", "1y")]).unwrap();
    assert_eq!(from_env.idempotence_ttl, Duration::from_secs(31_557_600));
}

#[test]
fn malformed_or_negative_durations_are_rejected() {
    for text in ["-1", "-5s", "soon", "5 parsecs", "inf", "NaN", "1e30", ""] {
        let error = option_error("defer_base", text);
        assert_eq!(error.value(), Some(text));
        assert_eq!(
            error.to_string(),
            format!("invalid `defer_base`: {text:?} is not a duration such as \"250ms\", \"5m\" or \"7d\", or a non-negative number of seconds")
        );
    }
}

#[test]
fn zero_is_rejected_where_it_makes_no_sense() {
    for name in [
        "poll_interval",
        "commit_interval",
        "stall_threshold",
        "timeout",
        "send_timeout",
        "slab_size",
        "monopolization_window",
        "defer_failure_window",
        "scheduler_max_wait",
    ] {
        let error = option_error(name, "0s");
        assert!(
            error
                .to_string()
                .contains("\"0s\" is not a non-zero duration"),
            "{error}"
        );
    }
    for name in [
        "retry_base",
        "max_retry_delay",
        "defer_base",
        "defer_max_delay",
        "shutdown_timeout",
        "defer_seek_timeout",
    ] {
        assert!(resolve(&[(name, "0")], &[]).is_ok(), "{name}");
    }
}

#[test]
fn ttls_must_fit_cassandra() {
    for name in ["idempotence_ttl", "cassandra_retention"] {
        assert_eq!(resolve(&[(name, "7300d")], &[]).map(|_| ()), Ok(()));
        for text in ["500ms", "0", "7301d", "20y"] {
            let error = option_error(name, text);
            assert_eq!(error.to_string(), format!("invalid `{name}`: {text:?} is not a duration from 1s to 7300d (the range Cassandra accepts as a TTL)"));
        }
    }
}

#[test]
fn booleans_accept_common_spellings() {
    for (text, expected) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("1", true),
        ("false", false),
        ("No", false),
        ("0", false),
        (" yes ", true),
    ] {
        assert_eq!(
            resolve(&[("mock", text)], &[]).unwrap().mock,
            expected,
            "{text:?}"
        );
    }
    let error = option_error("mock", "on");
    assert_eq!(
        error.to_string(),
        "invalid `mock`: \"on\" is not a boolean (true/false, yes/no or 1/0)"
    );
}

#[test]
fn integers_respect_their_minimums() {
    assert_eq!(
        option_error("max_concurrency", "0").to_string(),
        "invalid `max_concurrency`: \"0\" is not a positive integer"
    );
    assert_eq!(
        option_error("max_uncommitted", "2.5").to_string(),
        "invalid `max_uncommitted`: \"2.5\" is not a positive integer"
    );
    assert_eq!(
        resolve(&[("idempotence_cache_size", "0")], &[])
            .unwrap()
            .idempotence_cache_size,
        0
    );
    assert_eq!(
        resolve(&[("max_retries", "0")], &[]).unwrap().max_retries,
        0
    );
    assert_eq!(
        resolve(&[("defer_discard_threshold", "0")], &[])
            .unwrap()
            .defer_discard_threshold,
        0
    );
    assert_eq!(
        option_error("idempotence_cache_size", "-1").to_string(),
        "invalid `idempotence_cache_size`: \"-1\" is not a non-negative integer"
    );
    assert_eq!(
        option_error("max_retries", "4294967296").to_string(),
        "invalid `max_retries`: \"4294967296\" is not a non-negative integer no larger than 4294967295"
    );
    for name in [
        "defer_cache_size",
        "monopolization_cache_size",
        "scheduler_cache_size",
    ] {
        assert!(option_error(name, "0").is_invalid(), "{name}");
    }
}

#[test]
fn floats_respect_their_ranges() {
    let config = resolve(
        &[
            ("defer_failure_threshold", "0"),
            ("monopolization_threshold", "1"),
            ("scheduler_wait_weight", "0"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (
            config.defer_failure_threshold,
            config.monopolization_threshold,
            config.scheduler_wait_weight
        ),
        (0.0, 1.0, 0.0)
    );
    for name in [
        "defer_failure_threshold",
        "monopolization_threshold",
        "scheduler_failure_weight",
    ] {
        for text in ["1.5", "-0.1", "NaN", "high"] {
            assert_eq!(
                option_error(name, text).to_string(),
                format!("invalid `{name}`: {text:?} is not a number between 0 and 1")
            );
        }
    }
    for text in ["-1", "inf", "NaN"] {
        assert_eq!(
            option_error("scheduler_wait_weight", text).to_string(),
            format!("invalid `scheduler_wait_weight`: {text:?} is not a finite number no smaller than 0")
        );
    }
}

#[test]
fn probe_port_can_be_disabled_or_set() {
    for text in ["none", "NONE", "", "false", "nil"] {
        assert_eq!(
            resolve(&[("probe_port", text)], &[]).unwrap().probe_port,
            None,
            "{text:?}"
        );
    }
    assert_eq!(
        resolve(&[], &[("PROSODY_PROBE_PORT", "none")])
            .unwrap()
            .probe_port,
        None
    );
    assert_eq!(
        resolve(&[("probe_port", "65535")], &[]).unwrap().probe_port,
        Some(65535)
    );
    for text in ["0", "65536", "-1", "http"] {
        assert_eq!(
            option_error("probe_port", text).to_string(),
            format!("invalid `probe_port`: {text:?} is not a port number from 1 to 65535, or \"none\" to disable the probe server")
        );
    }
}

#[test]
fn mock_mode_turns_the_probe_off_unless_a_port_is_set() {
    let mock = ("mock", "true");
    assert_eq!(resolve(&[mock], &[]).unwrap().probe_port, None);
    assert_eq!(
        resolve(&[], &[("PROSODY_MOCK", "true")])
            .unwrap()
            .probe_port,
        None
    );
    assert_eq!(
        resolve(&[mock, ("probe_port", "9100")], &[])
            .unwrap()
            .probe_port,
        Some(9100)
    );
    assert_eq!(
        resolve(&[mock], &[("PROSODY_PROBE_PORT", "9101")])
            .unwrap()
            .probe_port,
        Some(9101)
    );
    assert_eq!(
        resolve(&[("mock", "false")], &[]).unwrap().probe_port,
        Some(8000)
    );
}

#[test]
fn mock_mode_turns_telemetry_off_unless_it_is_set() {
    let mock = ("mock", "true");
    assert!(!resolve(&[mock], &[]).unwrap().telemetry_enabled);
    assert!(
        resolve(&[mock, ("telemetry_enabled", "true")], &[])
            .unwrap()
            .telemetry_enabled
    );
    assert!(
        resolve(&[mock], &[("PROSODY_TELEMETRY_ENABLED", "true")])
            .unwrap()
            .telemetry_enabled
    );
    assert!(
        resolve(&[("mock", "false")], &[])
            .unwrap()
            .telemetry_enabled
    );
}

#[test]
fn telemetry_topic_applies_only_with_telemetry_enabled() {
    let on = resolve(&[], &[]).unwrap();
    let off = resolve(&[("mock", "true"), ("telemetry_topic", "events")], &[]).unwrap();
    assert!(on.applies("telemetry_topic"));
    assert!(!off.applies("telemetry_topic"));
    assert!(off.inactive_options().contains(&"telemetry_topic"));
}

#[test]
fn modes_and_span_relations_accept_both_separators() {
    let failure = ("failure_topic", "dlq");
    for (text, mode) in [
        ("pipeline", Mode::Pipeline),
        ("low_latency", Mode::LowLatency),
        ("low-latency", Mode::LowLatency),
        ("best_effort", Mode::BestEffort),
        ("Best-Effort", Mode::BestEffort),
    ] {
        assert_eq!(
            resolve(&[("mode", text), failure], &[]).unwrap().mode,
            mode,
            "{text:?}"
        );
        assert_eq!(Mode::from_name(mode.as_str()), Some(mode));
    }
    assert_eq!(Mode::LowLatency.to_string(), "low_latency");
    assert_eq!(
        option_error("mode", "fast").to_string(),
        "invalid `mode`: \"fast\" is not one of \"pipeline\", \"low_latency\" or \"best_effort\""
    );
    for (text, relation) in [
        ("child", SpanRelation::Child),
        ("follows_from", SpanRelation::FollowsFrom),
        ("follows-from", SpanRelation::FollowsFrom),
    ] {
        assert_eq!(
            resolve(&[("timer_spans", text)], &[]).unwrap().timer_spans,
            relation
        );
    }
    assert_eq!(SpanRelation::FollowsFrom.to_string(), "follows_from");
    assert_eq!(
        option_error("message_spans", "sibling").to_string(),
        "invalid `message_spans`: \"sibling\" is not either \"child\" or \"follows_from\""
    );
}

#[test]
fn keyspace_must_be_a_cql_identifier() {
    let longest = format!("k{}", "_".repeat(47));
    for text in ["prosody_2", "Prosody", longest.as_str()] {
        assert_eq!(
            resolve(&[("cassandra_keyspace", text)], &[])
                .unwrap()
                .cassandra_keyspace,
            text
        );
    }
    let too_long = format!("k{}", "x".repeat(48));
    for text in ["1abc", "with-dash", "_x", "a b", too_long.as_str()] {
        let error = option_error("cassandra_keyspace", text);
        assert!(error.to_string().ends_with("is not a CQL keyspace name (a letter followed by at most 47 letters, digits or underscores)"), "{error}");
    }
}

#[test]
fn typed_values_cover_every_option_in_catalogue_order() {
    let typed: Vec<&str> = super::defaults()
        .typed_values()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let catalogue: Vec<&str> = Config::options().iter().map(|spec| spec.name).collect();
    assert_eq!(typed, catalogue);
}

#[test]
fn parse_option_checks_one_value_without_the_other_options() {
    for spec in Config::options() {
        let (text, _) = super::sample(spec);
        let value = Config::parse_option(spec.name, text)
            .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", spec.name));
        assert_ne!(value, OptionValue::Unset, "{}", spec.name);
        if let Some(bad) = super::bad_sample(spec) {
            let error = Config::parse_option(spec.name, bad).expect_err(spec.name);
            assert_eq!(error.option(), Some(spec.name));
            let shown = if spec.name == "kafka_config" {
                "<redacted>"
            } else {
                bad
            };
            assert_eq!(error.value(), Some(shown));
        }
    }
    // low_latency alone is a valid value; that it needs a failure_topic is checked on resolve.
    assert_eq!(
        Config::parse_option("mode", "LOW-LATENCY").ok(),
        Some(OptionValue::Mode(Mode::LowLatency))
    );
    assert!(Config::parse_option("max_concurency", "1").is_err_and(|e| e.is_unknown()));
}

#[test]
fn typed_values_read_back_as_the_text_the_option_accepts() {
    let config = resolve(
        &[
            ("retry_base", "1.5"),
            ("bootstrap_servers", "a:1, b:2"),
            ("probe_port", "none"),
            ("cassandra_password", "hunter2"),
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let values: std::collections::HashMap<_, _> = config.typed_values().into_iter().collect();
    assert_eq!(
        values["retry_base"],
        OptionValue::Duration(Duration::from_millis(1500))
    );
    assert_eq!(values["retry_base"].to_string(), "1s 500ms");
    assert_eq!(
        values["bootstrap_servers"],
        OptionValue::List(vec!["a:1".into(), "b:2".into()])
    );
    assert_eq!(values["probe_port"], OptionValue::Unset);
    assert_eq!(
        values["cassandra_password"],
        OptionValue::Text("<redacted>".into())
    );
    assert_eq!(values["max_concurrency"], OptionValue::Integer(32));
}

#[test]
fn inactive_options_name_what_the_mode_ignores() {
    let inactive = |options: &[(&str, &str)]| {
        resolve(options, &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .inactive_options()
    };
    assert!(inactive(&[]).is_empty());
    assert_eq!(
        inactive(&[
            ("mode", "low_latency"),
            ("failure_topic", "dlq"),
            ("defer_base", "5s"),
            ("monopolization_threshold", "0.5"),
            ("max_retries", "5"),
        ]),
        ["defer_base", "monopolization_threshold"]
    );
    assert_eq!(
        inactive(&[
            ("defer_enabled", "false"),
            ("defer_base", "5s"),
            ("failure_topic", "dlq")
        ]),
        ["failure_topic", "defer_base"]
    );
}

#[test]
fn inapplicable_options_list_what_each_mode_ignores_set_or_not() {
    let inert = |options: &[(&str, &str)]| {
        resolve(options, &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .inapplicable_options()
    };
    assert_eq!(inert(&[]), ["failure_topic"]);
    let low_latency = inert(&[("mode", "low_latency"), ("failure_topic", "dlq")]);
    assert!(low_latency.contains(&"defer_enabled") && low_latency.contains(&"defer_base"));
    assert!(low_latency.contains(&"monopolization_threshold"));
    assert!(!low_latency.contains(&"failure_topic") && !low_latency.contains(&"max_retries"));
    assert!(!low_latency.contains(&"scheduler_failure_weight"));
    let best_effort = inert(&[("mode", "best_effort")]);
    assert!(best_effort.contains(&"max_retries") && best_effort.contains(&"retry_base"));
    let no_defer = inert(&[("defer_enabled", "false")]);
    assert!(no_defer.contains(&"defer_base") && !no_defer.contains(&"defer_enabled"));
    assert!(!no_defer.contains(&"monopolization_window"));
}
