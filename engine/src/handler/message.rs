//! The event a handler receives, decoded from a Kafka record.

use std::sync::Arc;
use std::time::SystemTime;

use crate::baggage::Baggage;
use crate::trace::{Continuation, TraceParent};

/// A decoded Kafka message: where it came from, its key, and its JSON payload.
///
/// ```
/// use prosody_engine::Message;
/// let message = Message::new("orders", 0, 7, "order-1", serde_json::json!({"total": 3}));
/// assert_eq!(message.key(), "order-1");
/// assert_eq!(message.payload()["total"], 3);
/// ```
#[derive(Clone)]
pub struct Message {
    metadata: Metadata,
    key: Arc<str>,
    // Shared, so the retry layer's per-attempt clone copies a pointer, not the payload.
    payload: Arc<serde_json::Value>,
    /// The context of the span handling this message, while spans are exported. Behind a
    /// pointer so that messages stay small when tracing is off.
    span: Option<Arc<TraceParent>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Flat, as callers see the message through its accessors.
        f.debug_struct("Message")
            .field("topic", &self.metadata.topic)
            .field("partition", &self.metadata.partition)
            .field("offset", &self.metadata.offset)
            .field("key", &self.key)
            .field("timestamp", &self.metadata.timestamp)
            .field("headers", &self.metadata.headers)
            .field("payload", &self.payload)
            .field("excise", &self.metadata.excise)
            .finish()
    }
}

/// A record's headers, in order, shared between clones of its message.
pub(crate) type Headers = Arc<[(String, Option<Vec<u8>>)]>;

/// What a record carries besides its key and payload. The consumer's raw record holds it as
/// read, and the [`Message`] decoded from that record takes it over unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: SystemTime,
    // Shared, so the retry layer's per-attempt clone copies a pointer, not the headers.
    pub(crate) headers: Headers,
    /// Whether the record had no payload: an excise record (a tombstone). Kept here, in the
    /// padding after `partition`, so that messages stay the size they were.
    pub(crate) excise: bool,
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
        let metadata = Metadata {
            topic: topic.into(),
            partition,
            offset,
            timestamp: SystemTime::now(),
            headers: Arc::new([]),
            excise: false,
        };
        Self::from_parts(metadata, key.into(), payload)
    }

    /// A message decoded from a record: its metadata, its UTF-8 key and its parsed payload.
    pub(crate) fn from_parts(
        metadata: Metadata,
        key: Arc<str>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            metadata,
            key,
            payload: Arc::new(payload),
            span: None,
        }
    }

    /// An excise message for `key`: a record with no payload, a tombstone. Its payload reads
    /// as JSON null.
    ///
    /// ```
    /// let message = prosody_engine::Message::excise("orders", 0, 8, "order-1");
    /// assert!(message.is_excise());
    /// assert!(message.payload().is_null());
    /// ```
    pub fn excise(topic: &str, partition: i32, offset: i64, key: &str) -> Self {
        let mut message = Self::new(topic, partition, offset, key, serde_json::Value::Null);
        message.metadata.excise = true;
        message
    }

    /// The excise message a payload-less record decodes to; `metadata` says it is one.
    pub(crate) fn excise_from_parts(metadata: Metadata, key: Arc<str>) -> Self {
        Self::from_parts(metadata, key, serde_json::Value::Null)
    }

    /// Whether this is an excise record (a tombstone: a key and no payload), which the
    /// consumer hands only to handlers that [take them](crate::Handler::takes_excise).
    pub fn is_excise(&self) -> bool {
        self.metadata.excise
    }

    /// This message, handled inside the span whose context is `span`.
    pub(crate) fn within_span(mut self, span: Option<TraceParent>) -> Self {
        self.span = span.map(Arc::new);
        self
    }

    /// The topic the message was read from.
    pub fn topic(&self) -> &str {
        &self.metadata.topic
    }

    /// The partition the message was read from.
    pub fn partition(&self) -> i32 {
        self.metadata.partition
    }

    /// The message's offset within its partition.
    pub fn offset(&self) -> i64 {
        self.metadata.offset
    }

    /// The message key; messages with the same key are handled one at a time, in order.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn shared_key(&self) -> &Arc<str> {
        &self.key
    }

    pub(crate) fn shared_topic(&self) -> &Arc<str> {
        &self.metadata.topic
    }

    pub(crate) fn shared_headers(&self) -> &Headers {
        &self.metadata.headers
    }

    /// When the message was created (or appended to the log, per the topic's setting).
    pub fn timestamp(&self) -> SystemTime {
        self.metadata.timestamp
    }

    /// The message headers, in order. A header may have no value.
    pub fn headers(&self) -> &[(String, Option<Vec<u8>>)] {
        &self.metadata.headers
    }

    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.metadata
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_deref())
    }

    /// The trace context the message arrived with (its `traceparent` header), if it carries a
    /// well-formed one.
    pub fn trace_parent(&self) -> Option<TraceParent> {
        let value = std::str::from_utf8(self.header("traceparent")?).ok()?;
        TraceParent::parse(value)
    }

    /// The trace context that work done while handling this message continues: the exported
    /// `receive` span's while spans are exported, else the one the message arrived with.
    ///
    /// ```
    /// let message = prosody_engine::Message::new("orders", 0, 7, "order-1", serde_json::json!({}));
    /// assert_eq!(message.trace_context(), None);
    /// ```
    pub fn trace_context(&self) -> Option<TraceParent> {
        self.span
            .as_deref()
            .copied()
            .or_else(|| self.trace_parent())
    }

    /// The W3C baggage the message arrived with (its `baggage` header), checked as
    /// [`Baggage::parse`] does: invalid members and those past the limits are left out.
    ///
    /// ```
    /// let message = prosody_engine::Message::new("orders", 0, 7, "order-1", serde_json::json!({}));
    /// assert_eq!(message.baggage(), None);
    /// ```
    pub fn baggage(&self) -> Option<Baggage> {
        Baggage::from_header(self.header("baggage")?)
    }

    /// What work done while handling this message carries on: its
    /// [`trace context`](Message::trace_context) and its [`baggage`](Message::baggage).
    pub fn continuation(&self) -> Continuation {
        Continuation::from(self.trace_context()).with_baggage(self.baggage())
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
