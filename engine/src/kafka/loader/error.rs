//! Why a deferred record could not be loaded, and whether trying again may help.

use std::sync::Arc;
use std::time::Duration;

/// A load that returned no record.
///
/// [`LoadError::is_transient`] tells the caller whether to try again later (the record may
/// still be read) or to give the offset up (it will never be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoadError {
    /// Kafka no longer has the record (retention or compaction deleted it): permanent.
    #[error(
        "offset {offset} of `{topic}`/{partition} was deleted by retention or compaction; the \
         partition now continues at offset {next}"
    )]
    Deleted {
        /// The record's topic.
        topic: Arc<str>,
        /// The record's partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// The first offset after it that still exists.
        next: i64,
    },

    /// The partition ends before the offset (it was truncated or recreated): permanent.
    #[error(
        "offset {offset} of `{topic}`/{partition} is past the partition's end ({end}); the topic \
         was truncated or recreated"
    )]
    Missing {
        /// The record's topic.
        topic: Arc<str>,
        /// The record's partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// The partition's end offset (high watermark).
        end: i64,
    },

    /// No answer within `defer_seek_timeout`: transient.
    #[error(
        "could not read offset {offset} of `{topic}`/{partition} within {after:?} \
         (defer_seek_timeout)"
    )]
    Timeout {
        /// The record's topic.
        topic: Arc<str>,
        /// The record's partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// The configured `defer_seek_timeout`.
        after: Duration,
    },

    /// The loader stopped before answering (it is shutting down): transient.
    #[error("the deferred-record loader stopped before reading the record")]
    Stopped,
}

impl LoadError {
    /// Whether loading the same offset later may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, LoadError::Timeout { .. } | LoadError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::LoadError;

    #[test]
    fn only_deleted_and_missing_records_are_permanent() {
        let deleted = LoadError::Deleted {
            topic: "orders".into(),
            partition: 2,
            offset: 5,
            next: 9,
        };
        assert!(!deleted.is_transient());
        assert_eq!(
            deleted.to_string(),
            "offset 5 of `orders`/2 was deleted by retention or compaction; the partition now \
             continues at offset 9"
        );
        let missing = LoadError::Missing {
            topic: "orders".into(),
            partition: 2,
            offset: 50,
            end: 10,
        };
        assert!(!missing.is_transient());
        let timeout = LoadError::Timeout {
            topic: "orders".into(),
            partition: 2,
            offset: 5,
            after: std::time::Duration::from_secs(30),
        };
        assert!(timeout.is_transient());
        assert!(timeout.to_string().contains("defer_seek_timeout"));
        assert!(LoadError::Stopped.is_transient());
    }
}
