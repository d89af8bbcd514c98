//! One librdkafka queue per assigned partition, so records wait inside librdkafka until the
//! consumer has room for them.

use std::sync::Arc;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::BaseConsumer;

use crate::consumer::poll::rebalance::RebalanceContext;
use crate::consumer::shared::{Shared, TopicPartition};

type Queue = PartitionQueue<RebalanceContext>;

/// The poll thread's partition queues, in a stable order for round-robin reading.
#[derive(Default)]
pub(crate) struct Queues {
    queues: Vec<(TopicPartition, Queue)>,
    next: usize,
}

impl Queues {
    /// Splits queues for newly assigned partitions and drops those of revoked ones.
    pub(crate) fn sync(
        &mut self,
        consumer: &Arc<BaseConsumer<RebalanceContext>>,
        shared: &Arc<Shared>,
    ) {
        let partitions = shared.partitions();
        if partitions.len() == self.queues.len()
            && self
                .queues
                .iter()
                .all(|(key, _)| partitions.contains_key(key))
        {
            return;
        }
        self.queues.retain(|(key, _)| partitions.contains_key(key));
        for key in partitions.keys() {
            if self.queues.iter().any(|(existing, _)| existing == key) {
                continue;
            }
            if let Some(mut queue) = consumer.split_partition_queue(&key.0, key.1) {
                let waker = Arc::clone(shared);
                queue.set_nonempty_callback(move || waker.signal.notify());
                self.queues.push((key.clone(), queue));
            }
        }
        // A queue may have filled before its callback was installed.
        shared.signal.notify();
    }

    /// Visits each queue once, starting one further along each call; stops early when `visit`
    /// returns false.
    pub(crate) fn round_robin(&mut self, mut visit: impl FnMut(&Queue) -> bool) {
        let count = self.queues.len();
        if count == 0 {
            return;
        }
        self.next = (self.next + 1) % count;
        for step in 0..count {
            let (_, queue) = &self.queues[(self.next + step) % count];
            if !visit(queue) {
                break;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.queues.clear();
    }
}
