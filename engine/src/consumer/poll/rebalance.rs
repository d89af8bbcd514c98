//! Rebalance callbacks: partition tasks start on assignment and drain on revocation.
//!
//! librdkafka runs these callbacks on the poll thread, inside `poll`. A revocation blocks that
//! thread while the revoked partitions drain (at most `shutdown_timeout`), then stores their
//! final watermarks so librdkafka's commit on unassignment carries them. Rebalances are rare,
//! so blocking here is simpler than the alternatives, and the group protocol allows it.
//!
//! An assignment first takes each new partition's fetch queue off the consumer's main queue
//! (see [`RebalanceContext::detach_fetch_queues`]), so no record of it ever reaches the poll
//! thread by the main queue.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::consumer::drain::drain;
use crate::consumer::partition;
use crate::consumer::poll::stats;
use crate::consumer::shared::{Shared, TopicPartition};
use crate::kafka::{forward_error, forward_log, is_access_failure, is_connection_failure};

/// The consumer's librdkafka context.
pub(crate) struct RebalanceContext {
    pub(crate) shared: Arc<Shared>,
    /// The consumer this context belongs to, once it exists (see [`RebalanceContext::attach`]).
    consumer: OnceLock<Weak<BaseConsumer<RebalanceContext>>>,
}

impl RebalanceContext {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            consumer: OnceLock::new(),
        }
    }

    /// Tells the context which consumer it belongs to. A weak reference, so the consumer (which
    /// owns its context) can still be dropped.
    pub(crate) fn attach(&self, consumer: &Arc<BaseConsumer<RebalanceContext>>) {
        let _ = self.consumer.set(Arc::downgrade(consumer));
    }

    /// Splits each newly assigned partition's fetch queue from the main queue before librdkafka
    /// starts fetching it.
    ///
    /// librdkafka forwards a partition's fetch queue to the main queue when its fetch starts,
    /// unless the application split it first. The poll thread splits queues only after this
    /// callback returns, and by then a partition may already have records in the main queue:
    /// hundreds of them on a busy machine, since the callback also spawns the partition tasks.
    /// Records from the main queue bypassed the `max_uncommitted` check (overfilling, and so
    /// losing from, the partition's channel), and they could reach the partition task after
    /// newer records read from the split queue, which its offset tracker then rejected as
    /// redelivered. Either way the watermark moved past records never handled: lost messages.
    /// A split made here marks the queue as the application's, which keeps librdkafka from
    /// forwarding it; dropping the handle keeps the split, and the poll thread takes the same
    /// queue again when it picks the partition up.
    fn detach_fetch_queues(&self, list: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        for element in list.elements() {
            drop(consumer.split_partition_queue(element.topic(), element.partition()));
        }
    }
}

impl ClientContext for RebalanceContext {
    /// librdkafka's lines go to `tracing`, like every other client's (see `kafka/log.rs`).
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // A refused login or handshake leaves the consumer as stuck as a dead broker does.
        if is_connection_failure(&error) || is_access_failure(&error) {
            self.shared.reachability.note_failure(reason);
        }
        forward_error(&error, reason);
    }

    /// Keeps each owned partition's lag for `/metrics` (see `stats.rs`). Called on
    /// the poll thread every `statistics.interval.ms`, never per message.
    fn stats(&self, statistics: Statistics) {
        stats::record_lag(&self.shared, &statistics);
        self.shared
            .reachability
            .observe(stats::some_broker_up(&statistics));
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.detach_fetch_queues(list);
        }
        if let Rebalance::Revoke(list) = rebalance {
            let revoked: Vec<_> = {
                let mut partitions = self.shared.partitions();
                list.elements()
                    .iter()
                    .filter_map(|e| {
                        let key: TopicPartition = (e.topic().into(), e.partition());
                        partitions.remove(&key).map(|handle| (key, handle))
                    })
                    .collect()
            };
            tracing::info!(count = revoked.len(), "partitions revoked; draining");
            let finals = drain(&self.shared, revoked);
            store_final_offsets(consumer, &finals);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // A closing consumer serves group events only to finish its final commit: it takes
        // on no partitions, and resuming would wait on librdkafka's group thread for nothing.
        if self.shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        match rebalance {
            Rebalance::Assign(list) => {
                let mut partitions = self.shared.partitions();
                for element in list.elements() {
                    let key: TopicPartition = (element.topic().into(), element.partition());
                    if let std::collections::hash_map::Entry::Vacant(slot) = partitions.entry(key) {
                        let handle = partition::spawn(&self.shared, slot.key());
                        slot.insert(handle);
                    }
                }
                tracing::info!(assigned = partitions.len(), "partitions assigned");
                drop(partitions);
                // An assignment came from a broker.
                self.shared.reachability.mark_up();
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(%error, "rebalance failed"),
        }
        // A pause must not outlive the assignment it was made for.
        if let Ok(assignment) = consumer.assignment() {
            if let Err(error) = consumer.resume(&assignment) {
                tracing::warn!(%error, "could not resume partitions after a rebalance");
            }
        }
        self.shared.paused.store(false, Ordering::Release);
        self.shared.signal.notify();
    }
}

pub(crate) fn store_final_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    finals: &[(TopicPartition, i64)],
) {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in finals {
        if *next >= 0 {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*next));
        }
    }
    if list.count() > 0 {
        if let Err(error) = consumer.store_offsets(&list) {
            tracing::warn!(%error, "could not store final offsets of drained partitions");
        }
    }
}
