//! # prosody-engine
//!
//! A Kafka event-processing engine: consume JSON events with per-key ordering and cross-key
//! concurrency, commit offsets only after handlers finish, apply backpressure by pausing
//! partitions, and produce idempotently. It knows nothing about Ruby; the `prosody` gem's
//! native extension is one client of it.
//!
//! - [`Config`]: every option, with `PROSODY_*` environment fallback.
//! - [`Producer`]: sends JSON with `source-system`, `traceparent` and `baggage` headers.
//! - [`Consumer`]: runs a [`Handler`] for each [`Message`].
//! - [`Admin`]: creates and deletes topics.
//! - [`Cassandra`]: the shared session used for persistent state.
//! - [`state`]: per-key collections that commit atomically with their event.
//! - [`Telemetry`]: lifecycle events written to `telemetry_topic`, best effort.
//! - [`otel`]: `receive`, `send`, `trigger` and `load` spans, exported over OTLP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! With `mock: true`, every client in the process talks to one in-process mock Kafka cluster
//! (see [`mock_bootstrap_servers`]), so tests need no broker.
//!
//! Delivery is at least once: an offset is committed only once every earlier offset in its
//! partition has been handled.

#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod baggage;
mod cassandra;
pub mod config;
mod consumer;
pub mod defer;
mod error;
mod handler;
mod kafka;
mod metrics;
pub mod middleware;
pub mod otel;
mod probe;
mod process_runtime;
pub mod qos;
mod rate_limit;
pub mod request;
pub mod state;
mod subscribe;
mod telemetry;
mod timers;
mod trace;

pub use baggage::{Baggage, MAX_BYTES as MAX_BAGGAGE_BYTES, MAX_ENTRIES as MAX_BAGGAGE_ENTRIES};
pub use cassandra::{Cassandra, SharedCassandra};
pub use config::{Config, ConfigError, Mode, SpanRelation};
pub use consumer::{Consumer, ConsumerStats};
pub use error::{Error, ErrorClass, HandlerError, Result};
pub use handler::{Context, Handler, HandlerFuture, Message, Reloader, Timer};
pub use kafka::{
    mock_bootstrap_servers, mock_topic_records, Admin, Delivery, MockLogMark, MockRecord, Producer,
    DEFAULT_ADMIN_TIMEOUT, MAX_RECORD_BYTES, MOCK_PARTITIONS, SOURCE_SYSTEM_HEADER,
};
pub use process_runtime::ProcessRuntime;
pub use telemetry::Telemetry;
pub use timers::{
    CassandraTimerStore, MemoryTimerStore, TimerSegment, TimerStore, TimerTime, TimerTimeError,
};
pub use trace::{Continuation, TraceParent};
