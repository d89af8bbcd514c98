//! librdkafka settings derived from a [`Config`].
//!
//! In mock mode every client points at the process-wide mock cluster, whatever
//! `bootstrap_servers` says.

use rdkafka::ClientConfig;

use crate::config::Config;
use crate::error::Result;
use crate::kafka::limits::MAX_RECORD_BYTES;
use crate::kafka::mock::mock_bootstrap_servers;
use crate::kafka::producer::STARTUP_ALLOWANCE;

/// Settings shared by every client: where the brokers are.
pub(crate) fn base_config(config: &Config) -> Result<ClientConfig> {
    let mut client = ClientConfig::new();
    let servers = if config.mock {
        mock_bootstrap_servers()?
    } else {
        config.brokers()?
    };
    client.set("bootstrap.servers", servers);
    client.set("client.id", "prosody");
    client.set("log_level", "3");
    // librdkafka's own debug contexts (for example `cgrp,fetch`), for diagnosing a deployment.
    if let Ok(contexts) = std::env::var("PROSODY_KAFKA_DEBUG") {
        if !contexts.trim().is_empty() {
            client.set("debug", contexts.trim()).set("log_level", "7");
        }
    }
    Ok(client)
}

/// An idempotent producer. librdkafka's delivery timeout leaves room for the producer's
/// start-up; [`crate::Producer`] enforces `send_timeout` itself.
pub(crate) fn producer_config(config: &Config) -> Result<ClientConfig> {
    let mut client = base_config(config)?;
    client
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        // What a broker accepts by default (its `message.max.bytes`); librdkafka's own default
        // (1,000,000) would refuse records Kafka takes, such as a 1 MB payload.
        .set("message.max.bytes", MAX_RECORD_BYTES.to_string())
        .set(
            "message.timeout.ms",
            millis(config.send_timeout + STARTUP_ALLOWANCE).to_string(),
        );
    Ok(client)
}

/// A group consumer: offsets are stored by the engine and committed every `commit_interval`.
pub(crate) fn consumer_config(config: &Config, group_id: &str) -> Result<ClientConfig> {
    let mut client = base_config(config)?;
    client
        .set("group.id", group_id)
        // How many records librdkafka prefetches per partition while the poll loop has no room
        // for them (see `consumer::poll`).
        .set(
            "queued.min.messages",
            (config.max_uncommitted.max(1000) * 4).to_string(),
        )
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.commit.interval.ms",
            millis(config.commit_interval).to_string(),
        )
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        // A paused or resumed partition should not wait out a long broker-side fetch wait, and a
        // full local queue should not idle the fetcher for a second (librdkafka's default).
        .set("fetch.wait.max.ms", "100")
        .set("fetch.queue.backoff.ms", "10")
        // Partition lag for `/metrics`: a statistics report every few seconds (every second in
        // mock mode, for tests) costs one JSON parse on the poll thread, nothing per message.
        .set(
            "statistics.interval.ms",
            if config.mock { "1000" } else { "5000" },
        )
        .set(
            "allow.auto.create.topics",
            if config.mock { "true" } else { "false" },
        );
    // Static membership: the broker keeps this member's assignment across a restart within
    // the session timeout, and a close sends no LeaveGroup (so no rebalance either way).
    if let Some(instance) = &config.group_instance_id {
        client.set("group.instance.id", instance);
    }
    if config.mock {
        // When a member leaves, the mock coordinator holds the group open for the session
        // timeout minus one second before a newcomer may join; a short session keeps a
        // resubscribe (or a restart in tests) from stalling for 44 s.
        client
            .set("session.timeout.ms", "2000")
            .set("heartbeat.interval.ms", "500");
    }
    Ok(client)
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
