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

use crate::config::Config;
use crate::kafka::client_config::uses_consumer_protocol;
use crate::kafka::Admin;

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
    let admin = Admin::new(config).map_err(|error| error.to_string())?;
    Ok(admin
        .broker_setting(PROTOCOLS, ASK_WITHIN)?
        .is_some_and(|value| offers_consumer(&value)))
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
