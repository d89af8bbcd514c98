//! The span tree of `otel.rs`, exported over OTLP/gRPC to a mutual-TLS tonic receiver on
//! loopback: it admits only a client presenting a certificate the run's CA signed, which the
//! exporter reads from `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
//! `OTEL_EXPORTER_OTLP_CLIENT_KEY` (a test binary of its own: the exporter is process-wide).
//! That the same receiver turns a client without the certificate away is checked by the
//! connector's own tests (`otel/https/tests.rs`).

mod otel_support;
mod support;

use otel_support::scenarios::{block_on, child_messages_and_follows_from_timers, Protocol};
use support::Broker;

#[test]
fn grpc_over_mutual_tls_exports_the_tree() {
    block_on(
        Protocol::GrpcMutual,
        child_messages_and_follows_from_timers(Broker::Mock),
    );
    let collector = otel_support::scenarios::collector();
    assert_eq!(
        collector.rejected(),
        0,
        "every handshake presented the certificate"
    );
}
