//! OpenTelemetry spans, exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The engine makes its spans with `tracing` under one target (`prosody_engine::otel`): `receive`
//! (a consumed message, all its attempts), `load` (a deferred message read back), `trigger`
//! (a timer firing) and `send` (a produced record). [`layer`] turns them into OpenTelemetry
//! spans; whoever owns the process's `tracing` subscriber adds it (the Ruby extension does).
//!
//! The exporter starts at most once per process, in the process that builds the first client
//! ([`start`]), and only when the endpoint variable is set; the protocol, service name and
//! resource come from the standard `OTEL_*` variables. Until it has started, the layer's
//! filter turns every span off at its callsite check, so the spans cost one relaxed load each
//! and allocate nothing. Spans are exported in batches by a task on the engine's runtime
//! (a bounded queue: when it is full, spans are dropped and the SDK counts them), and
//! [`flush`] pushes out what is queued when a client closes.
//!
//! A span's parent comes from the record's `traceparent` header (or the timer's stored one):
//! as its parent (`child`), or, with `follows_from`, as a link from a new root span. A handler's
//! sends are children of its `receive` or `trigger` span, and the header they write names
//! their own `send` span, so an exported trace reads produce → receive → send → receive.

mod exporter;
mod https;
mod spans;
mod tls;

pub(crate) use exporter::{enabled, start_or_warn};
pub use exporter::{flush, layer, start};
pub(crate) use spans::{
    context_of, join, note_skipped, record_attempt, record_outcome, send, SPAN_TARGET,
};
