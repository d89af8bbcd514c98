//! [`Requester`]: sends a request and gathers its answers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::error::{RequestError, MAX_REQUEST_TIMEOUT};
use super::headers::{self, millis_since_epoch, RequestHeaders, REQUEST_ID};
use super::outcome::{read_answer, Outcome};
use super::registry::Registry;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::{Producer, ReplyConsumer};
use crate::trace::Continuation;

/// A request to send: one record, and the subsystems that should answer it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The topic the record goes to.
    pub topic: String,
    /// Its key.
    pub key: String,
    /// Its payload (JSON text), or `None` for an excise record (a tombstone).
    pub payload: Option<Vec<u8>>,
    /// The subsystems asked, each once.
    pub subsystems: Vec<String>,
    /// How long to wait for their answers.
    pub timeout: Duration,
    /// The trace and baggage the record carries on.
    pub trace: Continuation,
}

impl Request {
    /// Checks the subsystems and timeout, as [`Requester::request`] does first.
    ///
    /// # Errors
    ///
    /// A [`RequestError`] naming the argument at fault.
    pub fn check(&self) -> std::result::Result<(), RequestError> {
        check_timeout(self.timeout)?;
        if self.subsystems.is_empty() {
            return Err(RequestError::NoSubsystems);
        }
        for (index, name) in self.subsystems.iter().enumerate() {
            RequestError::check_subsystem(name)?;
            if self.subsystems[..index].contains(name) {
                return Err(RequestError::DuplicateSubsystem(name.clone()));
            }
        }
        Ok(())
    }
}

/// Checks a request timeout: above zero, at most [`MAX_REQUEST_TIMEOUT`].
///
/// # Errors
///
/// [`RequestError::TimeoutOutOfRange`].
pub fn check_timeout(timeout: Duration) -> std::result::Result<(), RequestError> {
    if timeout.is_zero() || timeout > MAX_REQUEST_TIMEOUT {
        return Err(RequestError::TimeoutOutOfRange {
            given: format!("{}", timeout.as_secs_f64()),
        });
    }
    Ok(())
}

/// Sends requests with a client's producer and reads their answers from `reply_topic`.
/// Cheap to clone; clones share the reply consumer, which starts with the first request.
///
/// ```no_run
/// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
/// use prosody_engine::request::{Outcome, Request, Requester};
/// let requester = Requester::new(&config, prosody_engine::Producer::new(&config)?);
/// let answers = requester
///     .request(Request {
///         topic: "orders".into(),
///         key: "order-1".into(),
///         payload: Some(br#"{"type":"order.status"}"#.to_vec()),
///         subsystems: vec!["billing".into(), "shipping".into()],
///         timeout: std::time::Duration::from_secs(2),
///         trace: Default::default(),
///     })
///     .await?;
/// for (subsystem, outcome) in answers {
///     if let Outcome::Success(value) = outcome {
///         println!("{subsystem}: {value}");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Requester {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    producer: Producer,
    registry: Arc<Registry>,
    replies: OnceCell<ReplyConsumer>,
    /// Cancelled by [`Requester::close`].
    closed: CancellationToken,
}

impl Requester {
    /// A requester sending with `producer`, reading answers from `config.reply_topic`.
    pub fn new(config: &Config, producer: Producer) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                producer,
                registry: Arc::default(),
                replies: OnceCell::new(),
                closed: CancellationToken::new(),
            }),
        }
    }

    /// Sends `request` and waits until every subsystem answered or its timeout passed. The
    /// answers come in the order the subsystems were named; one that did not answer in time
    /// is a [`ResponseError::Timeout`](super::ResponseError::Timeout).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] for bad arguments (nothing is sent); the send's error when the
    /// record could not be written; [`Error::Admin`] when the reply topic cannot be read;
    /// [`Error::State`] when the requester is closed, or closes while the request waits.
    pub async fn request(&self, request: Request) -> Result<Vec<(String, Outcome)>> {
        request.check()?;
        let partition = self.replies().await?.partition();
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let deadline = SystemTime::now() + request.timeout;
        let request_headers = RequestHeaders {
            id: id.clone(),
            reply_topic: self.inner.config.reply_topic.clone(),
            reply_partition: partition,
            deadline_ms: millis_since_epoch(deadline),
            awaited: request.subsystems.clone(),
        }
        .encode();
        let headers: Vec<(&str, &[u8])> = request_headers
            .iter()
            .map(|(name, value)| (*name, value.as_slice()))
            .collect();
        let mut waiting = self.inner.registry.open(&id, &request.subsystems);
        let exchange = async {
            self.inner
                .producer
                .send_record(
                    &request.topic,
                    &request.key,
                    request.payload.as_deref(),
                    &headers,
                    request.trace,
                )
                .await?;
            waiting.all_answered().await;
            Ok::<(), Error>(())
        };
        let answered = tokio::select! {
            answered = tokio::time::timeout(request.timeout, exchange) => answered,
            () = self.inner.closed.cancelled() => {
                return Err(Error::State("the requester closed while the request waited"));
            }
        };
        // Running out of time is no error: the subsystems that did not answer time out.
        if let Ok(Err(error)) = answered {
            return Err(error);
        }
        Ok(waiting.close())
    }

    /// Stops reading answers: the reply consumer's thread, if a request started it, ends
    /// within one poll (100 ms) instead of when the last clone of this requester is dropped.
    /// Requests still waiting end at once, with an error, as do later ones. Closing again does
    /// nothing.
    pub fn close(&self) {
        self.inner.closed.cancel();
        if let Some(replies) = self.inner.replies.get() {
            replies.stop();
        }
    }

    /// Requests waiting for answers now.
    pub fn waiting(&self) -> usize {
        self.inner.registry.len()
    }

    /// The reply consumer, started by the first request. Checked for `close` before and after
    /// a start, so one that raced with it stops too.
    async fn replies(&self) -> Result<&ReplyConsumer> {
        const CLOSED: Error = Error::State("this requester is closed");
        if self.inner.closed.is_cancelled() {
            return Err(CLOSED);
        }
        let replies = self.start_replies().await?;
        if self.inner.closed.is_cancelled() {
            replies.stop();
            return Err(CLOSED);
        }
        Ok(replies)
    }

    async fn start_replies(&self) -> Result<&ReplyConsumer> {
        self.inner
            .replies
            .get_or_try_init(|| async {
                let config = self.inner.config.clone();
                let registry = Arc::clone(&self.inner.registry);
                let started = tokio::task::spawn_blocking(move || {
                    let topic = config.reply_topic.clone();
                    ReplyConsumer::start(&config, &topic, move |record| {
                        let headers = &record.headers;
                        // Other requesters' answers share the partition: skip them unread.
                        let Ok(Some(id)) = headers::single(headers, REQUEST_ID) else {
                            return;
                        };
                        if !registry.is_waiting(&id) {
                            return;
                        }
                        if let Some((id, subsystem, outcome)) =
                            read_answer(headers, record.payload.as_deref())
                        {
                            registry.deliver(&id, &subsystem, outcome);
                        }
                    })
                })
                .await;
                started.map_err(|_| Error::State("the reply consumer's start-up panicked"))?
            })
            .await
    }
}
