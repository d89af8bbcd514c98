//! The engine's spans: their names, attributes and relation to the context they continue.
//!
//! Every function here returns a disabled span (or does nothing) while no exporter runs, after
//! one relaxed load, so the hot paths pay nothing more for tracing they do not use.

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::KeyValue;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::exporter::enabled;
use crate::config::SpanRelation;
use crate::trace::TraceParent;

/// The `tracing` target of every span the OpenTelemetry layer exports.
pub(crate) const SPAN_TARGET: &str = "prosody_engine::otel";

/// The `send` span of a record about to be produced, continuing `parent` (the handler's
/// context) or starting a trace of its own.
pub(crate) fn send(topic: &str, key: &str, parent: Option<TraceParent>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(target: SPAN_TARGET, parent: None, "send",
        otel.kind = "producer", messaging.system = "kafka",
        messaging.destination.name = topic, messaging.kafka.message.key = key,
        outcome = Empty);
    join(&span, parent, SpanRelation::Child);
    span
}

/// Ties `span` to `upstream`: as its parent, or as a link from a new root (`follows_from`).
pub(crate) fn join(span: &Span, upstream: Option<TraceParent>, relation: SpanRelation) {
    let Some(upstream) = upstream else { return };
    let remote = remote_context(upstream);
    match relation {
        SpanRelation::Child => {
            let parent = opentelemetry::Context::new().with_remote_span_context(remote);
            // Fails only for a disabled span, which has nothing to tie.
            let _ = span.set_parent(parent);
        }
        SpanRelation::FollowsFrom => span.add_link_with_attributes(
            remote,
            vec![KeyValue::new("opentracing.ref_type", "follows_from")],
        ),
    }
}

/// The context `span` gives its children, as a `traceparent`; `None` for a disabled span.
pub(crate) fn context_of(span: &Span) -> Option<TraceParent> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    TraceParent::from_ids(
        u128::from_be_bytes(span_context.trace_id().to_bytes()),
        u64::from_be_bytes(span_context.span_id().to_bytes()),
        span_context.is_sampled(),
    )
}

/// Notes on the current span (a message's `receive`) that the message was skipped, and why:
/// `source-system-loop`, `event-type` or `deduplicated`.
pub(crate) fn note_skipped(reason: &'static str) {
    if enabled() {
        Span::current().add_event("message.filtered", vec![KeyValue::new("reason", reason)]);
    }
}

/// Records on `span` how many attempts its event took (the last one's number), if any ran.
pub(crate) fn record_attempt(span: &Span, attempt: u32) {
    if attempt > 0 && !span.is_disabled() {
        span.record("attempt", attempt);
    }
}

/// Records how the event of `span` ended.
pub(crate) fn record_outcome(span: &Span, outcome: &'static str) {
    if !span.is_disabled() {
        span.record("outcome", outcome);
    }
}

fn remote_context(upstream: TraceParent) -> SpanContext {
    let flags = if upstream.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        TraceId::from_bytes(upstream.trace_id().to_be_bytes()),
        SpanId::from_bytes(upstream.span_id().to_be_bytes()),
        flags,
        true,
        TraceState::default(),
    )
}
