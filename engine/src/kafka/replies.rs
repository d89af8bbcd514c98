//! The consumer a requesting client reads its answers with (see [`crate::request`]).
//!
//! It reads one partition of `reply_topic`, assigned by hand at that partition's end when it
//! starts, so it joins no group, commits nothing and reads only answers sent after it started.
//! The partition is picked at random, so requesters spread over the topic's partitions; each
//! skips the answers of others that share its partition. The topic is created (16 partitions)
//! when missing.
//!
//! One thread owns the librdkafka handle and hands each record to a callback; there is no
//! queue of its own, only librdkafka's prefetch, which `queued.max.messages.kbytes` bounds.
//! Stopping or dropping the [`ReplyConsumer`] ends the thread within one poll (100 ms).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::client_config::{base_config, finish};
use super::log::LogContext;
use super::{ensure_mock_topics, Admin, MAX_RECORD_BYTES};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::rate_limit::RateLimit;

/// Partitions of a reply topic this consumer creates.
pub(crate) const REPLY_TOPIC_PARTITIONS: i32 = 16;

/// How long start-up may wait for the broker (metadata, topic creation, the partition's end).
const START_LIMIT: Duration = Duration::from_secs(10);

/// A record read from the reply partition: its headers and payload.
#[derive(Debug)]
pub(crate) struct ReplyRecord {
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) payload: Option<Vec<u8>>,
}

/// Reads one reply partition on a thread of its own; see the module docs.
#[derive(Debug)]
pub(crate) struct ReplyConsumer {
    partition: i32,
    stop: Arc<AtomicBool>,
}

impl ReplyConsumer {
    /// Creates `topic` if missing, assigns one of its partitions from its end, and hands every
    /// record read from it to `deliver`, on the consumer's thread. Blocks for up to about
    /// [`START_LIMIT`] per broker round trip: call it on a runtime's blocking pool
    /// (`spawn_blocking`).
    pub(crate) fn start(
        config: &Config,
        topic: &str,
        deliver: impl Fn(ReplyRecord) + Send + 'static,
    ) -> Result<Self> {
        let failed = |reason: String| Error::Admin {
            operation: "read answers from",
            topic: topic.to_owned(),
            reason,
        };
        let consumer: BaseConsumer<LogContext> = reply_config(config)?
            .create_with_context(LogContext::default())
            .map_err(|source| Error::Client {
                role: "reply consumer",
                source,
            })?;
        let partitions = partitions(config, &consumer, topic).map_err(failed)?;
        let partition = rand::random_range(0..partitions);
        let (_low, end) = consumer
            .fetch_watermarks(topic, partition, START_LIMIT)
            .map_err(|error| failed(format!("partition {partition}'s end: {error}")))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(end))
            .and_then(|()| consumer.assign(&assignment))
            .map_err(|error| failed(format!("assigning partition {partition}: {error}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("prosody-replies".into())
            .spawn(move || run(&consumer, &stopping, &deliver))
            .map_err(|error| failed(format!("could not start its thread: {error}")))?;
        Ok(Self { partition, stop })
    }

    /// The partition read.
    pub(crate) fn partition(&self) -> i32 {
        self.partition
    }

    /// Ends the thread within one poll; it closes the librdkafka handle as it goes.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for ReplyConsumer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(consumer: &BaseConsumer<LogContext>, stop: &AtomicBool, deliver: &impl Fn(ReplyRecord)) {
    static FAILED: RateLimit = RateLimit::new(Duration::from_secs(10));
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => deliver(ReplyRecord {
                headers: message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
                payload: message.payload().map(<[u8]>::to_vec),
            }),
            Some(Err(error)) => {
                if let Some(held) = FAILED.admit() {
                    tracing::warn!(%error, held, "reading answers to requests failed; retrying");
                }
            }
        }
    }
}

/// The partition count of `topic`, creating it when missing.
fn partitions(
    config: &Config,
    consumer: &BaseConsumer<LogContext>,
    topic: &str,
) -> std::result::Result<i32, String> {
    let deadline = Instant::now() + START_LIMIT;
    let mut created = false;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), START_LIMIT)
            .map_err(|error| format!("no metadata: {error}"))?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len());
        if let Some(count) = found.filter(|count| *count > 0) {
            return i32::try_from(count).map_err(|_| "too many partitions".to_owned());
        }
        if !created {
            create(config, topic, metadata.brokers().len())?;
            created = true;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the topic does not exist and was not created within {START_LIMIT:?}; create it, or set reply_topic to one that exists"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create(config: &Config, topic: &str, brokers: usize) -> std::result::Result<(), String> {
    if config.mock {
        return ensure_mock_topics(&[topic.to_owned()]).map_err(|error| error.to_string());
    }
    let replication = i32::try_from(brokers.clamp(1, 3)).unwrap_or(1);
    let admin = Admin::new(config).map_err(|error| error.to_string())?;
    // Called from a blocking-pool thread (see `ReplyConsumer::start`), where a runtime's
    // handle may block on a future.
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "no tokio runtime to create the topic on".to_owned())?;
    runtime
        .block_on(admin.create_topic_within(
            topic,
            REPLY_TOPIC_PARTITIONS,
            replication,
            START_LIMIT,
        ))
        .map_err(|error| error.to_string())
}

/// Manual assignment, no commits, answers as soon as they arrive.
fn reply_config(config: &Config) -> Result<rdkafka::ClientConfig> {
    let mut client = base_config(config)?;
    client
        .set("group.id", "prosody.replies")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        // Kafka answers a fetch as soon as an answer arrives, so this bounds only an idle one;
        // the mock cluster waits it out, so there it is short.
        .set("fetch.wait.max.ms", if config.mock { "10" } else { "100" })
        .set("fetch.queue.backoff.ms", "5")
        .set("queued.max.messages.kbytes", "4096")
        .set("fetch.max.bytes", MAX_RECORD_BYTES.to_string())
        .set("message.max.bytes", MAX_RECORD_BYTES.to_string());
    finish(client, config)
}
