//! Scenarios about one message: a skipped one's span event (its own output, an event type not
//! allowed, a duplicate), a deferred one's `load` span.

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::{Consumer, Context, Handler, HandlerFuture, Message, Producer};
use serde_json::json;

use super::scenarios::{collector, Sink, LIMIT};
use super::Got;
use crate::support::{config, create_topic, send_successes, unique, Broker, DEFERRING};

/// A message skipped as the consumer's own (loop prevention) gets a span event saying so.
pub async fn filtered_messages_get_a_span_event(broker: Broker) {
    skipped_message_gets_a_span_event(broker, "source-system-loop").await;
}

/// A message whose event type `allowed_events` leaves out gets a span event saying so.
pub async fn event_type_skipped_messages_get_a_span_event(broker: Broker) {
    skipped_message_gets_a_span_event(broker, "event-type").await;
}

/// A message whose `id` was already handled gets a span event saying it was deduplicated.
pub async fn deduplicated_messages_get_a_span_event(broker: Broker) {
    skipped_message_gets_a_span_event(broker, "deduplicated").await;
}

/// Sends what the consumer will skip for `reason` and checks the skipped message's `receive`
/// span carries a `message.filtered` event with that reason.
async fn skipped_message_gets_a_span_event(broker: Broker, reason: &str) {
    let collector = collector();
    let (topic, group) = (unique("otel-skip"), unique("otel-skip-group"));
    if broker == Broker::Real {
        create_topic(broker, &topic, 1).await;
    }
    let looped = reason == "source-system-loop";
    // The consumer skips its own group's records; a duplicate must come from elsewhere.
    let source = if looped {
        group.clone()
    } else {
        unique("otel-elsewhere")
    };
    let producer = Producer::new(&config(
        broker,
        &[("source_system", &source), ("send_timeout", "30s")],
    ))
    .expect("producer");
    let mut options = vec![("group_id", group.as_str()), ("subscribed_topics", &topic)];
    if reason == "event-type" {
        options.push(("allowed_events", "order."));
    }
    let consumer = Consumer::subscribe(
        &config(broker, &options),
        Arc::new(Sink),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    let key = unique("skipped");
    let payload = json!({ "id": unique("event"), "type": "user.created" });
    let copies = if reason == "deduplicated" { 2 } else { 1 };
    for _ in 0..copies {
        producer.send(&topic, &key, &payload).await.expect("send");
    }
    let skipped_offset = (copies - 1).to_string();
    let deadline = tokio::time::Instant::now() + LIMIT;
    let span = loop {
        prosody_engine::otel::flush().await;
        let found = collector.spans().into_iter().find(|s| {
            s.name == "receive"
                && s.attr("messaging.kafka.message.key") == key
                && s.attr("messaging.kafka.offset") == skipped_offset
        });
        if let Some(span) = found {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no receive span for the skipped record"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    consumer.shutdown().await;
    let event = span
        .events
        .iter()
        .find(|(name, _)| name == "message.filtered");
    assert_eq!(
        event
            .and_then(|(_, attributes)| attributes.get("reason"))
            .map(String::as_str),
        Some(reason),
        "{span:#?}"
    );
}

/// Fails the first two attempts at messages whose key starts with "deferred", then succeeds;
/// every other message succeeds, which keeps the failure rate under the deferral threshold.
#[derive(Default)]
struct FailTwice {
    attempts: std::sync::atomic::AtomicUsize,
}

impl Handler for FailTwice {
    fn on_message(&self, _: Context, message: Message) -> HandlerFuture {
        if !message.key().starts_with("deferred") {
            return Box::pin(async { Ok(()) });
        }
        let attempt = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            if attempt < 2 {
                Err(prosody_engine::HandlerError::transient("not yet"))
            } else {
                Ok(())
            }
        })
    }
}

/// A message whose retries run out is deferred (its `receive` says so) and read back later
/// in a `load` span, which continues the record's trace like `receive` does.
pub async fn deferred_messages_get_a_load_span(broker: Broker) {
    let collector = collector();
    let (topic, group) = (unique("otel-defer"), unique("otel-defer-group"));
    if broker == Broker::Real {
        create_topic(broker, &topic, 1).await;
    }
    let producer = Producer::new(&config(broker, &[("send_timeout", "30s")])).expect("producer");
    let consumer_config = config(
        broker,
        &[
            &[
                ("group_id", group.as_str()),
                ("subscribed_topics", topic.as_str()),
            ],
            DEFERRING,
        ]
        .concat(),
    );
    let consumer = Consumer::subscribe(
        &consumer_config,
        Arc::new(FailTwice::default()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    send_successes(&producer, &topic).await;
    let key = unique("deferred");
    producer.send(&topic, &key, &json!({})).await.expect("send");
    let deadline = tokio::time::Instant::now() + LIMIT;
    let (sent, received, loaded) = loop {
        prosody_engine::otel::flush().await;
        let spans: Vec<Got> = collector
            .spans()
            .into_iter()
            .filter(|span| span.attr("messaging.kafka.message.key") == key)
            .collect();
        let find = |name: &str| spans.iter().find(|s| s.name == name).cloned();
        if let (Some(sent), Some(received), Some(loaded)) =
            (find("send"), find("receive"), find("load"))
        {
            break (sent, received, loaded);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no load span arrived; got {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    consumer.shutdown().await;
    assert_eq!(received.attr("outcome"), "deferred");
    assert_eq!(
        received.attr("attempt"),
        "2",
        "the retry layer's last attempt"
    );
    assert!(
        received.repeated.is_empty(),
        "each attribute once: {received:#?}"
    );
    assert_eq!(loaded.attr("attempt"), "1");
    assert_eq!(loaded.attr("outcome"), "success");
    assert_eq!(loaded.trace, sent.trace);
    assert_eq!(
        loaded.parent, sent.id,
        "the reloaded record's traceparent is its parent"
    );
    assert_eq!(
        loaded.attr("messaging.kafka.offset"),
        received.attr("messaging.kafka.offset")
    );
}
