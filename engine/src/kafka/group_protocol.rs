//! Which group protocol a consumer joins with.
//!
//! Kafka 4's `consumer` protocol (KIP-848) keeps a graceful stop cheap while the group waits out
//! a crashed member; the classic one cannot commit in that window (see `uses_consumer_protocol`
//! in `client_config`). A broker older than 4.0, or one whose operator left the new protocol
//! off, would refuse a `consumer`-protocol member and leave it without partitions. So a
//! consumer that could use it first asks a broker which protocols its group coordinator offers
//! (the broker setting `group.coordinator.rebalance.protocols`), and joins with the classic one
//! when the answer lacks `consumer` or no answer comes.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::config::Config;
use crate::kafka::client_config::{admin_config, uses_consumer_protocol};

/// How long the question may take; a broker that does not answer in time gets the classic
/// protocol, which every broker speaks.
const ASK_WITHIN: Duration = Duration::from_secs(5);

/// The broker setting that lists the protocols its group coordinator accepts.
const PROTOCOLS: &str = "group.coordinator.rebalance.protocols";

/// Whether a consumer built from `config` joins with the `consumer` protocol: as
/// `kafka_config`'s `group.protocol` says when set; never in mock mode or with static
/// membership; otherwise when the cluster offers it. Blocks for up to [`ASK_WITHIN`] (twice,
/// for an unreachable cluster) while it asks.
pub(crate) fn joins_with_consumer_protocol(config: &Config) -> bool {
    if !uses_consumer_protocol(config) {
        return false;
    }
    if config.kafka_config.get("group.protocol").is_some() {
        return true;
    }
    match cluster_offers_consumer_protocol(config) {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!(
                "the Kafka cluster does not offer the consumer group protocol (KIP-848, Kafka \
                 4.0+): joining with the classic one"
            );
            false
        }
        Err(reason) => {
            tracing::warn!(
                %reason,
                "could not ask the Kafka cluster which group protocols it offers: joining with \
                 the classic one"
            );
            false
        }
    }
}

/// Asks one broker for [`PROTOCOLS`].
fn cluster_offers_consumer_protocol(config: &Config) -> Result<bool, String> {
    let admin: AdminClient<DefaultClientContext> = admin_config(config)
        .map_err(|error| error.to_string())?
        .create()
        .map_err(|error| error.to_string())?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, ASK_WITHIN)
        .map_err(|error| error.to_string())?;
    let broker = metadata
        .brokers()
        .first()
        .ok_or("the cluster named no broker")?
        .id();
    let options = AdminOptions::new().request_timeout(Some(ASK_WITHIN));
    // The admin client's own thread completes this future: no runtime is needed, and this
    // runs once per subscribe, on the subscribing thread.
    let results = futures::executor::block_on(
        admin.describe_configs(&[ResourceSpecifier::Broker(broker)], &options),
    )
    .map_err(|error| error.to_string())?;
    let resource = results
        .into_iter()
        .next()
        .ok_or("no answer for the broker")?
        .map_err(|code| format!("{code:?}"))?;
    Ok(resource
        .get(PROTOCOLS)
        .and_then(|entry| entry.value.as_deref())
        .is_some_and(offers_consumer))
}

/// Whether a [`PROTOCOLS`] value (`classic,consumer`, …) includes `consumer`.
fn offers_consumer(value: &str) -> bool {
    value
        .split(',')
        .any(|protocol| protocol.trim().eq_ignore_ascii_case("consumer"))
}

#[cfg(test)]
mod tests {
    use super::offers_consumer;

    #[test]
    fn reads_the_protocols_a_coordinator_offers() {
        assert!(offers_consumer("classic,consumer"));
        assert!(offers_consumer("classic, consumer,streams"));
        assert!(!offers_consumer("classic"));
        assert!(!offers_consumer(""));
    }
}
