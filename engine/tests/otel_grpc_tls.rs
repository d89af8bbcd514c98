//! The span tree of `otel.rs`, exported over OTLP/gRPC to an `https://` tonic receiver on
//! loopback whose certificate a CA made for this run signed, trusted through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` (a test binary of its own: the exporter and its endpoint
//! are process-wide).

mod otel_support;
mod support;

use otel_support::scenarios::{
    block_on, child_messages_and_follows_from_timers, follows_from_messages_and_child_timers,
    Protocol,
};
use support::Broker;

#[test]
fn grpc_over_tls_child_messages_and_follows_from_timers() {
    block_on(
        Protocol::GrpcTls,
        child_messages_and_follows_from_timers(Broker::Mock),
    );
}

#[test]
fn grpc_over_tls_follows_from_messages_and_child_timers() {
    block_on(
        Protocol::GrpcTls,
        follows_from_messages_and_child_timers(Broker::Mock),
    );
}
