//! The poll thread: the only code that reads records from librdkafka.
//!
//! This folder is the only part of the consumer that sees librdkafka: the loop owns the
//! consumer handle, [`queues`] its per-partition queues and [`rebalance`] the callbacks
//! librdkafka makes on this thread. Everything it hands on is the engine's own types.
//!
//! Each assigned partition gets its own librdkafka queue, so the thread can serve group events
//! (rebalances, errors) without taking messages it has no room for. It takes records only while
//! fewer than `max_uncommitted` are buffered or in flight, round-robin across partitions so a
//! busy partition cannot starve the others. librdkafka keeps prefetching meanwhile, bounded by
//! `queued.min.messages`; if the consumer stays full with nothing finishing for a whole
//! `poll_interval`, the thread pauses the assignment, which also discards that prefetch, and
//! resumes once buffered work has fallen to half the limit (see [`backpressure`]).
//!
//! The thread sleeps on a [`Signal`] that librdkafka's queue callbacks and handler completions
//! raise, so it neither spins nor adds latency.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::consumer::reachability::REPORT_AFTER;
use crate::error::{Error, Result};
use crate::kafka::{consumer_config, is_connection_failure, joins_with_consumer_protocol};

mod backpressure;
mod queues;
mod rebalance;
mod record;
mod signal;
mod stats;

pub(crate) use signal::Signal;

use crate::consumer::drain::drain;
use crate::consumer::shared::{Shared, TopicPartition};
use queues::Queues;
use rebalance::{store_final_offsets, RebalanceContext};
use record::copy;

/// Each topic's shared name by its name, hashed with foldhash: it is looked up once per record.
type TopicNames = HashMap<String, Arc<str>, foldhash::fast::RandomState>;

/// How many records to take from one partition before moving to the next.
const BATCH: usize = 64;

/// How long a closing consumer keeps retrying a final commit that the group refuses while it
/// rebalances. Within the shutdown's grace (`CLOSE_GRACE`), which leaves time to leave the group.
const FINAL_COMMIT_RETRY: Duration = Duration::from_secs(7);

/// The running poll thread, which closes the consumer once `Shared::shutdown` is set.
pub(crate) struct PollThread {
    handle: std::thread::JoinHandle<()>,
    done: std::sync::mpsc::Receiver<()>,
}

impl PollThread {
    /// Runs `body` on a thread named `name` that reports, as its last act, that it finished.
    fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<Self> {
        // Capacity 1: the thread sends once.
        let (closed, done) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                body();
                let _ = closed.send(());
            })?;
        Ok(Self { handle, done })
    }

    /// Waits for the thread to close the consumer, for at most `limit`, and says whether it did.
    ///
    /// Closing runs librdkafka calls that wait without a limit of their own (a synchronous
    /// commit, leaving the group). Should one never return, the caller gets control back
    /// instead of hanging with it, and the thread is left to finish on its own.
    pub(crate) fn wait(self, limit: Duration) -> bool {
        match self.done.recv_timeout(limit) {
            // Disconnected: the thread ended without sending, so it is gone already.
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.handle.join();
                true
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

pub(crate) struct PollLoop {
    pub(crate) consumer: Arc<BaseConsumer<RebalanceContext>>,
    pub(crate) shared: Arc<Shared>,
    queues: Queues,
    stored: HashMap<TopicPartition, i64>,
    /// The shared name of each topic, looked up once per record.
    topics: TopicNames,
    /// Since when the consumer has been full, and how many messages had been released then.
    full_since: Option<(Instant, usize)>,
}

impl PollLoop {
    /// Creates the group consumer, subscribes it to `config.subscribed_topics` and runs the loop
    /// on a thread of its own, which owns the consumer until shutdown.
    pub(crate) fn start(config: &Config, shared: Arc<Shared>) -> Result<PollThread> {
        let consumer_protocol = joins_with_consumer_protocol(config);
        let client_config = consumer_config(config, &shared.settings.group_id, consumer_protocol)?;
        let context = RebalanceContext::new(Arc::clone(&shared));
        let mut consumer: BaseConsumer<RebalanceContext> = client_config
            .create_with_context(context)
            .map_err(|source| Error::Client {
                role: "consumer",
                source,
            })?;
        let waker = Arc::clone(&shared);
        consumer.set_nonempty_callback(move || waker.signal.notify());
        let topics: Vec<&str> = config
            .subscribed_topics
            .iter()
            .map(String::as_str)
            .collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| Error::Subscribe {
                topics: config.subscribed_topics.clone(),
                source,
            })?;
        let poll = Self::new(Arc::new(consumer), shared);
        PollThread::spawn("prosody-poll", move || poll.run())
            .map_err(|_| Error::State("could not start the consumer's poll thread"))
    }

    fn new(consumer: Arc<BaseConsumer<RebalanceContext>>, shared: Arc<Shared>) -> Self {
        consumer.context().attach(&consumer);
        Self {
            consumer,
            shared,
            queues: Queues::default(),
            stored: HashMap::new(),
            topics: HashMap::default(),
            full_since: None,
        }
    }

    fn run(mut self) {
        while !self.shared.shutdown.load(Ordering::Acquire) {
            self.shared.poll_heartbeat.beat();
            self.shared.reachability.report_if_overdue(REPORT_AFTER);
            self.serve_events();
            self.queues.sync(&self.consumer, &self.shared);
            let taken = self.take_records();
            let full = self.apply_backpressure();
            self.store_offsets();
            if taken == 0 || full {
                self.shared.signal.wait(self.shared.settings.poll_interval);
            }
        }
        self.close();
    }

    fn serve_events(&mut self) {
        // Records should never arrive here: an assignment splits each partition's queue before
        // fetching starts (see `RebalanceContext::detach_fetch_queues`). Should one arrive
        // anyway, it is dispatched regardless of capacity.
        while let Some(result) = self.consumer.poll(Duration::ZERO) {
            Self::dispatch_result(&self.shared, &mut self.topics, result);
        }
    }

    fn take_records(&mut self) -> usize {
        let max = self.shared.settings.max_uncommitted;
        if self.shared.quiet.load(Ordering::Acquire) {
            return 0;
        }
        let mut taken = 0;
        let shared = &self.shared;
        let topics = &mut self.topics;
        self.queues.round_robin(|queue| {
            for _ in 0..BATCH {
                if shared.in_flight.load(Ordering::Acquire) >= max {
                    return false;
                }
                match queue.poll(Duration::ZERO) {
                    Some(result) => {
                        Self::dispatch_result(shared, topics, result);
                        taken += 1;
                    }
                    None => break,
                }
            }
            true
        });
        taken
    }

    fn dispatch_result(
        shared: &Shared,
        topics: &mut TopicNames,
        result: KafkaResult<BorrowedMessage<'_>>,
    ) {
        let record = match result {
            Ok(record) => record,
            Err(error) => {
                if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
                    shared.reachability.mark_down(error.to_string());
                }
                // librdkafka logs each failed connection itself (see `kafka/log.rs`), and
                // `reachability` reports an outage that lasts.
                if is_connection_failure(&error) {
                    tracing::debug!(%error, "kafka consumer error");
                } else {
                    tracing::warn!(%error, "kafka consumer error");
                }
                return;
            }
        };
        let topic = match topics.get(record.topic()) {
            Some(topic) => topic,
            None => topics
                .entry(record.topic().to_string())
                .or_insert_with(|| record.topic().into()),
        };
        let key: TopicPartition = (Arc::clone(topic), record.partition());
        let record = copy(&record, topic);
        let partitions = shared.partitions();
        let Some(handle) = partitions.get(&key) else {
            // Not ours any more: the partition's new owner will read it.
            return;
        };
        shared.acquire(1);
        if handle.sender.try_send(record).is_err() {
            // Only possible while the partition drains; its new owner will read the record.
            shared.release(1);
        }
    }

    /// Hands each partition's latest watermark to librdkafka, which commits stored offsets every
    /// `commit_interval`.
    fn store_offsets(&mut self) {
        let mut list = TopicPartitionList::new();
        {
            let partitions = self.shared.partitions();
            self.stored.retain(|key, _| partitions.contains_key(key));
            for (key, handle) in partitions.iter() {
                let next = handle.progress.next_commit.load(Ordering::Acquire);
                if next >= 0 && self.stored.get(key) != Some(&next) {
                    let _ = list.add_partition_offset(&key.0, key.1, Offset::Offset(next));
                    self.stored.insert(key.clone(), next);
                }
            }
        }
        if list.count() > 0 {
            if let Err(error) = self.consumer.store_offsets(&list) {
                tracing::debug!(%error, "could not store offsets");
            }
        }
    }

    /// Commits the drained partitions' final offsets before the consumer leaves its group.
    ///
    /// While the group rebalances (a member joined, or one died and the coordinator waits out
    /// its session), a commit can be refused, and librdkafka does not retry the refusal.
    /// Leaving then would hand everything handled since the last commit to the next owner
    /// again. So the commit is retried for up to [`FINAL_COMMIT_RETRY`], serving the group's
    /// events in between so librdkafka can complete the rebalance; a commit that still fails
    /// is logged with what it leaves uncommitted.
    fn commit_final(&self, finals: &[(TopicPartition, i64)]) {
        let deadline = Instant::now() + FINAL_COMMIT_RETRY;
        let mut refusals = 0u32;
        loop {
            let error = match self.consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => break,
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => break,
                Err(error) => error,
            };
            let retriable = matches!(
                error.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::RebalanceInProgress
                        | RDKafkaErrorCode::IllegalGeneration
                        | RDKafkaErrorCode::WaitingForCoordinator
                )
            );
            if !retriable || Instant::now() >= deadline {
                tracing::warn!(
                    group = %self.shared.settings.group_id,
                    %error,
                    partitions = ?finals,
                    "could not commit the final offsets; the next owner of these partitions \
                     will handle again what was handled since the last commit"
                );
                return;
            }
            refusals += 1;
            // Records cannot arrive here (the partition queues are split off), only group
            // events, which librdkafka serves inside `poll`.
            let _ = self.consumer.poll(Duration::from_millis(200));
        }
        if refusals > 0 {
            tracing::info!(
                group = %self.shared.settings.group_id,
                refusals,
                "committed the final offsets once the group's rebalance completed"
            );
        }
    }

    /// Drains every partition, commits what completed, and leaves the group.
    fn close(mut self) {
        let handles: Vec<_> = self.shared.partitions().drain().collect();
        let finals = drain(&self.shared, handles);
        store_final_offsets(&self.consumer, &finals);
        self.commit_final(&finals);
        self.queues.clear();
        self.consumer.unsubscribe();
        tracing::debug!(
            references = Arc::strong_count(&self.consumer),
            "closing consumer"
        );
        // Dropping the last reference closes the consumer and leaves the group.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(body: impl FnOnce() + Send + 'static) -> PollThread {
        PollThread::spawn("test-poll", body).expect("thread starts")
    }

    #[test]
    fn a_close_that_never_returns_is_left_behind_at_the_limit() {
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let started = Instant::now();
        assert!(!thread(move || {
            let _ = stuck.recv();
        })
        .wait(Duration::from_millis(100)));
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(release);
    }

    #[test]
    fn a_finished_close_is_joined() {
        assert!(thread(|| ()).wait(Duration::from_secs(30)));
    }
}
