//! Low-latency mode: a message whose handling finally failed is written to `failure_topic`, and
//! the consumer moves on.
//!
//! The inner handler is normally a bounded [`Retry`](crate::middleware::Retry), so a transient
//! error arrives here after `max_retries` retries and a permanent one at once. The record has
//! the message's key and payload, plus the headers [`SOURCE_TOPIC_HEADER`],
//! [`SOURCE_PARTITION_HEADER`], [`SOURCE_OFFSET_HEADER`], [`SOURCE_TIMESTAMP_HEADER`] (ms since
//! the Unix epoch), [`CONSUMER_GROUP_HEADER`] and [`ERROR_HEADER`] (the error text).
//!
//! A failed write is retried with backoff until it succeeds, so a message is never lost
//! silently; once written, the layer returns `Ok(())` and the offset commits. If the context is
//! cancelled (revocation or shutdown) before a write succeeds, the layer returns a terminal
//! error so the offset is not committed. Terminal errors from the inner handler pass through,
//! and timers are never written to the failure topic: their errors pass through too.

mod layer;
mod sink;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use layer::FailureTopicLayer;
pub use sink::FailureSink;

use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};

/// Header naming the topic the failed message was read from.
pub const SOURCE_TOPIC_HEADER: &str = "prosody-source-topic";
/// Header naming the partition the failed message was read from.
pub const SOURCE_PARTITION_HEADER: &str = "prosody-source-partition";
/// Header naming the failed message's offset.
pub const SOURCE_OFFSET_HEADER: &str = "prosody-source-offset";
/// Header with the failed message's timestamp, in milliseconds since the Unix epoch.
pub const SOURCE_TIMESTAMP_HEADER: &str = "prosody-source-timestamp";
/// Header naming the consumer group that failed to handle the message.
pub const CONSUMER_GROUP_HEADER: &str = "prosody-consumer-group";
/// Header with the text of the final error.
pub const ERROR_HEADER: &str = "prosody-error";

/// Writes finally failing messages to the failure topic; built by [`FailureTopicLayer`], see
/// its example.
pub struct FailureTopic<H: ?Sized> {
    settings: FailureTopicLayer,
    inner: Arc<H>,
}

impl<H: ?Sized> FailureTopic<H> {
    /// Wraps `inner` with the sink, topic and backoff of `settings`.
    pub fn new(inner: Arc<H>, settings: FailureTopicLayer) -> Self {
        Self { settings, inner }
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// Unwraps the inner handler.
    pub fn into_inner(self) -> Arc<H> {
        self.inner
    }
}

impl<H: ?Sized> Clone for FailureTopic<H> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.inner), self.settings.clone())
    }
}

impl<H: ?Sized> fmt::Debug for FailureTopic<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureTopic")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for FailureTopic<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let record = message.clone();
        let handled = self.inner.on_message(context.clone(), message);
        let settings = self.settings.clone();
        Box::pin(async move {
            match handled.await {
                Err(error) if error.class() != ErrorClass::Terminal => {
                    dead_letter(&settings, &context, &record, &error).await
                }
                result => result,
            }
        })
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.inner.on_timer(context, timer)
    }
}

async fn dead_letter(
    settings: &FailureTopicLayer,
    context: &Context,
    message: &Message,
    error: &HandlerError,
) -> Result<(), HandlerError> {
    let topic = &*settings.topic;
    // An excise record is written as one again, so the failure topic's consumer sees a
    // tombstone rather than a JSON null.
    let payload = if message.is_excise() {
        None
    } else {
        Some(serde_json::to_vec(message.payload()).map_err(|source| {
            HandlerError::terminal(format!(
                "could not encode the message for failure topic `{topic}`: {source}"
            ))
        })?)
    };
    let owned = headers(message, &settings.group_id, error);
    let headers: Vec<(&str, &[u8])> = owned
        .iter()
        .map(|(name, value)| (*name, value.as_slice()))
        .collect();
    let mut retries = 0_u32;
    loop {
        let sent = settings
            .sink
            .send(
                topic,
                message.key(),
                payload.as_deref(),
                &headers,
                message.continuation(),
            )
            .await;
        let send_error = match sent {
            Ok(()) => {
                tracing::warn!(
                    failure_topic = topic,
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    key = message.key(),
                    %error,
                    "handler failed; message written to the failure topic"
                );
                return Ok(());
            }
            Err(send_error) => send_error,
        };
        let delay = settings.backoff.delay(retries);
        tracing::error!(failure_topic = topic, %send_error, ?delay, "could not write to the failure topic; retrying");
        if context.should_cancel() {
            return Err(stopped(topic, error));
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = context.cancelled() => return Err(stopped(topic, error)),
        }
        retries = retries.saturating_add(1);
    }
}

fn headers(
    message: &Message,
    group_id: &str,
    error: &HandlerError,
) -> [(&'static str, Vec<u8>); 6] {
    let timestamp_ms = message
        .timestamp()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    [
        (SOURCE_TOPIC_HEADER, message.topic().as_bytes().to_vec()),
        (
            SOURCE_PARTITION_HEADER,
            message.partition().to_string().into_bytes(),
        ),
        (
            SOURCE_OFFSET_HEADER,
            message.offset().to_string().into_bytes(),
        ),
        (
            SOURCE_TIMESTAMP_HEADER,
            timestamp_ms.to_string().into_bytes(),
        ),
        (CONSUMER_GROUP_HEADER, group_id.as_bytes().to_vec()),
        (ERROR_HEADER, error.to_string().into_bytes()),
    ]
}

fn stopped(topic: &str, error: &HandlerError) -> HandlerError {
    HandlerError::terminal(format!(
        "shutdown before the message could be written to failure topic `{topic}`; handler error: {error}"
    ))
}
