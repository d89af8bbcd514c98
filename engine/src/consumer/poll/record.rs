//! Copying a record out of librdkafka's buffer, so it can outlive the poll call.
//!
//! The copy judges nothing: a record without a key or payload is copied as it is, and
//! [`Record::decode`] on the partition task decides whether it is handled or skipped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::message::{BorrowedMessage, Headers, Message as _};

use crate::consumer::decode::Record;
use crate::handler::Metadata;

/// Copies `record`, read from `topic` (the poll loop's shared copy of its name).
pub(crate) fn copy(record: &BorrowedMessage<'_>, topic: &Arc<str>) -> Record {
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
        .unwrap_or_else(|| Arc::from([]));
    let metadata = Metadata {
        topic: Arc::clone(topic),
        partition: record.partition(),
        offset: record.offset(),
        timestamp,
        headers,
        excise: false,
    };
    Record::new(metadata, record.key(), record.payload())
}
