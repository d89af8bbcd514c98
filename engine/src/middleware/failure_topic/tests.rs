use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::FailureTopicLayer;
use crate::error::ErrorClass;
use crate::handler::Handler;
use crate::middleware::test_support::{
    context, error_once_cancelled, message, message_with, ok, permanent, terminal, timer,
    transient, FakeSink, Scripted,
};
use crate::middleware::{Backoff, Bounded, Layer, RetryLayer};
use crate::trace::TraceParent;

const BASE: Duration = Duration::from_millis(50);

fn layer(sink: &Arc<FakeSink>) -> FailureTopicLayer {
    let backoff = Backoff::new(BASE, Duration::from_secs(1));
    FailureTopicLayer::new(sink.clone(), "orders.failed", "billing", backoff)
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_written_with_source_headers_and_commits() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([permanent("bad payload")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));
    let payload = json!({"id": "e-1", "total": 3});

    let result = handler
        .on_message(context("k").0, message("k", payload.clone()))
        .await;
    assert_eq!(result, Ok(()));
    let records = sink.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.topic, "orders.failed");
    assert_eq!(record.key, "k");
    assert_eq!(record.payload, Some(serde_json::to_vec(&payload).unwrap()));
    assert_eq!(record.header("prosody-source-topic"), Some("orders"));
    assert_eq!(record.header("prosody-source-partition"), Some("3"));
    assert_eq!(record.header("prosody-source-offset"), Some("7"));
    assert_eq!(
        record.header("prosody-source-timestamp"),
        Some("1700000000123")
    );
    assert_eq!(record.header("prosody-consumer-group"), Some("billing"));
    assert_eq!(
        record.header("prosody-error"),
        Some("permanent handler error: bad payload")
    );
    assert_eq!(inner.call_count(), 1);
}

/// Issue 18: a failed excise record reaches the failure topic as a tombstone again, not as a
/// JSON null, so the failure topic's consumer can tell it apart from a message.
#[tokio::test(start_paused = true)]
async fn a_failed_excise_is_written_as_a_tombstone() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([permanent("cannot forget")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));
    let excise = crate::handler::Message::excise("orders", 3, 8, "k");

    assert_eq!(handler.on_message(context("k").0, excise).await, Ok(()));
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].key.as_str(), &records[0].payload), ("k", &None));
    assert_eq!(records[0].header("prosody-source-offset"), Some("8"));
}

#[tokio::test(start_paused = true)]
async fn the_failure_record_continues_the_messages_trace() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([permanent("bad"), permanent("bad")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let traced = message_with("k", json!({}), &[("traceparent", traceparent)]);
    assert_eq!(handler.on_message(context("k").0, traced).await, Ok(()));
    assert_eq!(
        handler
            .on_message(context("k").0, message("k", json!({})))
            .await,
        Ok(())
    );
    let parents: Vec<_> = sink.records().into_iter().map(|r| r.trace.parent).collect();
    assert_eq!(parents, [TraceParent::parse(traceparent), None]);
}

#[tokio::test(start_paused = true)]
async fn the_failure_record_carries_the_messages_baggage() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([permanent("bad"), permanent("bad")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));
    let with_baggage = message_with("k", json!({}), &[("baggage", "tenant=acme,bad key=1")]);
    assert_eq!(
        handler.on_message(context("k").0, with_baggage).await,
        Ok(())
    );
    assert_eq!(
        handler
            .on_message(context("k").0, message("k", json!({})))
            .await,
        Ok(())
    );
    let baggage: Vec<_> = sink
        .records()
        .into_iter()
        .map(|r| r.trace.baggage.map(|b| b.to_string()))
        .collect();
    assert_eq!(baggage, [Some("tenant=acme".to_owned()), None]);
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_written_after_bounded_retries() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([transient("one"), transient("two"), transient("three")]);
    let retry = RetryLayer::new(Bounded(2), Backoff::new(BASE, BASE)).layer(Arc::clone(&inner));
    let handler = layer(&sink).layer(Arc::new(retry));

    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(inner.call_count(), 3);
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].header("prosody-error"),
        Some("transient handler error: three")
    );
}

#[tokio::test(start_paused = true)]
async fn success_writes_nothing_and_terminal_errors_pass_through() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([ok(), terminal("fatal")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));

    let first = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    let second = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(first, Ok(()));
    assert_eq!(second.unwrap_err().class(), ErrorClass::Terminal);
    assert!(sink.attempts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_retried_with_backoff_until_it_succeeds() {
    let sink = FakeSink::failing(4);
    let inner = Scripted::new([permanent("bad")]);
    let handler = layer(&sink).layer(Arc::clone(&inner));

    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    let attempts = sink.attempts();
    assert_eq!(attempts.len(), 5);
    for (retry, pair) in attempts.windows(2).enumerate() {
        let ceiling = BASE * 2_u32.pow(u32::try_from(retry).unwrap());
        assert!(pair[1] - pair[0] <= ceiling, "write retry {retry}");
    }
    assert_eq!(sink.records().len(), 1);
    assert_eq!(inner.call_count(), 1, "the handler is not run again");
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_a_successful_write_forbids_the_commit() {
    let sink = FakeSink::failing(usize::MAX);
    let hour = Duration::from_secs(3600);
    let settings = FailureTopicLayer::new(sink.clone(), "dlq", "g", Backoff::new(hour, hour));
    let handler = settings.layer(Scripted::new([permanent("bad")]));
    let error = error_once_cancelled(&handler, "k").await;
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(error.message().contains("`dlq`"), "{error}");
    assert_eq!(sink.attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn timer_failures_are_never_written() {
    let sink = FakeSink::failing(0);
    let handler = layer(&sink).layer(Scripted::new([permanent("bad")]));
    let error = handler
        .on_timer(context("k").0, timer("k"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert!(sink.attempts().is_empty());
}
