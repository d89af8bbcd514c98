//! Reading back what reached the process-wide mock cluster, so a test can assert on the
//! records a block of code produced rather than on what it meant to send.
//!
//! [`MockLogMark::now`] notes where every partition of every topic ends;
//! [`MockLogMark::records_since`] reads each partition that grew from there up to where it
//! ends then. Both block the calling thread (a few milliseconds on the in-process cluster);
//! an async caller runs them on a blocking thread. Internal topics (`__…`) are left out.
//!
//! Each read uses a consumer of its own, assigned by hand: it joins no group and commits
//! nothing, so it never disturbs the consumers under test.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::mock::mock_bootstrap_servers;
use crate::error::{Error, Result};

/// How long a metadata or offsets request, or a whole read, may take on the mock cluster.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Where each partition of each topic on the mock cluster ended at one moment.
///
/// ```
/// let mark = prosody_engine::MockLogMark::now().unwrap();
/// assert!(mark.records_since().unwrap().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockLogMark {
    ends: HashMap<(String, i32), i64>,
}

/// One record on the mock cluster, as stored: key and payload as text (lossy if not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRecord {
    /// The topic it was written to.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key, if it has one.
    pub key: Option<String>,
    /// Its payload (JSON, when a Prosody producer wrote it), if it has one.
    pub payload: Option<String>,
    /// Its headers, in order; a header without a value has an empty one.
    pub headers: Vec<(String, String)>,
}

impl MockLogMark {
    /// Where every partition of every topic on the mock cluster ends now, starting the
    /// cluster if needed.
    ///
    /// # Errors
    ///
    /// [`Error::MockLog`] if the cluster does not answer within ten seconds.
    pub fn now() -> Result<Self> {
        let consumer = reader()?;
        Ok(Self {
            ends: ends(&consumer)?,
        })
    }

    /// Every record written since this mark, ordered by topic, partition and offset. Topics
    /// created since count from their start.
    ///
    /// # Errors
    ///
    /// [`Error::MockLog`] if the cluster does not answer, or the records are not all read,
    /// within ten seconds.
    pub fn records_since(&self) -> Result<Vec<MockRecord>> {
        let consumer = reader()?;
        let now = ends(&consumer)?;
        let mut wanted: HashMap<(String, i32), (i64, i64)> = now
            .into_iter()
            .filter_map(|(at, end)| {
                let start = self.ends.get(&at).copied().unwrap_or(0);
                (end > start).then_some((at, (start, end)))
            })
            .collect();
        let mut records = read(&consumer, &mut wanted)?;
        records.sort_by(|a, b| {
            (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset))
        });
        Ok(records)
    }
}

/// Every record on `topic` of the mock cluster so far, by partition and offset.
///
/// # Errors
///
/// As [`MockLogMark::records_since`].
pub fn mock_topic_records(topic: &str) -> Result<Vec<MockRecord>> {
    let mut records = MockLogMark::default().records_since()?;
    records.retain(|record| record.topic == topic);
    Ok(records)
}

fn failed(reason: impl std::fmt::Display) -> Error {
    Error::MockLog {
        reason: reason.to_string(),
    }
}

fn reader() -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", mock_bootstrap_servers()?)
        .set("group.id", "prosody-mock-log")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false")
        .set("fetch.wait.max.ms", "10")
        .set("log_level", "3")
        .create()
        .map_err(failed)
}

/// The end offset of every partition of every non-internal topic, in one ListOffsets request.
fn ends(consumer: &BaseConsumer) -> Result<HashMap<(String, i32), i64>> {
    let metadata = consumer.fetch_metadata(None, READ_LIMIT).map_err(failed)?;
    let mut list = TopicPartitionList::new();
    for topic in metadata.topics() {
        if topic.error().is_some() || topic.name().starts_with("__") {
            continue;
        }
        for partition in topic.partitions() {
            list.add_partition_offset(topic.name(), partition.id(), Offset::End)
                .map_err(failed)?;
        }
    }
    if list.count() == 0 {
        return Ok(HashMap::new());
    }
    // A timestamp of "end" asks for each partition's end offset.
    let answered = consumer
        .offsets_for_times(list, READ_LIMIT)
        .map_err(failed)?;
    Ok(answered
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(end) => Some(((element.topic().to_string(), element.partition()), end)),
            _ => None,
        })
        .collect())
}

/// Reads each wanted partition from its start to its end.
fn read(
    consumer: &BaseConsumer,
    wanted: &mut HashMap<(String, i32), (i64, i64)>,
) -> Result<Vec<MockRecord>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), (start, _)) in wanted.iter() {
        list.add_partition_offset(topic, *partition, Offset::Offset(*start))
            .map_err(failed)?;
    }
    consumer.assign(&list).map_err(failed)?;
    let deadline = Instant::now() + READ_LIMIT;
    let mut records = Vec::new();
    while !wanted.is_empty() {
        if Instant::now() >= deadline {
            let left: Vec<String> = wanted.keys().map(|(t, p)| format!("{t}/{p}")).collect();
            return Err(failed(format!("timed out reading {}", left.join(", "))));
        }
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let message = message.map_err(failed)?;
        let at = (message.topic().to_string(), message.partition());
        let Some((_, end)) = wanted.get(&at).copied() else {
            continue;
        };
        if message.offset() + 1 >= end {
            wanted.remove(&at);
        }
        if message.offset() >= end {
            continue;
        }
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        records.push(MockRecord {
            topic: at.0,
            partition: at.1,
            offset: message.offset(),
            key: message.key().map(text),
            payload: message.payload().map(text),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_string(), h.value.map(text).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(records)
}
