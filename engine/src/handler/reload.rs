//! Turning the message references a `message_*` collection holds back into messages, and what
//! an event reaches of its partition's keyed state ([`KeyedPartition`]).
//!
//! A message collection stores only where a record lives ([`MessageRef`]); reading it means
//! reading that record from Kafka again and decoding it as the consumer decodes a fresh one.
//! The consumer hands each event's [`Context`](crate::Context) a [`Reloader`] when its
//! registry holds message collections; it reads through the consumer's one record loader (the
//! one deferred retries use), so loads of one record coalesce and recent records are cached.
//!
//! A load never waits without bound: one Kafka cannot answer within `defer_seek_timeout`
//! fails, as does one for a record retention or compaction deleted, with
//! [`StateError::MessageUnavailable`] naming the collection and the record.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Message;
use crate::error::Result;
use crate::state::{MessageRef, PartitionState, StateError};

/// What an event reaches of its partition's keyed state: the assignment's state and, when the
/// consumer has message collections, their reloader. One per assignment, shared by its events'
/// contexts behind one pointer, so a context stays small.
#[derive(Debug)]
pub(crate) struct KeyedPartition {
    pub(crate) state: Arc<PartitionState>,
    pub(crate) reloader: Option<Reloader>,
}

/// What a load returns: the message, or why it could not be read.
pub(crate) type LoadFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<Message, String>> + Send + 'a>>;

/// Reads one record back by reference; the consumer implements it over its record loader.
pub(crate) trait Load: Send + Sync {
    /// The message at `reference`, or why it cannot be read.
    fn load<'a>(&'a self, reference: &'a MessageRef) -> LoadFuture<'a>;
}

/// Reloads the messages a `message_*` collection refers to; cheap to clone.
///
/// Take it from [`Context::reloader`](crate::Context::reloader).
#[derive(Clone)]
pub struct Reloader(Arc<dyn Load>);

impl fmt::Debug for Reloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reloader")
    }
}

impl Reloader {
    pub(crate) fn new(load: Arc<dyn Load>) -> Self {
        Self(load)
    }

    /// The message `reference` points at, read from Kafka (or the loader's cache). `collection`
    /// names the collection it came from, for the error.
    ///
    /// # Errors
    ///
    /// [`StateError::MessageUnavailable`] when Kafka no longer has the record, it no longer
    /// decodes as a message, or it could not be read within `defer_seek_timeout`.
    pub async fn load(&self, collection: &str, reference: &MessageRef) -> Result<Message> {
        self.0.load(reference).await.map_err(|reason| {
            StateError::MessageUnavailable {
                name: collection.to_owned(),
                topic: reference.topic.clone(),
                partition: reference.partition,
                offset: reference.offset,
                reason,
            }
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a fixed list; anything else is gone.
    struct Fixed(Vec<Message>);

    impl Load for Fixed {
        fn load<'a>(&'a self, reference: &'a MessageRef) -> LoadFuture<'a> {
            Box::pin(async move {
                self.0
                    .iter()
                    .find(|m| m.offset() == reference.offset && m.topic() == reference.topic)
                    .cloned()
                    .ok_or_else(|| "deleted by retention".to_owned())
            })
        }
    }

    #[tokio::test]
    async fn a_reference_reloads_as_its_message_and_a_gone_one_names_the_collection() {
        let message = Message::new("orders", 1, 7, "k", serde_json::json!({"n": 1}));
        let reloader = Reloader::new(Arc::new(Fixed(vec![message])));
        let found = reloader
            .load("window", &MessageRef::new("orders", 1, 7))
            .await
            .expect("reloaded");
        assert_eq!((found.key(), found.payload()["n"].as_i64()), ("k", Some(1)));

        let error = reloader
            .load("window", &MessageRef::new("orders", 1, 8))
            .await
            .expect_err("gone");
        assert!(error.is_transient(), "left to the handler, not permanent");
        assert_eq!(
            error.to_string(),
            "state collection `window` refers to offset 8 of `orders`/1, which cannot be \
             reloaded: deleted by retention"
        );
    }
}
