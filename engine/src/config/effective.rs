//! The resolved value of every option as text, for display and for language bindings.

use std::time::Duration;

use super::Config;

impl Config {
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
    pub fn effective_values(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("bootstrap_servers", Some(self.bootstrap_servers.join(","))),
            ("group_id", self.group_id.clone()),
            ("subscribed_topics", Some(self.subscribed_topics.join(","))),
            ("allowed_events", Some(self.allowed_events.join(","))),
            ("source_system", self.source_system.clone()),
            ("mock", Some(self.mock.to_string())),
            ("mode", Some(self.mode.as_str().to_string())),
            ("max_concurrency", Some(self.max_concurrency.to_string())),
            ("max_uncommitted", Some(self.max_uncommitted.to_string())),
            ("timeout", Some(duration(self.timeout))),
            ("commit_interval", Some(duration(self.commit_interval))),
            ("poll_interval", Some(duration(self.poll_interval))),
            ("shutdown_timeout", Some(duration(self.shutdown_timeout))),
            ("stall_threshold", Some(duration(self.stall_threshold))),
            ("probe_port", self.probe_port.map(|port| port.to_string())),
            ("failure_topic", self.failure_topic.clone()),
            (
                "idempotence_cache_size",
                Some(self.idempotence_cache_size.to_string()),
            ),
            (
                "idempotence_version",
                Some(self.idempotence_version.clone()),
            ),
            ("idempotence_ttl", Some(duration(self.idempotence_ttl))),
            ("slab_size", Some(duration(self.slab_size))),
            (
                "message_spans",
                Some(self.message_spans.as_str().to_string()),
            ),
            ("timer_spans", Some(self.timer_spans.as_str().to_string())),
            ("send_timeout", Some(duration(self.send_timeout))),
            ("max_retries", Some(self.max_retries.to_string())),
            ("retry_base", Some(duration(self.retry_base))),
            ("max_retry_delay", Some(duration(self.max_retry_delay))),
            ("defer_enabled", Some(self.defer_enabled.to_string())),
            ("defer_base", Some(duration(self.defer_base))),
            ("defer_max_delay", Some(duration(self.defer_max_delay))),
            (
                "defer_failure_threshold",
                Some(self.defer_failure_threshold.to_string()),
            ),
            (
                "defer_failure_window",
                Some(duration(self.defer_failure_window)),
            ),
            ("defer_cache_size", Some(self.defer_cache_size.to_string())),
            (
                "defer_seek_timeout",
                Some(duration(self.defer_seek_timeout)),
            ),
            (
                "defer_discard_threshold",
                Some(self.defer_discard_threshold.to_string()),
            ),
            (
                "monopolization_enabled",
                Some(self.monopolization_enabled.to_string()),
            ),
            (
                "monopolization_threshold",
                Some(self.monopolization_threshold.to_string()),
            ),
            (
                "monopolization_window",
                Some(duration(self.monopolization_window)),
            ),
            (
                "monopolization_cache_size",
                Some(self.monopolization_cache_size.to_string()),
            ),
            (
                "scheduler_failure_weight",
                Some(self.scheduler_failure_weight.to_string()),
            ),
            (
                "scheduler_max_wait",
                Some(duration(self.scheduler_max_wait)),
            ),
            (
                "scheduler_wait_weight",
                Some(self.scheduler_wait_weight.to_string()),
            ),
            (
                "scheduler_cache_size",
                Some(self.scheduler_cache_size.to_string()),
            ),
            ("cassandra_nodes", Some(self.cassandra_nodes.join(","))),
            ("cassandra_keyspace", Some(self.cassandra_keyspace.clone())),
            ("cassandra_user", self.cassandra_user.clone()),
            (
                "cassandra_password",
                self.cassandra_password
                    .as_ref()
                    .map(|_| "<redacted>".to_string()),
            ),
            ("cassandra_datacenter", self.cassandra_datacenter.clone()),
            ("cassandra_rack", self.cassandra_rack.clone()),
            (
                "cassandra_retention",
                Some(duration(self.cassandra_retention)),
            ),
            ("telemetry_topic", Some(self.telemetry_topic.clone())),
            (
                "telemetry_enabled",
                Some(self.telemetry_enabled.to_string()),
            ),
        ]
    }
}

fn duration(value: Duration) -> String {
    humantime::format_duration(value).to_string()
}
