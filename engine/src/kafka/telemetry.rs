//! The telemetry topic's producer: a [`Sink`] for the telemetry emitter, and
//! [`Telemetry::start`], which builds one from a [`Config`].
//!
//! It is a producer of its own, never the client's: batched (`linger.ms` 100, lz4), `acks=1`
//! and not idempotent, since a lost or repeated telemetry event matters less than the latency
//! an idempotent, fully acknowledged producer would add. A send only enqueues into librdkafka
//! (bounded by `queue.buffering.max.messages`); a full queue, or a record the broker refuses,
//! is counted as dropped.
//!
//! The topic is not created here: the mock cluster creates it on the first write, and so does
//! a real broker with `auto.create.topics.enable` (Kafka's default). Where a cluster disables
//! that, create `telemetry_topic` beforehand, or its events expire undelivered and count as
//! dropped.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client_config::telemetry_config;
use crate::kafka::log::{forward, forward_error};
use crate::metrics::TelemetryMetrics;
use crate::telemetry::{Sink, Telemetry, CAPACITY};

/// Counts what the broker refused as dropped.
struct Deliveries(Arc<TelemetryMetrics>);

/// librdkafka's lines go to `tracing`, like every other client's (see `kafka/log.rs`).
impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        forward_error(&error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.dropped(1);
        }
    }
}

struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
}

impl Sink for KafkaSink {
    fn send(&self, key: &str, payload: &[u8]) -> bool {
        let record = BaseRecord::to(&self.topic).key(key).payload(payload);
        self.producer.send(record).is_ok()
    }

    fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

impl Telemetry {
    /// Starts the emitter for `config` on `runtime`: writing to `telemetry_topic` when
    /// `telemetry_enabled` is true, otherwise a [`Telemetry::disabled`] handle. A client
    /// starts one and shares it between its consumer and producer.
    ///
    /// # Errors
    ///
    /// When the telemetry producer cannot be created (no brokers configured, say).
    ///
    /// ```
    /// let config = prosody_engine::Config::from_options_with_env([("mock", "true")], |_| None)?;
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let telemetry = prosody_engine::Telemetry::start(&config, runtime.handle())?;
    /// assert!(!telemetry.is_enabled(), "off in mock mode unless set");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(config: &Config, runtime: &tokio::runtime::Handle) -> Result<Self> {
        if !config.telemetry_enabled {
            return Ok(Self::disabled());
        }
        let metrics = Arc::new(TelemetryMetrics::default());
        let producer = telemetry_config(config)?
            .create_with_context(Deliveries(Arc::clone(&metrics)))
            .map_err(|source| Error::Client {
                role: "telemetry producer",
                source,
            })?;
        let sink = Arc::new(KafkaSink {
            producer,
            topic: config.telemetry_topic.clone(),
        });
        let _guard = runtime.enter();
        Ok(Self::spawn(sink, CAPACITY, hostname(), metrics))
    }
}

/// This machine's name, for the `hostname` field; read once per emitter.
fn hostname() -> Arc<str> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
        .into()
}
