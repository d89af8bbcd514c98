//! The span tree of `otel.rs`, exported over http/protobuf to an `https://` receiver on
//! loopback whose certificate a CA made for this run signed; the exporter trusts that CA
//! through `OTEL_EXPORTER_OTLP_CERTIFICATE` (a test binary of its own: the exporter and its
//! endpoint are process-wide).

mod otel_support;
mod support;

use otel_support::scenarios::{
    block_on, child_messages_and_follows_from_timers, follows_from_messages_and_child_timers,
    Protocol,
};
use support::Broker;

#[test]
fn https_child_messages_and_follows_from_timers() {
    block_on(
        Protocol::HttpsProtobuf,
        child_messages_and_follows_from_timers(Broker::Mock),
    );
}

#[test]
fn https_follows_from_messages_and_child_timers() {
    block_on(
        Protocol::HttpsProtobuf,
        follows_from_messages_and_child_timers(Broker::Mock),
    );
}
