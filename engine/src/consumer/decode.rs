//! Turning a raw Kafka record into a [`Message`], or a reason to skip it.
//!
//! A record whose key is missing or not UTF-8, or whose payload is missing or not JSON, cannot
//! be handed to a handler. It is logged and skipped, and its offset still completes, so one bad
//! record never blocks a partition.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::message::{BorrowedMessage, Headers, Message as _};

use crate::consumer::message::Message;

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

pub(crate) fn decode(record: &BorrowedMessage<'_>, topic: &Arc<str>) -> Result<Message, Skip> {
    let key = match record.key() {
        None => return Err(Skip::MissingKey),
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| Skip::KeyNotUtf8)?,
    };
    let payload = record.payload().ok_or(Skip::MissingPayload)?;
    let payload = serde_json::from_slice(payload).map_err(|e| Skip::InvalidJson(e.to_string()))?;
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
    Ok(Message::from_parts(
        Arc::clone(topic),
        record.partition(),
        record.offset(),
        Arc::from(key),
        timestamp,
        headers,
        payload,
    ))
}
