//! An idempotent JSON producer.
//!
//! Every message carries a `source-system` header (so consumers can skip their own output) and a
//! W3C `traceparent` header, and a W3C `baggage` header when the send carries baggage on. Each acknowledged send is reported to the client's telemetry
//! emitter, when it has one. [`Producer::send`] resolves once Kafka acknowledges the message, or
//! fails once `send_timeout` has passed. Nothing is buffered beyond librdkafka's own queue,
//! whose size librdkafka bounds; a full queue is a transient error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tracing::Instrument;

use crate::baggage::Baggage;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client_config::producer_config;
use crate::kafka::log::LogContext;
use crate::metrics::ProducerMetrics;
use crate::otel;
use crate::telemetry::{Event, EventType, Telemetry, Trace};
use crate::trace::{Continuation, TraceParent};

/// Extra time granted to sends made while a new producer starts up.
///
/// librdkafka's idempotent producer asks the broker for its producer id half a second after it
/// is created, and holds every message until it has one, so a send made right after
/// `Client.new` would spend half of the default one-second `send_timeout` (and on a busy
/// machine all of it) waiting for start-up. Sends within this window get its remainder on top of
/// `send_timeout`; later sends get exactly `send_timeout`.
pub(crate) const STARTUP_ALLOWANCE: Duration = Duration::from_secs(2);

/// The header that names the system a message came from.
pub const SOURCE_SYSTEM_HEADER: &str = "source-system";

/// Where an acknowledged message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The partition written to.
    pub partition: i32,
    /// The message's offset in that partition.
    pub offset: i64,
}

/// Sends JSON messages. Cheap to clone; clones share one connection.
///
/// ```no_run
/// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
/// let producer = prosody_engine::Producer::new(&config)?;
/// producer.send("orders", "order-1", &serde_json::json!({"total": 12})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<LogContext>,
    /// Shared with `inner`'s context: whether the brokers refused this client.
    context: LogContext,
    source_system: Option<String>,
    send_timeout: Duration,
    created: Instant,
    /// Shared by clones; a consumer reports them (see `Consumer::report_sends_of`).
    metrics: Arc<ProducerMetrics>,
    /// Told of each acknowledged send (`prosody.message.sent`).
    telemetry: Telemetry,
    /// The `source` of those events: the source system, else the group, else empty.
    source: Arc<str>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("source_system", &self.source_system)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects a producer. With `telemetry_enabled`, it starts a telemetry emitter of its
    /// own (on the current tokio runtime); a client that also consumes shares one instead,
    /// through [`Producer::with_telemetry`].
    ///
    /// # Errors
    ///
    /// When a Kafka client cannot be created, or telemetry is on outside a tokio runtime.
    pub fn new(config: &Config) -> Result<Self> {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            otel::start_or_warn(&runtime);
        }
        let telemetry = if config.telemetry_enabled {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                Error::State("a producer with `telemetry_enabled` must be created inside a tokio runtime, which runs its emitter")
            })?;
            Telemetry::start(config, &runtime)?
        } else {
            Telemetry::disabled()
        };
        Self::with_telemetry(config, telemetry)
    }

    /// Connects a producer that reports each acknowledged send to `telemetry`.
    ///
    /// # Errors
    ///
    /// When a Kafka client cannot be created.
    pub fn with_telemetry(config: &Config, telemetry: Telemetry) -> Result<Self> {
        let context = LogContext::default();
        let inner = producer_config(config)?
            .create_with_context(context.clone())
            .map_err(|source| Error::Client {
                role: "producer",
                source,
            })?;
        let source_system = config
            .source_system
            .clone()
            .or_else(|| config.group_id.clone());
        Ok(Self {
            inner,
            context,
            source: source_system.as_deref().unwrap_or_default().into(),
            source_system,
            send_timeout: config.send_timeout,
            created: Instant::now(),
            metrics: Arc::default(),
            telemetry,
        })
    }

    /// Sends `payload` as JSON to `topic` under `key`.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &serde_json::Value,
    ) -> Result<Delivery> {
        self.send_in_trace(topic, key, payload, None).await
    }

    /// [`Producer::send`] continuing `trace` (what the message being handled carries on, say,
    /// [`Context::continuation`](crate::Context::continuation)): the record's `traceparent` is
    /// a child of its parent, and its baggage goes in the record's `baggage` header. Without a
    /// parent it starts a new trace. A bare `Option<TraceParent>` carries no baggage.
    pub async fn send_in_trace(
        &self,
        topic: &str,
        key: &str,
        payload: &serde_json::Value,
        trace: impl Into<Continuation>,
    ) -> Result<Delivery> {
        let trace = trace.into();
        let bytes = serde_json::to_vec(payload).map_err(|source| Error::Encode {
            topic: topic.to_string(),
            source,
        })?;
        self.send_bytes_in_trace(topic, key, &bytes, &[], trace)
            .await
    }

    /// Sends an already encoded payload with extra headers.
    pub async fn send_bytes(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        extra_headers: &[(&str, &[u8])],
    ) -> Result<Delivery> {
        self.send_bytes_in_trace(topic, key, payload, extra_headers, Continuation::default())
            .await
    }

    /// [`Producer::send_bytes`] continuing `trace`, as [`Producer::send_in_trace`] does.
    pub async fn send_bytes_in_trace(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        extra_headers: &[(&str, &[u8])],
        trace: impl Into<Continuation>,
    ) -> Result<Delivery> {
        self.send_record(topic, key, Some(payload), extra_headers, trace.into())
            .await
    }

    /// Sends an excise record for `key` to `topic`: the key with no payload, a tombstone that
    /// a compacted topic keeps until it removes the key's earlier records. Consumers whose
    /// handler takes excise records receive it as an excise message
    /// ([`Message::is_excise`](crate::Message::is_excise)); others skip it. It continues
    /// `trace` and carries the same headers as [`Producer::send_in_trace`].
    ///
    /// # Errors
    ///
    /// As [`Producer::send_in_trace`], apart from encoding.
    pub async fn excise_in_trace(
        &self,
        topic: &str,
        key: &str,
        trace: impl Into<Continuation>,
    ) -> Result<Delivery> {
        self.send_record(topic, key, None, &[], trace.into()).await
    }

    /// Writes `payload` under `key` to `partition` of `topic` with exactly `headers`: an
    /// answer to a request, which goes where its requester reads. No trace, telemetry or
    /// `source-system`: an answer is the engine's own traffic, not an application send.
    pub(crate) async fn send_to_partition(
        &self,
        topic: &str,
        partition: i32,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<()> {
        let owned = with_headers(OwnedHeaders::new_with_capacity(headers.len()), headers);
        let record = FutureRecord::<str, [u8]>::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload)
            .headers(owned);
        let deadline = self.send_timeout + STARTUP_ALLOWANCE.saturating_sub(self.created.elapsed());
        match tokio::time::timeout(deadline, self.inner.send(record, Timeout::After(deadline)))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((source, _))) => Err(Error::Send {
                topic: topic.to_string(),
                source,
            }),
            Err(_) => Err(self.timed_out(topic, deadline)),
        }
    }

    /// A record with or without a payload (a tombstone), in a `send` span while spans are
    /// exported; the failure topic writes a failed excise record back as a tombstone.
    pub(crate) async fn send_record(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        extra_headers: &[(&str, &[u8])],
        trace: Continuation,
    ) -> Result<Delivery> {
        let Continuation { parent, baggage } = trace;
        let baggage = baggage.as_ref();
        if otel::enabled() {
            // Boxed, so a send made while nothing is exported carries no span.
            return Box::pin(self.send_in_span(
                topic,
                key,
                payload,
                extra_headers,
                parent,
                baggage,
            ))
            .await;
        }
        let trace = parent.map_or_else(TraceParent::new_root, |parent| parent.child());
        self.send_measured(topic, key, payload, extra_headers, trace, baggage)
            .await
    }

    /// A send inside its `send` span, whose id the record's `traceparent` names.
    async fn send_in_span(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        extra_headers: &[(&str, &[u8])],
        parent: Option<TraceParent>,
        baggage: Option<&Baggage>,
    ) -> Result<Delivery> {
        let span = otel::send(topic, key, parent);
        let trace = otel::context_of(&span)
            .unwrap_or_else(|| parent.map_or_else(TraceParent::new_root, |parent| parent.child()));
        let result = self
            .send_measured(topic, key, payload, extra_headers, trace, baggage)
            .instrument(span.clone())
            .await;
        otel::record_outcome(&span, if result.is_ok() { "success" } else { "failed" });
        result
    }

    async fn send_measured(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        extra_headers: &[(&str, &[u8])],
        trace: TraceParent,
        baggage: Option<&Baggage>,
    ) -> Result<Delivery> {
        let started = Instant::now();
        let result = self
            .send_unmeasured(topic, key, payload, extra_headers, trace, baggage)
            .await;
        self.metrics
            .record(topic, result.is_ok(), started.elapsed());
        result
    }

    /// What this producer's sends count into.
    pub(crate) fn metrics(&self) -> &Arc<ProducerMetrics> {
        &self.metrics
    }

    async fn send_unmeasured(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        extra_headers: &[(&str, &[u8])],
        parent: TraceParent,
        baggage: Option<&Baggage>,
    ) -> Result<Delivery> {
        let traceparent = parent.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(3 + extra_headers.len());
        if let Some(source) = &self.source_system {
            headers = headers.insert(Header {
                key: SOURCE_SYSTEM_HEADER,
                value: Some(source.as_str()),
            });
        }
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(traceparent.as_str()),
        });
        if let Some(baggage) = baggage {
            headers = headers.insert(Header {
                key: "baggage",
                value: Some(baggage.as_str()),
            });
        }
        headers = with_headers(headers, extra_headers);
        let mut record = FutureRecord::<str, [u8]>::to(topic)
            .key(key)
            .headers(headers);
        // Left unset for an excise record: Kafka then stores a null value, a tombstone.
        record.payload = payload;
        let deadline = self.send_timeout + STARTUP_ALLOWANCE.saturating_sub(self.created.elapsed());
        let send = self.inner.send(record, Timeout::After(deadline));
        match tokio::time::timeout(deadline, send).await {
            Ok(Ok(delivery)) => {
                self.context.answered();
                self.telemetry.emit(|| {
                    let mut event = Event::new(
                        EventType::MessageSent,
                        topic.into(),
                        delivery.partition,
                        key.into(),
                        Arc::clone(&self.source),
                    );
                    event.offset = Some(delivery.offset);
                    event.trace = Trace::Parent(parent);
                    event
                });
                Ok(Delivery {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _))) => {
                Err(self.timed_out(topic, deadline))
            }
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _))) => {
                Err(Error::TooLarge {
                    topic: topic.to_string(),
                    key_bytes: key.len(),
                    payload_bytes: payload.map_or(0, <[u8]>::len),
                })
            }
            Ok(Err((source, _))) => Err(Error::Send {
                topic: topic.to_string(),
                source,
            }),
            Err(_) => Err(self.timed_out(topic, deadline)),
        }
    }

    /// A send that ran out of time: [`Error::Refused`] when the brokers refused this client
    /// meanwhile (a wrong password, an untrusted certificate), so the error names the settings
    /// at fault rather than a slow broker; else [`Error::SendTimeout`].
    fn timed_out(&self, topic: &str, waited: Duration) -> Error {
        match self.context.refusal() {
            Some(reason) => Error::Refused {
                topic: topic.to_string(),
                waited,
                reason,
            },
            None => Error::SendTimeout {
                topic: topic.to_string(),
                timeout: self.send_timeout,
                waited,
            },
        }
    }
}

/// `headers` with each of `extra` added, in order.
fn with_headers(mut headers: OwnedHeaders, extra: &[(&str, &[u8])]) -> OwnedHeaders {
    for (name, value) in extra {
        headers = headers.insert(Header {
            key: name,
            value: Some(*value),
        });
    }
    headers
}
