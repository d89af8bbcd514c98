//! What the loader returns, a [`LoadedRecord`], and the cache of recent ones.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use rdkafka::message::{BorrowedMessage, Headers, Message as _};

/// A record read back from Kafka, owned: the consumer decodes it as it decodes fresh records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadedRecord {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch, when the record has a timestamp.
    pub(crate) timestamp_ms: Option<i64>,
}

impl LoadedRecord {
    pub(super) fn copy(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// Which record: the cache key and what a load asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecordId {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// The records read most recently, shared by the loader's handle and its thread.
#[derive(Debug)]
pub(crate) struct Cache(Mutex<LruCache<RecordId, Arc<LoadedRecord>>>);

impl Cache {
    pub(super) fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(LruCache::new(capacity)))
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<RecordId, Arc<LoadedRecord>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, id: &RecordId) -> Option<Arc<LoadedRecord>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn put(&self, record: Arc<LoadedRecord>) {
        let id = RecordId {
            topic: Arc::clone(&record.topic),
            partition: record.partition,
            offset: record.offset,
        };
        self.lock().put(id, record);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Cache, LoadedRecord, RecordId};

    fn record(offset: i64) -> Arc<LoadedRecord> {
        Arc::new(LoadedRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            payload: None,
            headers: Vec::new(),
            timestamp_ms: None,
        })
    }

    fn id(offset: i64) -> RecordId {
        RecordId {
            topic: "t".into(),
            partition: 0,
            offset,
        }
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_records() {
        let cache = Cache::new(2);
        cache.put(record(1));
        cache.put(record(2));
        assert!(cache.get(&id(1)).is_some(), "1 is now the most recent");
        cache.put(record(3));
        assert!(cache.get(&id(2)).is_none(), "2 was evicted");
        assert_eq!(cache.get(&id(3)).map(|r| r.offset), Some(3));
        assert!(
            Cache::new(0).get(&id(1)).is_none(),
            "a zero size keeps one record"
        );
    }
}
