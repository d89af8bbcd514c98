//! Shared fakes for middleware tests: a scripted inner handler and a scripted failure sink.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, HandlerError, Result};
use crate::handler::{Context, Handler, HandlerFuture, Message, Metadata, Timer};
use crate::middleware::FailureSink;

/// What the scripted handler does on one call. Once the script runs out it returns `Ok`.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Returns this result at once.
    Return(Result<(), HandlerError>),
    /// Sleeps on the tokio clock, then returns the result.
    Sleep(Duration, Result<(), HandlerError>),
    /// Waits for the context's cancellation, then returns the result.
    UntilCancelled(Result<(), HandlerError>),
}

/// Shorthand steps.
pub(crate) fn ok() -> Step {
    Step::Return(Ok(()))
}
pub(crate) fn transient(text: &str) -> Step {
    Step::Return(Err(HandlerError::transient(text)))
}
pub(crate) fn permanent(text: &str) -> Step {
    Step::Return(Err(HandlerError::permanent(text)))
}
pub(crate) fn terminal(text: &str) -> Step {
    Step::Return(Err(HandlerError::terminal(text)))
}

/// One call the scripted handler received.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) at: Instant,
    pub(crate) context: Context,
    pub(crate) message: Option<Message>,
}

/// An inner handler that plays a script and records every call.
#[derive(Debug, Default)]
pub(crate) struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    calls: Mutex<Vec<Call>>,
    /// Offsets of the messages [`Handler::prefetch`] reached this handler for.
    prefetched: Mutex<Vec<i64>>,
}

impl Scripted {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into_iter().collect()),
            calls: Mutex::default(),
            prefetched: Mutex::default(),
        })
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn call_count(&self) -> usize {
        self.calls().len()
    }

    /// Offsets of the messages whose prefetch hint got through to this handler.
    pub(crate) fn prefetched(&self) -> Vec<i64> {
        self.prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn play(&self, context: Context, message: Option<Message>) -> HandlerFuture {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Call {
                at: Instant::now(),
                context: context.clone(),
                message,
            });
        let step = self
            .steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(ok);
        Box::pin(async move {
            match step {
                Step::Return(result) => result,
                Step::Sleep(delay, result) => {
                    tokio::time::sleep(delay).await;
                    result
                }
                Step::UntilCancelled(result) => {
                    context.cancelled().await;
                    result
                }
            }
        })
    }
}

impl Handler for Scripted {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        self.play(context, Some(message))
    }

    fn prefetch(&self, message: &Message) {
        self.prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message.offset());
    }

    fn on_timer(&self, context: Context, _timer: Timer) -> HandlerFuture {
        self.play(context, None)
    }
}

/// A context with a token the test controls.
pub(crate) fn context(key: &str) -> (Context, CancellationToken) {
    let token = CancellationToken::new();
    (Context::new(key.into(), token.clone()), token)
}

/// A message on `orders`/0 at offset 7, with the given headers.
pub(crate) fn message_with(
    key: &str,
    payload: serde_json::Value,
    headers: &[(&str, &str)],
) -> Message {
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Some(value.as_bytes().to_vec())))
        .collect();
    let metadata = Metadata {
        topic: "orders".into(),
        partition: 3,
        offset: 7,
        timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        headers,
        excise: false,
    };
    Message::from_parts(metadata, key.into(), payload)
}

pub(crate) fn message(key: &str, payload: serde_json::Value) -> Message {
    message_with(key, payload, &[])
}

pub(crate) fn timer(key: &str) -> Timer {
    Timer {
        key: key.to_owned(),
        time: SystemTime::UNIX_EPOCH,
    }
}

/// A record the fake sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) topic: String,
    pub(crate) key: String,
    /// `None` for a tombstone (a failed excise record).
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// The trace context and baggage the record was to continue.
    pub(crate) trace: crate::trace::Continuation,
}

impl Record {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }
}

/// A failure sink that fails `failures` times, then accepts; it records every attempt.
#[derive(Debug, Default)]
pub(crate) struct FakeSink {
    failures: Mutex<usize>,
    attempts: Mutex<Vec<Instant>>,
    records: Mutex<Vec<Record>>,
}

impl FakeSink {
    pub(crate) fn failing(failures: usize) -> Arc<Self> {
        Arc::new(Self {
            failures: Mutex::new(failures),
            ..Self::default()
        })
    }

    pub(crate) fn attempts(&self) -> Vec<Instant> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl FailureSink for FakeSink {
    fn send<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Option<&'a [u8]>,
        headers: &'a [(&'a str, &'a [u8])],
        trace: crate::trace::Continuation,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.attempts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Instant::now());
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if *failures > 0 {
                *failures -= 1;
                return Err(Error::SendTimeout {
                    topic: topic.to_owned(),
                    timeout: Duration::from_secs(1),
                    waited: Duration::from_secs(1),
                });
            }
            self.records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Record {
                    topic: topic.to_owned(),
                    key: key.to_owned(),
                    payload: payload.map(<[u8]>::to_vec),
                    headers: headers
                        .iter()
                        .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
                        .collect(),
                    trace,
                });
            Ok(())
        })
    }
}

/// Starts `handler` on a message for `key`, checks that it is still running, cancels its
/// context, and returns the error it then settles with at once.
pub(crate) async fn error_once_cancelled(handler: &impl Handler, key: &str) -> HandlerError {
    use futures::FutureExt;
    let (ctx, token) = context(key);
    let mut run = handler.on_message(ctx, message(key, serde_json::json!({})));
    assert!(
        futures::poll!(&mut run).is_pending(),
        "the handler should still be running"
    );
    token.cancel();
    run.now_or_never()
        .expect("ready once cancelled")
        .expect_err("a cancelled attempt fails")
}
