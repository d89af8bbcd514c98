//! The span tree of `otel.rs`, exported over http/protobuf to a mutual-TLS receiver on
//! loopback: it admits only a client presenting a certificate the run's CA signed, which the
//! exporter reads from `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
//! `OTEL_EXPORTER_OTLP_CLIENT_KEY` (a test binary of its own: the exporter is process-wide).

mod otel_support;
mod support;

use otel_support::scenarios::{block_on, follows_from_messages_and_child_timers, Protocol};
use support::Broker;

#[test]
fn https_over_mutual_tls_exports_the_tree() {
    block_on(
        Protocol::HttpsProtobufMutual,
        follows_from_messages_and_child_timers(Broker::Mock),
    );
}
