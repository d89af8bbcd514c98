//! The event a handler receives, decoded from a Kafka record.

use std::sync::Arc;
use std::time::SystemTime;

/// A decoded Kafka message: where it came from, its key, and its JSON payload.
///
/// ```
/// use prosody_engine::Message;
/// let message = Message::new("orders", 0, 7, "order-1", serde_json::json!({"total": 3}));
/// assert_eq!(message.key(), "order-1");
/// assert_eq!(message.payload()["total"], 3);
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    key: Arc<str>,
    timestamp: SystemTime,
    // Shared, so the retry layer's per-attempt clone copies two pointers, not the payload.
    headers: Arc<[(String, Option<Vec<u8>>)]>,
    payload: Arc<serde_json::Value>,
}

impl Message {
    /// A message with no headers, stamped now. Useful in tests.
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        key: &str,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
            key: key.into(),
            timestamp: SystemTime::now(),
            headers: Arc::new([]),
            payload: Arc::new(payload),
        }
    }

    pub(crate) fn from_parts(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        key: Arc<str>,
        timestamp: SystemTime,
        headers: Vec<(String, Option<Vec<u8>>)>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            topic,
            partition,
            offset,
            key,
            timestamp,
            headers: headers.into(),
            payload: Arc::new(payload),
        }
    }

    /// The topic the message was read from.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition the message was read from.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The message's offset within its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The message key; messages with the same key are handled one at a time, in order.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn shared_key(&self) -> &Arc<str> {
        &self.key
    }

    /// When the message was created (or appended to the log, per the topic's setting).
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The message headers, in order. A header may have no value.
    pub fn headers(&self) -> &[(String, Option<Vec<u8>>)] {
        &self.headers
    }

    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_deref())
    }

    /// The decoded JSON payload.
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }

    /// Takes the payload out of the message.
    pub fn into_payload(self) -> serde_json::Value {
        Arc::try_unwrap(self.payload).unwrap_or_else(|shared| (*shared).clone())
    }
}
