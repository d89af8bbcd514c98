use std::sync::Arc;

use serde_json::json;

use super::LifecycleLayer;
use crate::error::HandlerError;
use crate::handler::Handler;
use crate::middleware::test_support::{context, message_with, ok, timer, transient, Scripted};
use crate::middleware::Layer;
use crate::telemetry::testing::Recording;

#[tokio::test]
async fn an_attempt_is_dispatched_then_succeeds_or_fails() {
    let (telemetry, sink) = Recording::start(64);
    let inner = Scripted::new([transient("boom"), ok()]);
    let layer = LifecycleLayer::new(telemetry.clone(), "billing").layer(inner);
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let msg = || message_with("key-1", json!({}), &[("traceparent", traceparent)]);

    let (first, _) = context("key-1");
    assert_eq!(
        layer.on_message(first.clone(), msg()).await,
        Err(HandlerError::transient("boom"))
    );
    assert_eq!(layer.on_message(first.with_attempt(2), msg()).await, Ok(()));
    telemetry.flush().await;

    assert_eq!(
        sink.types(),
        [
            "prosody.message.dispatched",
            "prosody.message.failed",
            "prosody.message.dispatched",
            "prosody.message.succeeded",
        ]
    );
    let events = sink.events();
    let (key, failed) = &events[1];
    assert_eq!(key, "key-1", "the Kafka key is the event's key");
    for (field, value) in [
        ("topic", json!("orders")),
        ("partition", json!(3)),
        ("offset", json!(7)),
        ("key", json!("key-1")),
        ("source", json!("billing")),
        ("demandType", json!("normal")),
        ("errorCategory", json!("transient")),
        ("exception", json!("boom")),
        ("traceParent", json!(traceparent)),
    ] {
        assert_eq!(failed[field], value, "{field} in {failed}");
    }
    assert_eq!(
        events[2].1["demandType"], "failure",
        "the retry is failure demand"
    );
    assert!(events[3].1.get("errorCategory").is_none());
}

#[tokio::test]
async fn a_timer_attempt_reports_its_time() {
    let (telemetry, sink) = Recording::start(64);
    let layer = LifecycleLayer::new(telemetry.clone(), "billing").layer(Scripted::new([ok()]));
    assert_eq!(
        layer.on_timer(context("key-1").0, timer("key-1")).await,
        Ok(())
    );
    telemetry.flush().await;

    assert_eq!(
        sink.types(),
        ["prosody.timer.dispatched", "prosody.timer.succeeded"]
    );
    let dispatched = &sink.events()[0].1;
    assert_eq!(dispatched["scheduledTime"], "1970-01-01T00:00:00Z");
    assert_eq!(dispatched["key"], "key-1");
    assert!(dispatched.get("offset").is_none());
}

#[tokio::test]
async fn the_result_passes_through_untouched() {
    let (telemetry, _sink) = Recording::start(1);
    let inner = Scripted::new([transient("boom")]);
    let layer = LifecycleLayer::new(telemetry, "billing").layer(Arc::clone(&inner));
    let result = layer
        .on_message(context("k").0, message_with("k", json!({}), &[]))
        .await;
    assert_eq!(result, Err(HandlerError::transient("boom")));
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test]
async fn the_prefetch_hint_passes_through() {
    let (telemetry, _sink) = Recording::start(1);
    let inner = Scripted::new([]);
    let layer = LifecycleLayer::new(telemetry, "billing").layer(Arc::clone(&inner));
    layer.prefetch(&message_with("k", json!({}), &[]));
    assert_eq!(inner.prefetched(), [7]);
}
