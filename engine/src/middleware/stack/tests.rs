use std::sync::Arc;

use serde_json::json;

use super::build;
use crate::config::Config;
use crate::error::{Error, ErrorClass, HandlerError};
use crate::middleware::test_support::{
    context, message, message_with, permanent, transient, FakeSink, Scripted, Step,
};
use crate::middleware::FailureSink;

fn config(options: &[(&str, &str)]) -> Config {
    let base = [
        ("mock", "true"),
        ("group_id", "billing"),
        ("retry_base", "10ms"),
        ("max_retry_delay", "1s"),
        ("timeout", "5s"),
    ];
    Config::from_options_with_env(base.iter().chain(options).copied(), |_| None).unwrap()
}

fn low_latency() -> Config {
    config(&[
        ("mode", "low_latency"),
        ("failure_topic", "orders.failed"),
        ("max_retries", "2"),
    ])
}

#[tokio::test(start_paused = true)]
async fn pipeline_retries_transient_errors_and_gives_up_permanent_ones() {
    let inner = Scripted::new((0..10).map(|_| transient("busy")));
    let handler = build(&config(&[]), inner.clone(), None).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(inner.call_count(), 11);

    let inner = Scripted::new([permanent("bad")]);
    let handler = build(&config(&[]), inner.clone(), None).unwrap();
    let error = handler
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent, "commits");
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried_with_a_fresh_context() {
    let inner = Scripted::new([Step::UntilCancelled(Err(HandlerError::transient(
        "stopped",
    )))]);
    let handler = build(&config(&[]), inner.clone(), None).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    let calls = inner.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].context.should_cancel());
    assert!(!calls[1].context.should_cancel());
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_returns_after_its_timeout_is_not_retried() {
    let inner = Scripted::new([Step::UntilCancelled(Ok(()))]);
    let handler = build(&config(&[]), inner.clone(), None).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn filtered_messages_are_not_recorded_by_dedup() {
    let inner = Scripted::new([]);
    let handler = build(&config(&[]), inner.clone(), None).unwrap();
    let looped = message_with("k", json!({"id": "e"}), &[("source-system", "billing")]);
    assert_eq!(handler.on_message(context("k").0, looped).await, Ok(()));
    assert_eq!(inner.call_count(), 0);

    for _ in 0..2 {
        let fresh = message("k", json!({"id": "e"}));
        handler.on_message(context("k").0, fresh).await.unwrap();
    }
    assert_eq!(inner.call_count(), 1, "handled once, then deduplicated");
}

#[tokio::test(start_paused = true)]
async fn allowed_events_apply_in_every_mode() {
    let dlq = FakeSink::failing(0);
    let modes = [
        config(&[]),
        low_latency(),
        config(&[("mode", "best_effort")]),
    ];
    for base in modes {
        let config = Config {
            allowed_events: vec!["order.".into()],
            ..base
        };
        let inner = Scripted::new([]);
        let sink: Arc<dyn FailureSink> = dlq.clone();
        let handler = build(&config, inner.clone(), Some(sink)).unwrap();
        for event_type in ["order.paid", "user.created"] {
            let msg = message("k", json!({"type": event_type}));
            handler.on_message(context("k").0, msg).await.unwrap();
        }
        assert_eq!(inner.call_count(), 1, "{}", config.mode);
    }
}

#[tokio::test(start_paused = true)]
async fn cache_size_zero_disables_dedup() {
    let inner = Scripted::new([]);
    let handler = build(
        &config(&[("idempotence_cache_size", "0")]),
        inner.clone(),
        None,
    )
    .unwrap();
    for _ in 0..2 {
        let msg = message("k", json!({"id": "e"}));
        handler.on_message(context("k").0, msg).await.unwrap();
    }
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn low_latency_writes_to_the_failure_topic_after_max_retries() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new((0..5).map(|_| transient("busy")));
    let handler = build(&low_latency(), inner.clone(), Some(sink.clone())).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({"id": "e"})))
        .await;

    assert_eq!(result, Ok(()));
    assert_eq!(
        inner.call_count(),
        3,
        "one attempt and max_retries = 2 retries"
    );
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].topic, "orders.failed");
    assert_eq!(records[0].header("prosody-consumer-group"), Some("billing"));
}

#[tokio::test(start_paused = true)]
async fn low_latency_sends_permanent_failures_at_once() {
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([permanent("bad")]);
    let handler = build(&low_latency(), inner.clone(), Some(sink.clone())).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(inner.call_count(), 1);
    assert_eq!(sink.records().len(), 1);
}

#[test]
fn low_latency_without_a_sink_is_refused() {
    let Err(error) = build(&low_latency(), Scripted::new([]), None) else {
        panic!("built without a failure sink");
    };
    assert!(matches!(error, Error::State(_)));
    assert!(error.to_string().contains("`failure_topic`"), "{error}");
}

#[test]
fn low_latency_assembled_by_hand_without_a_failure_topic_is_refused() {
    let config = Config {
        failure_topic: None,
        ..low_latency()
    };
    let sink: Arc<dyn FailureSink> = FakeSink::failing(0);
    let Err(error) = build(&config, Scripted::new([]), Some(sink)) else {
        panic!("built without a failure topic");
    };
    assert!(matches!(error, Error::State(_)));
    assert!(error.to_string().contains("`failure_topic`"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn best_effort_logs_and_moves_on_after_one_attempt() {
    let inner = Scripted::new([transient("busy"), permanent("bad")]);
    let handler = build(&config(&[("mode", "best_effort")]), inner.clone(), None).unwrap();
    for _ in 0..2 {
        let result = handler
            .on_message(context("k").0, message("k", json!({})))
            .await;
        assert_eq!(result, Ok(()));
    }
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn without_mock_dedup_reads_cassandra_and_its_failures_are_retried() {
    let config = Config {
        mock: false,
        cassandra_nodes: Vec::new(),
        ..low_latency()
    };
    let sink = FakeSink::failing(0);
    let inner = Scripted::new([]);
    let handler = build(&config, inner.clone(), Some(sink.clone())).unwrap();
    let result = handler
        .on_message(context("k").0, message("k", json!({"id": "e"})))
        .await;

    assert_eq!(result, Ok(()), "given up to the failure topic");
    assert_eq!(inner.call_count(), 0, "never ran without a dedup answer");
    let records = sink.records();
    assert_eq!(records.len(), 1);
    let error = records[0].header("prosody-error").unwrap_or_default();
    assert!(error.contains("cassandra connect failed"), "{error}");
    assert!(error.contains("`cassandra_nodes`"), "{error}");
}

/// The consumer gives the stack a hint for each message it receives (`Handler::prefetch`), so
/// the dedup store can start its read early. Every layer of every mode passes it inward, but
/// the filter keeps it from messages it will skip.
#[test]
fn every_mode_passes_the_prefetch_hint_inward_except_for_filtered_messages() {
    let modes = [
        config(&[]),
        config(&[("defer_enabled", "false")]),
        low_latency(),
        config(&[("mode", "best_effort")]),
    ];
    for config in modes {
        let inner = Scripted::new([]);
        let sink: Arc<dyn FailureSink> = FakeSink::failing(0);
        let handler = build(&config, inner.clone(), Some(sink)).unwrap();
        handler.prefetch(&message("k", json!({"id": "e-1"})));
        handler.prefetch(&message_with(
            "k",
            json!({"id": "e-2"}),
            &[("source-system", "billing")],
        ));
        assert_eq!(inner.prefetched(), [7], "{:?}", config.mode);
    }
}
