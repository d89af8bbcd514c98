//! The consumer's spans: `receive` for a message, `load` for a deferred message read back,
//! `trigger` for a timer, each tied to the context it continues as `message_spans` or
//! `timer_spans` say (see [`crate::otel`]).

use std::sync::Arc;

use tracing::field::Empty;
use tracing::Span;

use crate::config::SpanRelation;
use crate::handler::Message;
use crate::otel::{enabled, join, SPAN_TARGET};
use crate::trace::TraceParent;

/// One consumer's span settings: its group and how its spans relate to upstream contexts.
#[derive(Debug, Clone)]
pub(crate) struct Spans {
    group: Arc<str>,
    messages: SpanRelation,
    timers: SpanRelation,
}

impl Spans {
    pub(crate) fn new(group: &str, messages: SpanRelation, timers: SpanRelation) -> Self {
        Self {
            group: group.into(),
            messages,
            timers,
        }
    }

    /// The `receive` span of a consumed message, continuing its `traceparent`.
    pub(crate) fn receive(&self, message: &Message) -> Span {
        self.message_span(message, "receive")
    }

    /// The `load` span of a deferred message read back from Kafka to be retried.
    pub(crate) fn load(&self, message: &Message) -> Span {
        self.message_span(message, "load")
    }

    fn message_span(&self, message: &Message, name: &'static str) -> Span {
        if !enabled() {
            return Span::none();
        }
        let event_type = message.payload().get("type").and_then(|kind| kind.as_str());
        // `tracing` wants a literal span name; the two names share every field.
        let span = match name {
            "load" => tracing::info_span!(target: SPAN_TARGET, parent: None, "load",
                otel.kind = "consumer", messaging.system = "kafka",
                messaging.destination.name = message.topic(),
                messaging.destination.partition.id = message.partition(),
                messaging.kafka.offset = message.offset(),
                messaging.kafka.message.key = message.key(),
                messaging.consumer.group.name = &*self.group,
                event_type, attempt = Empty, outcome = Empty),
            _ => tracing::info_span!(target: SPAN_TARGET, parent: None, "receive",
                otel.kind = "consumer", messaging.system = "kafka",
                messaging.destination.name = message.topic(),
                messaging.destination.partition.id = message.partition(),
                messaging.kafka.offset = message.offset(),
                messaging.kafka.message.key = message.key(),
                messaging.consumer.group.name = &*self.group,
                event_type, attempt = Empty, outcome = Empty),
        };
        join(&span, message.trace_parent(), self.messages);
        span
    }

    /// The `trigger` span of a timer firing for `key`; `scheduled_by` is the context of the
    /// code that scheduled it, when the store kept one.
    pub(crate) fn trigger(
        &self,
        topic: &str,
        partition: i32,
        key: &str,
        time: &dyn std::fmt::Display,
        scheduled_by: Option<TraceParent>,
    ) -> Span {
        if !enabled() {
            return Span::none();
        }
        let span = tracing::info_span!(target: SPAN_TARGET, parent: None, "trigger",
            otel.kind = "consumer", messaging.system = "kafka",
            messaging.destination.name = topic,
            messaging.destination.partition.id = partition,
            messaging.kafka.message.key = key,
            messaging.consumer.group.name = &*self.group,
            timer.time = %time, attempt = Empty, outcome = Empty);
        join(&span, scheduled_by, self.timers);
        span
    }
}
