//! librdkafka settings derived from a [`Config`].
//!
//! In mock mode every client points at the process-wide mock cluster, whatever
//! `bootstrap_servers` says.
//!
//! Every client's settings end with [`finish`]: the user's `kafka_config` goes over Prosody's
//! own tuning (the properties Prosody owns were refused when the configuration resolved), and
//! the whole set is checked with librdkafka, so an unknown property or a value librdkafka
//! refuses fails the build naming the property, never showing a secret value.

use rdkafka::ClientConfig;

use rdkafka::error::KafkaError;

use crate::config::{is_secret_property, Config, ConfigError};
use crate::error::{Error, Result};
use crate::kafka::limits::MAX_RECORD_BYTES;
use crate::kafka::mock::mock_bootstrap_servers;
use crate::kafka::producer::STARTUP_ALLOWANCE;

/// The admin client's settings: the shared ones, then `kafka_config`.
pub(crate) fn admin_config(config: &Config) -> Result<ClientConfig> {
    finish(base_config(config)?, config)
}

/// Applies `kafka_config` over `client` and checks the result with librdkafka. Every client's
/// settings end here.
pub(crate) fn finish(mut client: ClientConfig, config: &Config) -> Result<ClientConfig> {
    for (name, value) in config.kafka_config.iter() {
        client.set(name, value);
    }
    match client.create_native_config() {
        Ok(_) => Ok(client),
        Err(KafkaError::ClientConfig(_, reason, property, value)) => Err(Error::Config(
            ConfigError::kafka_property(&property, without_secret(reason, &property, &value)),
        )),
        Err(source) => Err(Error::Client {
            role: "client settings",
            source,
        }),
    }
}

/// librdkafka's `reason` for refusing `property`, which may quote its value: a secret one is
/// taken out.
fn without_secret(reason: String, property: &str, value: &str) -> String {
    if is_secret_property(property) && !value.is_empty() {
        reason.replace(value, "<redacted>")
    } else {
        reason
    }
}

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
    finish(client, config)
}

/// The telemetry producer: best effort and batched; its events may be lost.
pub(crate) fn telemetry_config(config: &Config) -> Result<ClientConfig> {
    let mut client = base_config(config)?;
    client
        .set("acks", "1")
        .set("enable.idempotence", "false")
        .set("linger.ms", "100")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "100000")
        .set("message.timeout.ms", "30000")
        // Only failures are counted, so librdkafka need not report each success.
        .set("delivery.report.only.error", "true");
    finish(client, config)
}

/// A group consumer: offsets are stored by the engine and committed every `commit_interval`.
/// It joins with the `consumer` group protocol when `consumer_protocol` is true (see
/// `kafka::group_protocol`), else with the classic one.
pub(crate) fn consumer_config(
    config: &Config,
    group_id: &str,
    consumer_protocol: bool,
) -> Result<ClientConfig> {
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
    if consumer_protocol {
        // KIP-848: the coordinator assigns (always incrementally, like cooperative-sticky) and
        // owns the session and heartbeat settings; librdkafka refuses the classic ones.
        client.set("group.protocol", "consumer");
    } else {
        client.set("partition.assignment.strategy", "cooperative-sticky");
        if config.mock {
            // When a member leaves, the mock coordinator holds the group open for the session
            // timeout minus one second before a newcomer may join; a short session keeps a
            // resubscribe (or a restart in tests) from stalling for 44 s.
            client
                .set("session.timeout.ms", "2000")
                .set("heartbeat.interval.ms", "500");
        }
    }
    finish(client, config)
}

/// Whether the consumer may join its group with KIP-848's `consumer` protocol rather than the
/// classic one: `kafka_config`'s `group.protocol` if set, otherwise yes, except in mock mode
/// and with static membership (and then only if the cluster offers it: see
/// `kafka::group_protocol`).
///
/// Under the classic protocol a member that dies holds up every rebalance until its session
/// expires (45 s by default): the others' JoinGroup requests wait at the coordinator, and the
/// broker answers a connection's requests in order, so their commits and leaves wait behind
/// them. A graceful stop in that window could commit nothing. The `consumer` protocol has no
/// such barrier: members heartbeat and commit throughout, and only the dead member's
/// partitions wait. It needs Kafka 4.0 or later. The mock cluster's `consumer` protocol
/// heartbeats every 3 s, which clients cannot shorten, and a static member restarted after a
/// crash would be refused (`UNRELEASED_INSTANCE_ID`) until its old session expired; both keep
/// the classic protocol. So does a `kafka_config` that tunes the classic protocol's session
/// (librdkafka refuses those settings under the other one).
pub(crate) fn uses_consumer_protocol(config: &Config) -> bool {
    match config.kafka_config.get("group.protocol") {
        Some(protocol) => protocol.eq_ignore_ascii_case("consumer"),
        None => {
            !config.mock
                && config.group_instance_id.is_none()
                && CLASSIC_ONLY
                    .iter()
                    .all(|name| config.kafka_config.get(name).is_none())
        }
    }
}

/// Consumer settings that only the classic group protocol takes.
const CLASSIC_ONLY: [&str; 2] = ["session.timeout.ms", "heartbeat.interval.ms"];

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::loader::loader_config;

    fn config(properties: &str) -> Config {
        Config::from_options_with_env(
            [
                ("bootstrap_servers", "127.0.0.1:9092"),
                ("group_id", "billing"),
                ("kafka_config", properties),
            ],
            |_| None,
        )
        .unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn every_client_gets_kafka_config_over_prosodys_tuning_but_not_over_what_it_owns() {
        let config = config(r#"{"client.id":"billing-7","fetch.wait.max.ms":"250"}"#);
        let built = [
            ("producer", producer_config(&config)),
            ("consumer", consumer_config(&config, "billing", false)),
            ("admin", admin_config(&config)),
            ("loader", loader_config(&config, "billing")),
            ("telemetry", telemetry_config(&config)),
        ];
        for (role, client) in built {
            let client = client.unwrap_or_else(|error| panic!("{role}: {error}"));
            assert_eq!(client.get("client.id"), Some("billing-7"), "{role}");
            assert_eq!(client.get("fetch.wait.max.ms"), Some("250"), "{role}");
            assert_eq!(
                client.get("bootstrap.servers"),
                Some("127.0.0.1:9092"),
                "{role}"
            );
        }
        let consumer = consumer_config(&config, "billing", false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
    }

    #[test]
    fn a_consumer_uses_the_consumer_protocol_unless_mock_static_or_told_otherwise() {
        let built = |options: &[(&str, &str)]| {
            let mut all = vec![("group_id", "billing")];
            all.extend_from_slice(options);
            if !options.iter().any(|(name, _)| *name == "mock") {
                all.push(("bootstrap_servers", "127.0.0.1:9092"));
            }
            let config = Config::from_options_with_env(all, |_| None)
                .unwrap_or_else(|error| panic!("{error}"));
            let client = consumer_config(&config, "billing", uses_consumer_protocol(&config))
                .unwrap_or_else(|e| panic!("{e}"));
            (
                client.get("group.protocol").map(str::to_owned),
                client
                    .get("partition.assignment.strategy")
                    .map(str::to_owned),
            )
        };
        let consumer = (Some("consumer".to_owned()), None);
        let classic = (None, Some("cooperative-sticky".to_owned()));
        assert_eq!(built(&[]), consumer);
        assert_eq!(built(&[("mock", "true")]), classic);
        assert_eq!(built(&[("group_instance_id", "worker-1")]), classic);
        let told = r#"{"group.protocol":"classic"}"#;
        let (protocol, strategy) = built(&[("kafka_config", told)]);
        assert_eq!(protocol.as_deref(), Some("classic"));
        assert_eq!(strategy.as_deref(), Some("cooperative-sticky"));
        let told = r#"{"group.protocol":"consumer"}"#;
        assert_eq!(built(&[("mock", "true"), ("kafka_config", told)]), consumer);
        let tuned = r#"{"session.timeout.ms":"10000"}"#;
        assert_eq!(built(&[("kafka_config", tuned)]), classic);
    }

    #[test]
    fn a_property_librdkafka_refuses_fails_the_build_naming_it_without_its_secret() {
        let error = producer_config(&config(r#"{"no.such.property":"1"}"#))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid `kafka_config` property `no.such.property`: No such configuration property: \"no.such.property\""
        );
        let error = admin_config(&config(r#"{"socket.timeout.ms":"hunter2"}"#))
            .map(|_| ())
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid `kafka_config` property `socket.timeout.ms`: "),
            "{error}"
        );
        // A value librdkafka quotes is taken out when the property holds a secret.
        let quoted = "Invalid value \"hunter2\" for configuration property \"x\"".to_owned();
        assert_eq!(
            without_secret(quoted.clone(), "sasl.password", "hunter2"),
            "Invalid value \"<redacted>\" for configuration property \"x\""
        );
        assert_eq!(
            without_secret(quoted.clone(), "linger.ms", "hunter2"),
            quoted
        );
    }
}
