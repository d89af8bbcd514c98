//! Everything that touches librdkafka apart from the consumer's poll loop: client settings,
//! Kafka's limits, its error type, the producer, the telemetry topic's producer, topic administration and the shared mock
//! cluster (and reading back what reached it, for tests).
//!
//! The rest of the engine sees only the engine's own types. The consumer's poll loop
//! (`consumer/poll/`) owns the consumer handle, so it imports `rdkafka` too, but it takes its
//! client settings from here.

mod admin;
mod client_config;
mod error;
mod group_protocol;
mod limits;
pub(crate) mod loader;
mod log;
mod mock;
mod mock_log;
mod producer;
mod replies;
mod telemetry;

pub use admin::{Admin, DEFAULT_ADMIN_TIMEOUT};
pub(crate) use client_config::consumer_config;
pub(crate) use error::{is_retriable, KafkaError};
pub(crate) use group_protocol::joins_with_consumer_protocol;
pub use limits::MAX_RECORD_BYTES;
pub(crate) use log::{
    forward as forward_log, forward_error, is_access_failure, is_connection_failure,
};
pub(crate) use mock::ensure_mock_topics;
pub use mock::{mock_bootstrap_servers, MOCK_PARTITIONS};
pub use mock_log::{mock_topic_records, MockLogMark, MockRecord};
pub use producer::{Delivery, Producer, SOURCE_SYSTEM_HEADER};
pub(crate) use replies::ReplyConsumer;
