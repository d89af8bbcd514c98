//! Failure modes, filters and deduplication through a real consumer, on the mock cluster and
//! on real Kafka (issue 5).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Producer};
use support::{committed, config, consume, create_topic, unique, Broker, Recorder};

/// Fails according to the payload's `fail` field ("transient" N times, or "permanent"), and
/// counts attempts per payload `n`.
#[derive(Clone, Default)]
struct Scripted {
    attempts: Arc<Mutex<HashMap<i64, usize>>>,
    done: Arc<AtomicUsize>,
}

impl Scripted {
    fn attempts(&self, n: i64) -> usize {
        self.attempts.lock().unwrap().get(&n).copied().unwrap_or(0)
    }
}

impl Handler for Scripted {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let n = message.payload()["n"].as_i64().unwrap_or(-1);
            let attempt = {
                let mut attempts = this.attempts.lock().unwrap();
                let entry = attempts.entry(n).or_insert(0);
                *entry += 1;
                *entry
            };
            let outcome = match message.payload()["fail"].as_str() {
                Some("permanent") => Err(HandlerError::permanent("bad input")),
                Some("transient") => {
                    let times = message.payload()["times"].as_u64().unwrap_or(u64::MAX) as usize;
                    if attempt <= times {
                        Err(HandlerError::transient("try again"))
                    } else {
                        Ok(())
                    }
                }
                _ => Ok(()),
            };
            this.done.fetch_add(1, Ordering::SeqCst);
            outcome
        })
    }
}

async fn send(broker: Broker, topic: &str, key: &str, payload: serde_json::Value, source: &str) {
    let producer = Producer::new(&config(
        broker,
        &[("source_system", source), ("send_timeout", "30s")],
    ))
    .expect("producer");
    producer.send(topic, key, &payload).await.expect("send");
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pipeline_retries_without_blocking_other_keys(broker: Broker) {
    let topic = unique("pipeline");
    create_topic(broker, &topic, 1).await;
    let handler = Scripted::default();
    let group = unique("pipeline-group");
    let options = [
        ("retry_base", "10ms"),
        ("max_retry_delay", "50ms"),
        ("commit_interval", "50ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(handler.clone()));
    send(
        broker,
        &topic,
        "stuck",
        serde_json::json!({"n": 0, "fail": "transient", "times": 3}),
        "t",
    )
    .await;
    send(broker, &topic, "other", serde_json::json!({"n": 1}), "t").await;
    send(
        broker,
        &topic,
        "bad",
        serde_json::json!({"n": 2, "fail": "permanent"}),
        "t",
    )
    .await;
    wait_until(Duration::from_secs(30), || {
        handler.attempts(1) == 1 && handler.attempts(2) == 1
    })
    .await;
    wait_until(Duration::from_secs(30), || handler.attempts(0) == 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.shutdown().await;
    assert_eq!(
        handler.attempts(0),
        4,
        "three transient failures, then success"
    );
    assert_eq!(handler.attempts(2), 1, "permanent failures are not retried");
    assert_eq!(committed(broker, &group, &topic, 1), vec![3]);
}

async fn low_latency_dead_letters_after_max_retries(broker: Broker) {
    let topic = unique("low-latency");
    let failures = format!("{topic}-failures");
    create_topic(broker, &topic, 1).await;
    create_topic(broker, &failures, 1).await;
    let handler = Scripted::default();
    let group = unique("low-latency-group");
    let options = [
        ("mode", "low_latency"),
        ("failure_topic", failures.as_str()),
        ("max_retries", "2"),
        ("retry_base", "5ms"),
        ("commit_interval", "50ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(handler.clone()));
    send(
        broker,
        &topic,
        "a",
        serde_json::json!({"n": 0, "fail": "transient"}),
        "t",
    )
    .await;
    send(
        broker,
        &topic,
        "b",
        serde_json::json!({"n": 1, "fail": "permanent"}),
        "t",
    )
    .await;

    let dead = Recorder::default();
    let reader = consume(
        broker,
        &unique("dead-letters"),
        &failures,
        &[],
        Arc::new(dead.clone()),
    );
    dead.wait_for(2, Duration::from_secs(30)).await;
    consumer.shutdown().await;
    reader.shutdown().await;
    assert_eq!(handler.attempts(0), 3, "one attempt plus max_retries");
    assert_eq!(
        handler.attempts(1),
        1,
        "permanent errors go to the failure topic at once"
    );
    assert_eq!(committed(broker, &group, &topic, 1), vec![2]);
    let keys: Vec<String> = dead.by_key().into_keys().collect();
    assert!(
        keys.contains(&"a".to_string()) && keys.contains(&"b".to_string()),
        "{keys:?}"
    );
}

async fn best_effort_moves_on(broker: Broker) {
    let topic = unique("best-effort");
    create_topic(broker, &topic, 1).await;
    let handler = Scripted::default();
    let group = unique("best-effort-group");
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[("mode", "best_effort"), ("commit_interval", "50ms")],
        Arc::new(handler.clone()),
    );
    send(
        broker,
        &topic,
        "k",
        serde_json::json!({"n": 0, "fail": "transient"}),
        "t",
    )
    .await;
    send(broker, &topic, "k", serde_json::json!({"n": 1}), "t").await;
    wait_until(Duration::from_secs(30), || handler.attempts(1) == 1).await;
    consumer.shutdown().await;
    assert_eq!(handler.attempts(0), 1);
    assert_eq!(committed(broker, &group, &topic, 1), vec![2]);
}

async fn filters_and_dedup_skip_but_commit(broker: Broker) {
    let topic = unique("filters");
    create_topic(broker, &topic, 1).await;
    let handler = Scripted::default();
    let group = unique("filters-group");
    let options = [
        ("allowed_events", "user.,account."),
        ("commit_interval", "50ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(handler.clone()));
    let sends = [
        (
            serde_json::json!({"n": 0, "type": "user.created"}),
            "elsewhere",
        ),
        (
            serde_json::json!({"n": 1, "type": "order.created"}),
            "elsewhere",
        ),
        (serde_json::json!({"n": 2}), "elsewhere"),
        (
            serde_json::json!({"n": 3, "type": "user.updated"}),
            group.as_str(),
        ),
        (
            serde_json::json!({"n": 4, "id": "evt-1", "type": "account.x"}),
            "elsewhere",
        ),
        (
            serde_json::json!({"n": 5, "id": "evt-1", "type": "account.x"}),
            "elsewhere",
        ),
        (
            serde_json::json!({"n": 6, "type": "user.last"}),
            "elsewhere",
        ),
    ];
    for (payload, source) in sends {
        send(broker, &topic, "k", payload, source).await;
    }
    wait_until(Duration::from_secs(30), || handler.attempts(6) == 1).await;
    consumer.shutdown().await;
    let handled: Vec<i64> = (0..7).filter(|n| handler.attempts(*n) > 0).collect();
    assert_eq!(
        handled,
        vec![0, 2, 4, 6],
        "type filter, loop prevention and dedup skip 1, 3 and 5"
    );
    assert_eq!(committed(broker, &group, &topic, 1), vec![7]);
}

on_both_brokers! {
    pipeline_retries_transient_errors_without_blocking_other_keys => pipeline_retries_without_blocking_other_keys();
    low_latency_dead_letters_after_max_retries => low_latency_dead_letters_after_max_retries();
    best_effort_logs_and_moves_on => best_effort_moves_on();
    filters_and_dedup_skip_but_commit => filters_and_dedup_skip_but_commit();
}
