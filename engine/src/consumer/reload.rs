//! How a consumer reads a message collection's references back: its record loader (the one
//! deferred retries use), then the decoding a fresh record gets.
//!
//! A reloaded record is not a delivery, so one that no longer decodes is an error for the
//! reader rather than a skip counted in [`ConsumerStats`](crate::ConsumerStats).

use std::sync::Arc;

use crate::consumer::decode::Record;
use crate::handler::{Load, LoadFuture};
use crate::kafka::loader::MessageLoader;
use crate::state::MessageRef;

/// [`Load`] over the consumer's [`MessageLoader`].
pub(crate) struct KafkaLoad {
    loader: Arc<MessageLoader>,
}

impl KafkaLoad {
    pub(crate) fn new(loader: Arc<MessageLoader>) -> Self {
        Self { loader }
    }
}

impl Load for KafkaLoad {
    fn load<'a>(&'a self, reference: &'a MessageRef) -> LoadFuture<'a> {
        Box::pin(async move {
            let record = self
                .loader
                .load(&reference.topic, reference.partition, reference.offset)
                .await
                .map_err(|error| error.to_string())?;
            Record::from_loaded(&record)
                .decode_reloaded()
                .map_err(|skip| format!("the record no longer decodes as a message: {skip}"))
        })
    }
}
