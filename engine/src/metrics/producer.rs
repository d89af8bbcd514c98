//! What a producer counts: sends and failed sends by topic, and the time to each answer.
//!
//! A send is counted when it is answered: acknowledged (`sent`) or failed (`failed`: an error
//! or `send_timeout`). The latency histogram covers both, since a slow failure costs the caller
//! as much as a slow acknowledgement.

use std::time::Duration;

use crate::metrics::histogram::Histogram;
use crate::metrics::scrape::Scrape;
use crate::metrics::shards::Sharded;
use crate::metrics::topics::{Topics, MAX_TOPICS};

/// One producer's counters; its clones share them.
#[derive(Debug)]
pub(crate) struct ProducerMetrics {
    topics: Topics,
    /// Per topic slot: sent, failed.
    sends: Sharded,
    latency: Histogram,
}

impl Default for ProducerMetrics {
    fn default() -> Self {
        Self {
            topics: Topics::new([]),
            sends: Sharded::new(MAX_TOPICS * 2),
            latency: Histogram::default(),
        }
    }
}

impl ProducerMetrics {
    /// Counts one answered send to `topic` after `elapsed`.
    pub(crate) fn record(&self, topic: &str, acknowledged: bool, elapsed: Duration) {
        let slot = self.topics.index(topic);
        self.sends.add(slot * 2 + usize::from(!acknowledged), 1);
        self.latency.observe(elapsed);
    }

    /// Adds the producer's series, labelled with the consumer `group` it reports with.
    pub(crate) fn write(&self, scrape: &mut Scrape, group: &str) {
        for (slot, topic) in self.topics.each() {
            let (sent, failed) = (self.sends.sum(slot * 2), self.sends.sum(slot * 2 + 1));
            if sent + failed == 0 {
                continue;
            }
            let labels = [("group", group), ("topic", topic)];
            scrape.counter(
                "prosody_producer_sends_total",
                "Messages sent and acknowledged, by topic.",
                &labels,
                sent,
            );
            scrape.counter(
                "prosody_producer_errors_total",
                "Sends that failed or timed out, by topic.",
                &labels,
                failed,
            );
        }
        scrape.histogram(
            "prosody_producer_ack_seconds",
            "Time from a send to its acknowledgement or failure.",
            &[("group", group)],
            &self.latency.snapshot(),
        );
    }
}
