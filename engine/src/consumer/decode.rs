//! Turning a raw Kafka record into a [`Message`], or skipping it: the one place that decides.
//!
//! A record whose key is missing or not UTF-8, or whose payload is missing or not JSON, cannot
//! be handed to a handler. [`Record::decode`] logs it, counts it in
//! [`ConsumerStats::skipped`](crate::ConsumerStats::skipped) and returns nothing; the partition
//! task then completes its offset at once, so one bad record never blocks a partition.
//!
//! A record with a key but no payload is an *excise* record (a tombstone, as compacted topics
//! use). It becomes a [`Message`] whose [`is_excise`](Message::is_excise) is true when the
//! consumer's handler takes excise records ([`Handler::takes_excise`](crate::Handler::takes_excise));
//! otherwise it is skipped like any record without a payload, as before excise existed.
//!
//! The poll thread copies a record out of the Kafka client without judging it
//! ([`Record::new`]); the partition task decodes it. Decoding there keeps the poll thread (a
//! single thread every message passes through) short, and means the many small allocations of
//! a JSON value are made and freed on the same runtime threads: freeing them on another thread
//! than the one that allocated them contends on the allocator's arena lock, which measurably
//! throttled consumption. For the same reason the poll thread copies the key and payload into
//! one allocation, and the key's own `Arc<str>` is made by the partition task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::handler::{Message, Metadata};
use crate::kafka::loader::LoadedRecord;

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

/// A record as the poll thread copied it, not yet decoded.
#[derive(Debug)]
pub(crate) struct Record {
    metadata: Metadata,
    /// The key's bytes followed by the payload's.
    bytes: Vec<u8>,
    /// The key's length, or `None` when the record has no key.
    key_len: Option<usize>,
    has_payload: bool,
}

impl Record {
    /// Copies a record's key and payload as they are; [`Record::decode`] judges them.
    pub(crate) fn new(metadata: Metadata, key: Option<&[u8]>, payload: Option<&[u8]>) -> Self {
        let (key_bytes, payload_bytes) = (key.unwrap_or_default(), payload.unwrap_or_default());
        let mut bytes = Vec::with_capacity(key_bytes.len() + payload_bytes.len());
        bytes.extend_from_slice(key_bytes);
        bytes.extend_from_slice(payload_bytes);
        Self {
            metadata,
            bytes,
            key_len: key.map(<[u8]>::len),
            has_payload: payload.is_some(),
        }
    }

    pub(crate) fn offset(&self) -> i64 {
        self.metadata.offset
    }

    /// A record read back by the record loader, to decode like one from the poll thread.
    pub(crate) fn from_loaded(record: &LoadedRecord) -> Self {
        let timestamp = record
            .timestamp_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(SystemTime::UNIX_EPOCH, |ms| {
                SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
            });
        let metadata = Metadata {
            topic: Arc::clone(&record.topic),
            partition: record.partition,
            offset: record.offset,
            timestamp,
            headers: record.headers.clone().into(),
            excise: false,
        };
        Self::new(metadata, record.key.as_deref(), record.payload.as_deref())
    }

    /// The message this record holds; or `None` when it cannot be handled, after logging the
    /// record and counting it in `skipped`. With `excise`, a keyed record without a payload is
    /// an excise message rather than skipped.
    pub(crate) fn decode(self, skipped: &AtomicU64, excise: bool) -> Option<Message> {
        let parsed = match self.parse() {
            Err(Skip::MissingPayload) if excise => self.excise_key(),
            parsed => parsed.map(|(key, payload)| (key, Some(payload))),
        };
        match parsed {
            Ok((key, Some(payload))) => Some(Message::from_parts(self.metadata, key, payload)),
            Ok((key, None)) => Some(Message::excise_from_parts(
                Metadata {
                    excise: true,
                    ..self.metadata
                },
                key,
            )),
            Err(reason) => {
                let Metadata {
                    topic,
                    partition,
                    offset,
                    ..
                } = &self.metadata;
                tracing::warn!(%topic, partition, offset, %reason, "skipping record");
                skipped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// A record a message collection refers to, read back: decoded as a handler's message
    /// would be (a keyed record without a payload as an excise message, whatever the handler
    /// takes, since it was stored as one), neither logged nor counted, as it is not a delivery.
    pub(crate) fn decode_reloaded(self) -> Result<Message, Skip> {
        match self.parse() {
            Ok((key, payload)) => Ok(Message::from_parts(self.metadata, key, payload)),
            Err(Skip::MissingPayload) => {
                let (key, _) = self.excise_key()?;
                let metadata = Metadata {
                    excise: true,
                    ..self.metadata
                };
                Ok(Message::excise_from_parts(metadata, key))
            }
            Err(reason) => Err(reason),
        }
    }

    /// The key of a record without a payload (checked as UTF-8 by `parse` already).
    fn excise_key(&self) -> Result<(Arc<str>, Option<serde_json::Value>), Skip> {
        let key = self.bytes.get(..self.key_len.ok_or(Skip::MissingKey)?);
        let key = key.ok_or(Skip::MissingKey)?;
        let key = std::str::from_utf8(key).map_err(|_| Skip::KeyNotUtf8)?;
        Ok((Arc::from(key), None))
    }

    /// The key and the parsed payload, or why the record cannot be handled.
    fn parse(&self) -> Result<(Arc<str>, serde_json::Value), Skip> {
        let key_len = self.key_len.ok_or(Skip::MissingKey)?;
        // Cannot fail, as the key is copied first; were it to, the record would count as keyless.
        let (key, payload) = self
            .bytes
            .split_at_checked(key_len)
            .ok_or(Skip::MissingKey)?;
        let key = std::str::from_utf8(key).map_err(|_| Skip::KeyNotUtf8)?;
        if !self.has_payload {
            return Err(Skip::MissingPayload);
        }
        let payload =
            serde_json::from_slice(payload).map_err(|e| Skip::InvalidJson(e.to_string()))?;
        Ok((Arc::from(key), payload))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    use super::Record;
    use crate::handler::Metadata;

    fn record(key: Option<&[u8]>, payload: Option<&[u8]>) -> Record {
        let metadata = Metadata {
            topic: "orders".into(),
            partition: 3,
            offset: 42,
            timestamp: UNIX_EPOCH,
            headers: Arc::new([("h".to_string(), Some(b"v".to_vec()))]),
            excise: false,
        };
        Record::new(metadata, key, payload)
    }

    #[test]
    fn a_good_record_decodes_to_its_message_and_counts_nothing() {
        let skipped = AtomicU64::new(0);
        let message = record(Some(b"order-1"), Some(br#"{"total":3}"#))
            .decode(&skipped, false)
            .expect("decoded");
        assert_eq!(
            (message.topic(), message.partition(), message.offset()),
            ("orders", 3, 42)
        );
        assert_eq!(message.key(), "order-1");
        assert_eq!(message.payload()["total"], 3);
        assert_eq!(message.header("h"), Some(&b"v"[..]));
        assert_eq!(message.timestamp(), UNIX_EPOCH);
        assert_eq!(skipped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_empty_key_is_a_key() {
        let skipped = AtomicU64::new(0);
        let message = record(Some(b""), Some(b"1")).decode(&skipped, false);
        assert_eq!(message.map(|m| m.key().to_string()), Some(String::new()));
        assert_eq!(skipped.load(Ordering::Relaxed), 0);
    }

    /// Issue 11: a skipped record was judged on the poll thread and again on the partition
    /// task. Each kind of bad record is now decided, and counted, exactly once.
    #[test]
    fn each_undecodable_record_is_skipped_and_counted_once() {
        let bad = [
            record(None, Some(b"{}")),
            record(Some(b"\xff\xfe"), Some(b"{}")),
            record(Some(b"k"), None),
            record(Some(b"k"), Some(b"not json")),
        ];
        let skipped = AtomicU64::new(0);
        for (n, bad) in bad.into_iter().enumerate() {
            assert!(bad.decode(&skipped, false).is_none(), "case {n}");
            assert_eq!(skipped.load(Ordering::Relaxed), n as u64 + 1, "case {n}");
        }
    }

    /// Issue 18: a tombstone reaches a handler that takes excise records, as an excise message
    /// with its key and no payload; for any other handler it is skipped as before.
    #[test]
    fn a_tombstone_is_an_excise_message_only_for_a_handler_that_takes_them() {
        let skipped = AtomicU64::new(0);
        let message = record(Some(b"order-1"), None)
            .decode(&skipped, true)
            .expect("an excise message");
        assert!(message.is_excise());
        assert_eq!(message.key(), "order-1");
        assert!(message.payload().is_null());
        assert_eq!(skipped.load(Ordering::Relaxed), 0);

        assert!(record(Some(b"order-1"), None)
            .decode(&skipped, false)
            .is_none());
        assert_eq!(skipped.load(Ordering::Relaxed), 1);
        let plain = record(Some(b"k"), Some(b"null")).decode(&skipped, true);
        assert_eq!(
            plain.map(|m| m.is_excise()),
            Some(false),
            "a JSON null is a payload"
        );
        assert!(
            record(None, None).decode(&skipped, true).is_none(),
            "no key, no excise"
        );
        assert!(record(Some(b"\xff"), None).decode(&skipped, true).is_none());
        assert_eq!(skipped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_reloaded_record_decodes_without_counting_and_a_tombstone_is_an_excise_message() {
        let message = record(Some(b"order-1"), Some(b"[1]"))
            .decode_reloaded()
            .expect("decoded");
        assert_eq!((message.key(), message.offset()), ("order-1", 42));
        assert_eq!(message.header("h"), Some(&b"v"[..]));
        let excise = record(Some(b"order-1"), None).decode_reloaded();
        assert_eq!(excise.map(|m| m.is_excise()), Ok(true));
        assert!(matches!(
            record(Some(b"k"), Some(b"{")).decode_reloaded(),
            Err(super::Skip::InvalidJson(_))
        ));
    }

    #[test]
    fn skip_reasons_are_checked_in_order() {
        use super::Skip;
        assert_eq!(record(None, None).parse().err(), Some(Skip::MissingKey));
        assert_eq!(
            record(Some(b"\xff"), None).parse().err(),
            Some(Skip::KeyNotUtf8)
        );
        assert_eq!(
            record(Some(b"k"), None).parse().err(),
            Some(Skip::MissingPayload)
        );
        assert!(matches!(
            record(Some(b"k"), Some(b"{")).parse().err(),
            Some(Skip::InvalidJson(_))
        ));
    }
}
