//! Turning a raw Kafka record into a [`Message`], or a reason to skip it.
//!
//! A record whose key is missing or not UTF-8, or whose payload is missing or not JSON, cannot
//! be handed to a handler. It is logged and skipped, and its offset still completes, so one bad
//! record never blocks a partition.
//!
//! Decoding happens in two steps. The poll thread copies what it needs out of librdkafka's
//! record into a [`Record`] ([`copy`]); the partition task parses the JSON ([`Record::decode`]).
//! Parsing there keeps the poll thread (a single thread every message passes through) short,
//! and means the many small allocations of a JSON value are made and freed on the same runtime
//! threads: freeing them on another thread than the one that allocated them contends on the
//! allocator's arena lock, which measurably throttled consumption.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::message::{BorrowedMessage, Headers, Message as _};

use crate::handler::Message;

/// Why a record was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    MissingKey,
    KeyNotUtf8,
    MissingPayload,
    InvalidJson(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::MissingKey => f.write_str("the record has no key"),
            Skip::KeyNotUtf8 => f.write_str("the record key is not UTF-8"),
            Skip::MissingPayload => f.write_str("the record has no payload"),
            Skip::InvalidJson(error) => write!(f, "the payload is not valid JSON: {error}"),
        }
    }
}

/// A record copied out of librdkafka, its payload not yet parsed.
#[derive(Debug)]
pub(crate) struct Record {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    key: Arc<str>,
    timestamp: SystemTime,
    headers: Vec<(String, Option<Vec<u8>>)>,
    payload: Vec<u8>,
}

impl Record {
    pub(crate) fn offset(&self) -> i64 {
        self.offset
    }

    /// Parses the payload.
    pub(crate) fn decode(self) -> Result<Message, Skip> {
        let payload =
            serde_json::from_slice(&self.payload).map_err(|e| Skip::InvalidJson(e.to_string()))?;
        Ok(Message::from_parts(
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.timestamp,
            self.headers,
            payload,
        ))
    }
}

/// Copies `record` out of librdkafka, or says why it cannot be handled.
pub(crate) fn copy(record: &BorrowedMessage<'_>, topic: &Arc<str>) -> Result<Record, Skip> {
    let key = match record.key() {
        None => return Err(Skip::MissingKey),
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| Skip::KeyNotUtf8)?,
    };
    let payload = record.payload().ok_or(Skip::MissingPayload)?;
    let timestamp = record
        .timestamp()
        .to_millis()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        .unwrap_or_else(SystemTime::now);
    let headers = record
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Record {
        topic: Arc::clone(topic),
        partition: record.partition(),
        offset: record.offset(),
        key: Arc::from(key),
        timestamp,
        headers,
        payload: payload.to_vec(),
    })
}
