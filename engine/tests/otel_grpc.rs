//! The span tree of `otel.rs`, exported over OTLP/gRPC to tonic's generated trace service on
//! loopback (a test binary of its own: the exporter and its protocol are process-wide).

mod otel_support;
mod support;

use otel_support::scenarios::{
    block_on, child_messages_and_follows_from_timers, follows_from_messages_and_child_timers,
    Protocol,
};
use support::Broker;

#[test]
fn grpc_child_messages_and_follows_from_timers() {
    block_on(
        Protocol::Grpc,
        child_messages_and_follows_from_timers(Broker::Mock),
    );
}

#[test]
fn grpc_follows_from_messages_and_child_timers() {
    block_on(
        Protocol::Grpc,
        follows_from_messages_and_child_timers(Broker::Mock),
    );
}
