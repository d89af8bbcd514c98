//! Answers requests (see [`crate::request`]) on behalf of a subsystem.
//!
//! A message whose headers make it a request that names this layer's subsystem runs with a
//! [`ReplySlot`] on its context, where the handler leaves its value
//! ([`Context::respond`]). Once the event's outcome is final, the layer writes one answer to the
//! partition the request names:
//!
//! | outcome reaching this layer | answer |
//! |---|---|
//! | `Ok`: the handler succeeded | `success` with the value set (`null` if none) |
//! | `Ok`: deduplication skipped the event | `failure`: already handled |
//! | a permanent error, or a transient one that is final (low-latency retries used up, best effort) | `failure` with the error's message |
//! | deferred, or terminal (shutdown, revocation) | none: the event comes back and answers then |
//!
//! So the stack puts this layer just inside the mode's own layer: inside [`FailureTopic`] and
//! [`BestEffort`], outside [`Defer`] and [`Retry`], so it sees each event's final outcome once.
//! Timers and messages that are no request for this subsystem pass through untouched. A record
//! with malformed request headers is handled as a plain message, counted
//! (`prosody_requests_rejected_total`) and logged (rate-limited); it gets no answer. An answer
//! past the request's deadline is not written; nobody waits for it.
//!
//! Writing an answer awaits its acknowledgement, inside the event: the partition's later
//! events for the key wait for it, and no queue of answers builds up. A failed write is a
//! warning; the event's outcome stands.
//!
//! [`ReplySlot`]: crate::handler::ReplySlot
//! [`Context::respond`]: crate::Context::respond
//! [`FailureTopic`]: super::FailureTopic
//! [`BestEffort`]: super::BestEffort
//! [`Defer`]: super::Defer
//! [`Retry`]: super::Retry

mod layer;
mod sink;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use layer::RespondLayer;
pub use sink::ReplySink;

use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, ReplySlot, Timer};
use crate::rate_limit::RateLimit;
use crate::request::headers::{Rejected, RequestHeaders};
use crate::request::Answer;

/// What a deduplicated request answers.
pub const ALREADY_HANDLED: &str =
    "this event was already handled (its payload id was seen before), so it was not run again";

/// Answers requests for a subsystem; built by [`RespondLayer`].
pub struct Respond<H: ?Sized> {
    inner: Arc<H>,
    settings: RespondLayer,
}

impl<H: ?Sized> fmt::Debug for Respond<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Respond")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Respond<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let request = match RequestHeaders::parse(message.headers()) {
            Ok(Some(request)) if request.awaits(self.settings.subsystem()) => request,
            Ok(_) => return self.inner.on_message(context, message),
            Err(rejected) => {
                self.rejected(&message, rejected);
                return self.inner.on_message(context, message);
            }
        };
        let slot = Arc::new(ReplySlot::default());
        let context = context.answering(Arc::clone(&slot));
        let inner = Arc::clone(&self.inner);
        let settings = self.settings.clone();
        Box::pin(async move {
            let result = inner.on_message(context, message).await;
            if let Some(body) = answer(&result, &slot) {
                settings.send(&request, body).await;
            }
            result
        })
    }

    fn prefetch(&self, message: &Message) {
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.inner.on_timer(context, timer)
    }
}

impl<H: ?Sized> Respond<H> {
    fn rejected(&self, message: &Message, rejected: Rejected) {
        static WARNED: RateLimit = RateLimit::new(Duration::from_secs(10));
        self.settings.metrics().rejected(rejected.reason());
        if let Some(held) = WARNED.admit() {
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                reason = %rejected,
                held,
                "a record's request headers are malformed; it is handled as a plain message and gets no answer"
            );
        }
    }
}

/// The answer `result` calls for, if it is final.
fn answer(result: &Result<(), HandlerError>, slot: &ReplySlot) -> Option<Result<Vec<u8>, String>> {
    match result {
        Ok(()) if slot.was_duplicate() => Some(Err(ALREADY_HANDLED.to_owned())),
        Ok(()) => Some(match slot.take() {
            Some(Ok(value)) => serde_json::to_vec(&value).map_err(|error| error.to_string()),
            Some(Err(reason)) => Err(reason),
            None => Ok(b"null".to_vec()),
        }),
        Err(error) if error.is_deferred() || error.class() == ErrorClass::Terminal => None,
        Err(error) => Some(match slot.take() {
            Some(Err(reason)) => Err(reason),
            _ => Err(error.message().to_owned()),
        }),
    }
}

impl RespondLayer {
    async fn send(&self, request: &RequestHeaders, body: Result<Vec<u8>, String>) {
        if request.expired(SystemTime::now()) {
            self.metrics().late();
            return;
        }
        let answer = Answer {
            request_id: request.id.clone(),
            subsystem: self.subsystem().to_owned(),
            body,
        };
        let success = answer.body.is_ok();
        match self
            .sink()
            .reply(&request.reply_topic, request.reply_partition, &answer)
            .await
        {
            Ok(()) => self.metrics().answered(success),
            Err(error) => {
                self.metrics().unsent();
                tracing::warn!(
                    %error,
                    request = %request.id,
                    topic = %request.reply_topic,
                    partition = request.reply_partition,
                    "could not write the answer to a request; the requester will time out"
                );
            }
        }
    }
}
