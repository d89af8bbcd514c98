//! Spans exported over OTLP (http/protobuf) to a real receiver on loopback, read back as a tree
//! (see `otel_support/scenarios.rs`), for both `message_spans` and `timer_spans` settings, on
//! the mock cluster and on real Kafka; and a deferred timer's retry, which keeps the trace and
//! baggage of the code that scheduled it.

mod otel_support;
mod support;

use otel_support::deferred_timer::deferred_timers_keep_their_trace_and_baggage;
use otel_support::scenarios::{
    block_on, child_messages_and_follows_from_timers, follows_from_messages_and_child_timers,
    Protocol,
};
use otel_support::single::{
    deduplicated_messages_get_a_span_event, deferred_messages_get_a_load_span,
    event_type_skipped_messages_get_a_span_event, filtered_messages_get_a_span_event,
};
use support::Broker;

#[test]
fn mock_child_messages_and_follows_from_timers() {
    block_on(
        Protocol::HttpProtobuf,
        child_messages_and_follows_from_timers(Broker::Mock),
    );
}

#[test]
fn mock_follows_from_messages_and_child_timers() {
    block_on(
        Protocol::HttpProtobuf,
        follows_from_messages_and_child_timers(Broker::Mock),
    );
}

#[test]
fn mock_filtered_messages_get_a_span_event() {
    block_on(
        Protocol::HttpProtobuf,
        filtered_messages_get_a_span_event(Broker::Mock),
    );
}

#[test]
fn mock_event_type_skipped_messages_get_a_span_event() {
    block_on(
        Protocol::HttpProtobuf,
        event_type_skipped_messages_get_a_span_event(Broker::Mock),
    );
}

#[test]
fn real_event_type_skipped_messages_get_a_span_event() {
    block_on(
        Protocol::HttpProtobuf,
        event_type_skipped_messages_get_a_span_event(Broker::Real),
    );
}

#[test]
fn mock_deduplicated_messages_get_a_span_event() {
    block_on(
        Protocol::HttpProtobuf,
        deduplicated_messages_get_a_span_event(Broker::Mock),
    );
}

#[test]
fn real_child_messages_and_follows_from_timers() {
    block_on(
        Protocol::HttpProtobuf,
        child_messages_and_follows_from_timers(Broker::Real),
    );
}

#[test]
fn real_follows_from_messages_and_child_timers() {
    block_on(
        Protocol::HttpProtobuf,
        follows_from_messages_and_child_timers(Broker::Real),
    );
}

#[test]
fn mock_deferred_messages_get_a_load_span() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_messages_get_a_load_span(Broker::Mock),
    );
}

#[test]
fn real_deferred_messages_get_a_load_span() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_messages_get_a_load_span(Broker::Real),
    );
}

#[test]
fn mock_deferred_timers_keep_their_trace_and_baggage_as_children() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_timers_keep_their_trace_and_baggage(Broker::Mock, "child"),
    );
}

#[test]
fn mock_deferred_timers_keep_their_trace_and_baggage_with_links() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_timers_keep_their_trace_and_baggage(Broker::Mock, "follows_from"),
    );
}

#[test]
fn real_deferred_timers_keep_their_trace_and_baggage_as_children() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_timers_keep_their_trace_and_baggage(Broker::Real, "child"),
    );
}

#[test]
fn real_deferred_timers_keep_their_trace_and_baggage_with_links() {
    block_on(
        Protocol::HttpProtobuf,
        deferred_timers_keep_their_trace_and_baggage(Broker::Real, "follows_from"),
    );
}
