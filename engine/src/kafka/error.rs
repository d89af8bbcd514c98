//! librdkafka's error type as the engine's [`Error`](crate::Error) carries it, and how to
//! classify it.
//!
//! [`crate::error`] names Kafka failures through this module, so that only `kafka/` (and the
//! consumer's poll loop) import `rdkafka`. This file imports nothing else from the crate, so
//! `error.rs` depending on it makes no cycle.

pub(crate) use rdkafka::error::KafkaError;
use rdkafka::error::RDKafkaErrorCode;

/// Whether retrying the operation that failed with `error` later may succeed.
pub(crate) fn is_retriable(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(
            C::MessageTimedOut
            | C::QueueFull
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::RequestTimedOut
            | C::NetworkException
            | C::UnknownTopicOrPartition
            | C::OperationTimedOut,
        ) => true,
        Some(_) => false,
        None => matches!(error, KafkaError::Canceled),
    }
}
