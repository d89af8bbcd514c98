//! librdkafka's statistics, read for `/metrics` (each owned partition's lag) and for whether
//! some broker answers (see `consumer/reachability.rs`).
//!
//! librdkafka reports lag (high watermark minus committed offset) only once the group has
//! committed to the partition. A group that never has (a new one, reading from the earliest
//! offset) has the whole retained log ahead of it, so its lag is high minus low watermark,
//! counted once fetching has started (before that the committed offset is still being looked
//! up, and a group that did commit would briefly read as far behind).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rdkafka::statistics::Statistics;

use crate::consumer::shared::{Shared, TopicPartition};

/// Stores each owned partition's lag; called on the poll thread every statistics interval.
pub(crate) fn record_lag(shared: &Shared, statistics: &Statistics) {
    let partitions = shared.partitions();
    for (topic, stats) in &statistics.topics {
        let topic: Arc<str> = topic.as_str().into();
        for (partition, stats) in &stats.partitions {
            let key: TopicPartition = (Arc::clone(&topic), *partition);
            if let Some(handle) = partitions.get(&key) {
                let lag = lag(
                    &stats.fetch_state,
                    stats.committed_offset,
                    stats.lo_offset,
                    stats.hi_offset,
                    stats.consumer_lag,
                );
                handle.progress.lag.store(lag, Ordering::Relaxed);
            }
        }
    }
}

/// Whether the report shows a connection to some real broker (librdkafka's internal one is
/// always up).
pub(crate) fn some_broker_up(statistics: &Statistics) -> bool {
    statistics
        .brokers
        .values()
        .any(|broker| broker.source != "internal" && broker.state == "UP")
}

/// A partition's lag from its statistics; -1 when unknown. See the module docs.
fn lag(fetch_state: &str, committed: i64, low: i64, high: i64, reported: i64) -> i64 {
    if reported >= 0 {
        return reported;
    }
    let fetching = fetch_state == "active";
    if fetching && committed < 0 && low >= 0 && high >= low {
        return high - low;
    }
    -1
}

#[cfg(test)]
mod tests {
    use super::lag;

    #[test]
    fn lag_is_librdkafkas_or_the_whole_log_for_a_group_that_never_committed() {
        assert_eq!(lag("active", 40, 0, 50, 10), 10);
        assert_eq!(lag("active", -1001, 5, 50, -1), 45, "never committed");
        assert_eq!(
            lag("offset-query", -1001, 5, 50, -1),
            -1,
            "the committed offset is not known yet"
        );
        assert_eq!(lag("active", -1001, -1, -1, -1), -1, "no watermarks yet");
    }
}
