//! Defaults and the consistency of the option catalogue.

use std::collections::HashSet;
use std::time::Duration;

use super::{defaults, field, resolve};
use crate::config::{Config, Mode, SpanRelation};

#[test]
fn empty_input_yields_documented_defaults() {
    let c = defaults();
    let secs = Duration::from_secs;
    assert!(c.bootstrap_servers.is_empty());
    assert_eq!(c.group_id, None);
    assert!(c.subscribed_topics.is_empty());
    assert!(c.allowed_events.is_empty());
    assert_eq!(c.source_system, None);
    assert!(!c.mock);
    assert_eq!(c.mode, Mode::Pipeline);
    assert_eq!(c.max_concurrency, 32);
    assert_eq!(c.max_uncommitted, 64);
    assert_eq!(c.timeout, secs(240));
    assert_eq!(c.commit_interval, secs(1));
    assert_eq!(c.poll_interval, Duration::from_millis(100));
    assert_eq!(c.shutdown_timeout, secs(30));
    assert_eq!(c.stall_threshold, secs(300));
    assert_eq!(c.probe_port, Some(8000));
    assert_eq!(c.probe_host, "0.0.0.0");
    assert_eq!(c.failure_topic, None);
    assert_eq!(c.reply_topic, "prosody.replies");
    assert_eq!(c.idempotence_cache_size, 8192);
    assert_eq!(c.idempotence_version, "1");
    assert_eq!(c.idempotence_ttl, secs(604_800));
    assert_eq!(c.slab_size, secs(3600));
    assert_eq!(c.message_spans, SpanRelation::Child);
    assert_eq!(c.timer_spans, SpanRelation::FollowsFrom);
    assert_eq!(c.send_timeout, secs(1));
    assert_eq!(c.max_retries, 3);
    assert_eq!(c.retry_base, Duration::from_millis(20));
    assert_eq!(c.max_retry_delay, secs(300));
    assert!(c.defer_enabled);
    assert_eq!(c.defer_base, secs(1));
    assert_eq!(c.defer_max_delay, secs(86_400));
    assert_eq!(c.defer_failure_threshold, 0.9);
    assert_eq!(c.defer_failure_window, secs(300));
    assert_eq!(c.defer_cache_size, 1024);
    assert_eq!(c.defer_seek_timeout, secs(30));
    assert_eq!(c.defer_discard_threshold, 100);
    assert!(c.monopolization_enabled);
    assert_eq!(c.monopolization_threshold, 0.9);
    assert_eq!(c.monopolization_window, secs(300));
    assert_eq!(c.monopolization_cache_size, 8192);
    assert_eq!(c.scheduler_failure_weight, 0.3);
    assert_eq!(c.scheduler_max_wait, secs(120));
    assert_eq!(c.scheduler_wait_weight, 200.0);
    assert_eq!(c.scheduler_cache_size, 8192);
    assert!(c.cassandra_nodes.is_empty());
    assert_eq!(c.cassandra_keyspace, "prosody");
    assert_eq!(c.cassandra_user, None);
    assert_eq!(c.cassandra_password, None);
    assert_eq!(c.cassandra_datacenter, None);
    assert_eq!(c.cassandra_rack, None);
    assert_eq!(c.cassandra_retention, secs(31_557_600));
    assert_eq!(c.telemetry_topic, "prosody.telemetry-events");
    assert!(c.telemetry_enabled);
}

#[test]
fn literal_default_texts_parse_to_the_actual_defaults() {
    let base = defaults();
    let mut checked = 0;
    for spec in Config::options() {
        if spec.default.starts_with('(') {
            continue;
        }
        let config = resolve(&[(spec.name, spec.default)], &[])
            .unwrap_or_else(|e| panic!("default text of `{}` fails to parse: {e}", spec.name));
        assert_eq!(
            field(&config, spec.name),
            field(&base, spec.name),
            "{}",
            spec.name
        );
        checked += 1;
    }
    assert_eq!(checked, 40);
}

#[test]
fn catalogue_covers_every_option_once_with_conventional_env_names() {
    let options = Config::options();
    assert_eq!(options.len(), 57);
    let names: HashSet<_> = options.iter().map(|s| s.name).collect();
    let envs: HashSet<_> = options.iter().map(|s| s.env).collect();
    assert_eq!(names.len(), 57);
    assert_eq!(envs.len(), 57);
    for spec in options {
        let conventional = format!("PROSODY_{}", spec.name.to_ascii_uppercase());
        if spec.name == "max_retry_delay" {
            assert_eq!(spec.env, "PROSODY_RETRY_MAX_DELAY");
        } else if spec.name == "kafka_config" {
            assert_eq!(
                spec.env, "PROSODY_KAFKA_CONFIG_*",
                "one variable per property"
            );
        } else {
            assert_eq!(spec.env, conventional);
        }
        assert!(
            !spec.doc.is_empty() && spec.doc.ends_with('.'),
            "{}",
            spec.name
        );
        assert!(!spec.default.is_empty(), "{}", spec.name);
        field(&defaults(), spec.name); // every option maps to a field
    }
    assert_eq!(
        Config::option_spec("timeout").map(|s| s.default),
        Some("(80% of stall_threshold)")
    );
    assert_eq!(Config::option_spec("nope"), None);
}

#[test]
fn effective_source_system_falls_back_to_group_id() {
    let only_group = resolve(&[("group_id", "billing")], &[]).unwrap();
    assert_eq!(only_group.source_system, None);
    assert_eq!(only_group.effective_source_system(), Some("billing"));
    let both = resolve(
        &[("group_id", "billing"), ("source_system", "billing-out")],
        &[],
    )
    .unwrap();
    assert_eq!(both.effective_source_system(), Some("billing-out"));
    assert_eq!(defaults().effective_source_system(), None);
}

#[test]
fn debug_output_redacts_the_password() {
    let config = resolve(&[("cassandra_password", "hunter2")], &[]).unwrap();
    let rendered = format!("{config:?}");
    assert!(!rendered.contains("hunter2"));
    assert!(rendered.contains("cassandra_password: Some(\"<redacted>\")"));
    assert!(rendered.contains("max_concurrency: 32"));
    assert!(format!("{:?}", defaults()).contains("cassandra_password: None"));
}
