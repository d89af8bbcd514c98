//! Reads single records back from Kafka by offset, for deferred retries and message
//! collections.
//!
//! A deferred retry knows only the topic, partition and offset of the message it retries, and a
//! `message_*` keyed-state collection only those of the messages it holds, so the record must be
//! read again. One loader per consumer serves both. [`MessageLoader`] does that with a
//! librdkafka consumer of its own (group `<group_id>.defer-loader`), separate from the group
//! consumer so its seeks never disturb consumption. It uses manual assignment, never joins the
//! group and never commits, and fetches little at a time: it reads single records, not streams.
//!
//! # Semantics
//!
//! - **Coalescing and read-forward.** Loads of the same offset share one read. A partition
//!   seeks to the lowest offset waiting when its position is unknown, past that offset, or more
//!   than `defer_discard_threshold` records before it; otherwise it reads forward, answering
//!   every load it passes. A partition leaves the assignment once no load waits on it.
//! - **Deleted records.** Kafka returns the first record at or after the offset sought, so a
//!   first record past it means the offsets in between are gone (retention or compaction):
//!   their loads get [`LoadError::Deleted`] with the next offset that exists, a permanent
//!   outcome. A load that times out is checked against the partition's watermarks, so a
//!   partition emptied by retention also answers [`LoadError::Deleted`], and an offset past the
//!   partition's end [`LoadError::Missing`].
//! - **Time limit.** A load not answered within `defer_seek_timeout` fails with
//!   [`LoadError::Timeout`], a transient error (for example a partition without a leader, or
//!   one that does not exist).
//! - **Cache.** The last `defer_cache_size` records read are kept in an LRU; a load found there
//!   is answered without reaching the thread.
//!
//! # Backpressure and shutdown
//!
//! One dedicated thread owns the librdkafka handle. Loads reach it through a channel bounded at
//! `max_uncommitted` and are answered through oneshots. That bound is the most loads deferred
//! retries can have in flight (each holds one of its uncommitted events); a scan of a message
//! collection may send more at once. Either way a load waits for room when the thread falls
//! behind, rather than queueing without limit; the thread likewise takes at most that many
//! loads off the channel at once.
//! Dropping the [`MessageLoader`] closes the channel: the thread ends within one poll and
//! closes its consumer; [`MessageLoader::shutdown`] also waits for that.

// The deferral layer, which uses the loader, is wired into the consumer separately.
#![cfg_attr(not(test), allow(dead_code))]

mod error;
mod pending;
mod record;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::ClientConfig;
use tokio::sync::{mpsc, oneshot};

pub(crate) use self::error::LoadError;
use self::record::Cache;
pub(crate) use self::record::{LoadedRecord, RecordId};
use self::worker::{Request, Worker};
use super::client_config::{base_config, finish};
use super::limits::MAX_RECORD_BYTES;
use super::log::LogContext;
use crate::config::Config;
use crate::error::{Error, Result};

/// Extra time a caller waits past `defer_seek_timeout` for the thread's own answer, which may
/// include a watermark query (see `worker.rs`) before it gives up itself.
const ANSWER_GRACE: Duration = Duration::from_secs(3);

/// Counters for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct LoaderStats {
    /// Seeks and assignments: each restarts reading somewhere.
    pub(crate) seeks: AtomicU64,
    /// Records read from Kafka.
    pub(crate) records: AtomicU64,
}

/// Reads records back from Kafka by (topic, partition, offset); see the module docs.
#[derive(Debug)]
pub(crate) struct MessageLoader {
    requests: mpsc::Sender<Request>,
    cache: Arc<Cache>,
    stats: Arc<LoaderStats>,
    seek_timeout: Duration,
    stopped: oneshot::Receiver<()>,
}

impl MessageLoader {
    /// Starts a loader for the consumer group `group_id`, with `defer_seek_timeout`,
    /// `defer_discard_threshold`, `defer_cache_size` and `max_uncommitted` from `config`.
    pub(crate) fn new(config: &Config, group_id: &str) -> Result<Self> {
        let consumer: BaseConsumer<LogContext> = loader_config(config, group_id)?
            .create_with_context(LogContext::default())
            .map_err(|source| Error::Client {
                role: "deferred-record loader",
                source,
            })?;
        let capacity = config.max_uncommitted.max(1);
        let (requests, receiver) = mpsc::channel(capacity);
        let (stopping, stopped) = oneshot::channel();
        let cache = Arc::new(Cache::new(config.defer_cache_size));
        let stats = Arc::new(LoaderStats::default());
        let worker = Worker::new(
            consumer,
            receiver,
            Arc::clone(&cache),
            Arc::clone(&stats),
            capacity,
            config.defer_discard_threshold,
            config.defer_seek_timeout,
        );
        std::thread::Builder::new()
            .name("prosody-defer-loader".into())
            .spawn(move || {
                worker.run();
                let _ = stopping.send(());
            })
            .map_err(|error| Error::Client {
                role: "deferred-record loader",
                source: rdkafka::error::KafkaError::ClientCreation(format!(
                    "could not start its thread: {error}"
                )),
            })?;
        Ok(Self {
            requests,
            cache,
            stats,
            seek_timeout: config.defer_seek_timeout,
            stopped,
        })
    }

    /// The record at `offset` of `topic`/`partition`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Deleted`] or [`LoadError::Missing`] when Kafka no longer has the record
    /// (permanent), [`LoadError::Timeout`] after `defer_seek_timeout` and
    /// [`LoadError::Stopped`] when the loader stopped (both transient).
    pub(crate) async fn load(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> std::result::Result<Arc<LoadedRecord>, LoadError> {
        let id = RecordId {
            topic: topic.into(),
            partition,
            offset,
        };
        if let Some(record) = self.cache.get(&id) {
            return Ok(record);
        }
        let deadline = Instant::now() + self.seek_timeout;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            id: id.clone(),
            deadline,
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| LoadError::Stopped)?;
        let limit = tokio::time::Instant::from_std(deadline + ANSWER_GRACE);
        match tokio::time::timeout_at(limit, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(LoadError::Stopped),
            Err(_) => Err(LoadError::Timeout {
                topic: id.topic,
                partition,
                offset,
                after: self.seek_timeout,
            }),
        }
    }

    /// Counters of what the loader did.
    pub(crate) fn stats(&self) -> &LoaderStats {
        &self.stats
    }

    /// Stops the thread and waits until it has closed its consumer.
    pub(crate) async fn shutdown(self) {
        let Self {
            requests, stopped, ..
        } = self;
        drop(requests);
        let _ = stopped.await;
    }
}

impl LoaderStats {
    /// Seeks and assignments so far.
    pub(crate) fn seeks(&self) -> u64 {
        self.seeks.load(Ordering::Relaxed)
    }

    /// Records read so far.
    pub(crate) fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

/// The loader's librdkafka settings: manual assignment, no commits, small fetches.
pub(crate) fn loader_config(config: &Config, group_id: &str) -> Result<ClientConfig> {
    let mut client = base_config(config)?;
    client
        .set("group.id", format!("{group_id}.defer-loader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A seek before the log start resets to it, so the first record read shows which
        // offsets were deleted.
        .set("auto.offset.reset", "earliest")
        // Keep little queued per partition (librdkafka's default is up to 64 MiB): the loader
        // reads single records, and reads ahead only while a load waits further on. A hundred
        // records keep fetches pipelined on a broker that returns one batch per fetch (the mock
        // cluster does); the byte limits bound it on one that returns many.
        .set("queued.min.messages", "100")
        .set("queued.max.messages.kbytes", "256")
        .set("fetch.message.max.bytes", "65536")
        // Kafka still returns a record larger than the fetch sizes, alone; these let the
        // largest record the broker accepts through.
        .set("fetch.max.bytes", MAX_RECORD_BYTES.to_string())
        .set("message.max.bytes", MAX_RECORD_BYTES.to_string())
        // Once the queue is at its limit librdkafka waits this long before fetching again,
        // a second by default, which a load would wait out.
        .set("fetch.queue.backoff.ms", "5")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.error.backoff.ms", "100")
        .set("allow.auto.create.topics", "false");
    finish(client, config)
}

#[cfg(test)]
mod tests;
