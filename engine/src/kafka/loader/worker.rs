//! The loader's thread: takes loads off the channel, assigns and seeks partitions, reads
//! records and answers.
//!
//! The thread blocks on the channel while no load waits. Otherwise it alternates between
//! taking new loads (at most `capacity` waiting at once), applying each partition's next step
//! (see `pending.rs`), and polling librdkafka for up to [`POLL_WAIT`]. Every [`SWEEP_EVERY`] it
//! answers loads past their deadline, forgets loads whose caller gave up, and takes partitions
//! nobody waits on out of the assignment.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use super::pending::{Pending, Read, Step, Waiter};
use super::record::Cache;
use super::{LoadError, LoadedRecord, LoaderStats, RecordId};
use crate::kafka::log::LogContext;

/// How long one poll waits for a record; also how late a new load may be picked up while
/// others wait.
const POLL_WAIT: Duration = Duration::from_millis(10);

/// How often expired and abandoned loads are swept and idle partitions unassigned.
const SWEEP_EVERY: Duration = Duration::from_millis(50);

/// How long a seek may take to be applied before the partition is reassigned instead.
const SEEK_WAIT: Duration = Duration::from_secs(1);

/// How long a watermark query may block the thread (only when a load expires or a seek fell
/// past the end of the log).
const WATERMARK_WAIT: Duration = Duration::from_secs(2);

/// Where a load's answer goes.
pub(super) type Reply = oneshot::Sender<Result<Arc<LoadedRecord>, LoadError>>;

/// One load, as sent to the thread.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) id: RecordId,
    pub(super) deadline: Instant,
    pub(super) reply: Reply,
}

/// The thread's state.
pub(super) struct Worker {
    consumer: BaseConsumer<LogContext>,
    requests: mpsc::Receiver<Request>,
    cache: Arc<Cache>,
    stats: Arc<LoaderStats>,
    partitions: HashMap<Arc<str>, HashMap<i32, Pending<Reply>>>,
    waiting: usize,
    capacity: usize,
    discard_threshold: u64,
    seek_timeout: Duration,
}

impl Worker {
    pub(super) fn new(
        consumer: BaseConsumer<LogContext>,
        requests: mpsc::Receiver<Request>,
        cache: Arc<Cache>,
        stats: Arc<LoaderStats>,
        capacity: usize,
        discard_threshold: usize,
        seek_timeout: Duration,
    ) -> Self {
        Self {
            consumer,
            requests,
            cache,
            stats,
            partitions: HashMap::new(),
            waiting: 0,
            capacity,
            discard_threshold: u64::try_from(discard_threshold).unwrap_or(u64::MAX),
            seek_timeout,
        }
    }

    /// Serves loads until every handle on the channel is gone.
    pub(super) fn run(mut self) {
        let mut swept = Instant::now();
        loop {
            if self.waiting == 0 {
                self.unassign_idle();
                match self.requests.blocking_recv() {
                    Some(request) => self.accept(request),
                    None => return,
                }
            }
            if !self.take_requests() {
                return;
            }
            self.apply_steps();
            let record = match self.consumer.poll(POLL_WAIT) {
                Some(Ok(message)) => self.copy(&message),
                Some(Err(error)) => {
                    tracing::debug!(%error, "deferred-record loader poll");
                    None
                }
                None => None,
            };
            if let Some(record) = record {
                self.on_record(record);
            }
            if swept.elapsed() >= SWEEP_EVERY {
                self.sweep(Instant::now());
                swept = Instant::now();
            }
        }
    }

    /// Takes the loads queued on the channel, up to `capacity` waiting; false once closed.
    fn take_requests(&mut self) -> bool {
        while self.waiting < self.capacity {
            match self.requests.try_recv() {
                Ok(request) => self.accept(request),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    fn accept(&mut self, request: Request) {
        let Request {
            id,
            deadline,
            reply,
        } = request;
        // The record may have been read since the caller looked in the cache.
        if let Some(record) = self.cache.get(&id) {
            let _ = reply.send(Ok(record));
            return;
        }
        let pending = self
            .partitions
            .entry(id.topic)
            .or_default()
            .entry(id.partition)
            .or_default();
        pending.add(id.offset, Waiter { deadline, reply });
        self.waiting += 1;
    }

    /// Assigns or seeks each partition whose lowest load needs it.
    fn apply_steps(&mut self) {
        for (topic, partitions) in &mut self.partitions {
            for (&partition, pending) in partitions.iter_mut() {
                let Step::Seek(offset) = pending.next_step(self.discard_threshold) else {
                    continue;
                };
                self.stats.seeks.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(
                    topic = &**topic,
                    partition,
                    offset,
                    assigned = pending.assigned,
                    "deferred-record loader seek"
                );
                let moved = if pending.assigned {
                    self.consumer
                        .seek(topic, partition, Offset::Offset(offset), SEEK_WAIT)
                } else {
                    let mut list = TopicPartitionList::new();
                    list.add_partition_offset(topic, partition, Offset::Offset(offset))
                        .and_then(|()| self.consumer.incremental_assign(&list))
                };
                match moved {
                    Ok(()) => {
                        pending.assigned = true;
                        pending.sought(offset);
                    }
                    Err(error) => {
                        // Reassigning from scratch on the next pass is the surest recovery.
                        tracing::debug!(%error, topic = &**topic, partition, offset, "deferred-record loader seek");
                        if pending.assigned {
                            unassign(&self.consumer, topic, partition);
                            pending.assigned = false;
                        }
                        pending.unpositioned();
                    }
                }
            }
        }
    }

    /// Copies a record of a topic with loads (others were read ahead and are dropped).
    fn copy(&self, message: &BorrowedMessage<'_>) -> Option<Arc<LoadedRecord>> {
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        let (topic, _) = self.partitions.get_key_value(message.topic())?;
        Some(Arc::new(LoadedRecord::copy(message, Arc::clone(topic))))
    }

    /// Caches `record` and answers the loads it settles.
    fn on_record(&mut self, record: Arc<LoadedRecord>) {
        self.cache.put(Arc::clone(&record));
        let topic = Arc::clone(&record.topic);
        let (partition, offset) = (record.partition, record.offset);
        let known = self
            .partitions
            .get(&topic)
            .is_some_and(|partitions| partitions.contains_key(&partition));
        if !known {
            return;
        }
        let mut read = self.pending(&topic, partition).on_record(offset);
        if let Read::BeforeSeek { sought } = read {
            // Seeking past the end of the log restarts reading at its beginning; a record
            // before the seek point for any other reason is stale, and ignored.
            let Ok((_, end)) = self
                .consumer
                .fetch_watermarks(&topic, partition, WATERMARK_WAIT)
            else {
                return;
            };
            if sought < end {
                return;
            }
            let pending = self.pending(&topic, partition);
            let missing = pending.take_from(end);
            pending.restarted_at(offset);
            read = pending.on_record(offset);
            self.waiting -= missing.len();
            for (missing, waiter) in missing {
                let _ = waiter.reply.send(Err(LoadError::Missing {
                    topic: Arc::clone(&topic),
                    partition,
                    offset: missing,
                    end,
                }));
            }
        }
        if let Read::Advanced { deleted, found } = read {
            self.waiting -= deleted.len() + found.len();
            for (deleted, waiter) in deleted {
                let _ = waiter.reply.send(Err(LoadError::Deleted {
                    topic: Arc::clone(&topic),
                    partition,
                    offset: deleted,
                    next: offset,
                }));
            }
            for waiter in found {
                let _ = waiter.reply.send(Ok(Arc::clone(&record)));
            }
        }
    }

    /// The loads of a partition (known to be in `self.partitions`).
    fn pending(&mut self, topic: &Arc<str>, partition: i32) -> &mut Pending<Reply> {
        self.partitions
            .entry(Arc::clone(topic))
            .or_default()
            .entry(partition)
            .or_default()
    }

    /// Answers loads past their deadline, drops abandoned ones, unassigns idle partitions.
    fn sweep(&mut self, now: Instant) {
        for (topic, partitions) in &mut self.partitions {
            partitions.retain(|&partition, pending| {
                self.waiting -= pending.retain(|reply| !reply.is_closed());
                let expired = pending.take_expired(now);
                if !expired.is_empty() {
                    self.waiting -= expired.len();
                    let timeout = self.seek_timeout;
                    answer_expired(&self.consumer, topic, partition, timeout, expired);
                }
                if pending.is_empty() && pending.assigned {
                    unassign(&self.consumer, topic, partition);
                }
                !pending.is_empty()
            });
        }
        self.partitions
            .retain(|_, partitions| !partitions.is_empty());
    }

    fn unassign_idle(&mut self) {
        for (topic, partitions) in self.partitions.drain() {
            for (partition, pending) in partitions {
                if pending.assigned {
                    unassign(&self.consumer, &topic, partition);
                }
            }
        }
    }
}

/// Answers loads that ran out of time, after asking the partition's watermarks whether their
/// offsets still exist (a partition emptied by retention returns no record to show it).
fn answer_expired(
    consumer: &BaseConsumer<LogContext>,
    topic: &Arc<str>,
    partition: i32,
    seek_timeout: Duration,
    expired: Vec<(i64, Waiter<Reply>)>,
) {
    let watermarks = consumer
        .fetch_watermarks(topic, partition, WATERMARK_WAIT)
        .ok();
    for (offset, waiter) in expired {
        let topic = Arc::clone(topic);
        let error = match watermarks {
            Some((start, _)) if offset < start => LoadError::Deleted {
                topic,
                partition,
                offset,
                next: start,
            },
            Some((_, end)) if offset >= end => LoadError::Missing {
                topic,
                partition,
                offset,
                end,
            },
            _ => LoadError::Timeout {
                topic,
                partition,
                offset,
                after: seek_timeout,
            },
        };
        let _ = waiter.reply.send(Err(error));
    }
}

fn unassign(consumer: &BaseConsumer<LogContext>, topic: &str, partition: i32) {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    if let Err(error) = consumer.incremental_unassign(&list) {
        tracing::debug!(%error, topic, partition, "deferred-record loader unassign");
    }
}
