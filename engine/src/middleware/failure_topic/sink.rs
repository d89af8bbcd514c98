use futures::future::BoxFuture;

use crate::error::Result;
use crate::kafka::Producer;
use crate::trace::Continuation;

/// Where [`FailureTopic`](super::FailureTopic) writes failed messages: the [`Producer`] in
/// production, a fake in tests.
///
/// ```
/// use futures::future::BoxFuture;
/// use prosody_engine::middleware::FailureSink;
/// use prosody_engine::Continuation;
///
/// /// Drops every record; for illustration only.
/// struct Discard;
/// impl FailureSink for Discard {
///     fn send<'a>(
///         &'a self,
///         _topic: &'a str,
///         _key: &'a str,
///         _payload: Option<&'a [u8]>,
///         _headers: &'a [(&'a str, &'a [u8])],
///         _trace: Continuation,
///     ) -> BoxFuture<'a, prosody_engine::Result<()>> {
///         Box::pin(async { Ok(()) })
///     }
/// }
/// ```
pub trait FailureSink: Send + Sync + 'static {
    /// Writes `payload` to `topic` under `key` with `headers`, resolving once it is stored;
    /// without a payload (a failed excise record) the record is a tombstone again.
    /// `trace` is what the failed message carries on (its trace context and baggage), which
    /// the record continues.
    fn send<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Option<&'a [u8]>,
        headers: &'a [(&'a str, &'a [u8])],
        trace: Continuation,
    ) -> BoxFuture<'a, Result<()>>;
}

impl FailureSink for Producer {
    fn send<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Option<&'a [u8]>,
        headers: &'a [(&'a str, &'a [u8])],
        trace: Continuation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.send_record(topic, key, payload, headers, trace)
                .await
                .map(|_delivery| ())
        })
    }
}
