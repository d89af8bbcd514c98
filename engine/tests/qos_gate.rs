//! Deferral's edges through a real consumer (issue 12), on the mock cluster and on real Kafka +
//! Cassandra: the failure-rate gate, and deferred offsets that retention deleted.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::retention::{delete_before, watermarks};
use support::timed::{keys, round_robin, send_in_order, send_keyed, Timed};
use support::{committed, consume, create_topic, eventually, logs, test_producer, unique, Broker};

/// While only failures happen the failure rate is 1, at or above `defer_failure_threshold`:
/// failing keys (a new one included) retry in place and nothing is deferred. Healthy traffic
/// then brings the rate over `defer_failure_window` under the threshold, and failures are
/// deferred again.
async fn the_failure_rate_gates_deferral(broker: Broker) {
    let topic = unique("gate");
    create_topic(broker, &topic, 2).await;
    let handler = Timed::new(Duration::from_millis(5), true);
    let options = [
        ("defer_failure_window", "2s"),
        ("defer_failure_threshold", "0.5"),
        ("max_retries", "1"),
        ("retry_base", "10ms"),
        // In place, a failing key checks the gate about every 250 ms (full jitter up to this).
        ("max_retry_delay", "500ms"),
        ("defer_base", "200ms"),
        ("defer_max_delay", "400ms"),
        ("commit_interval", "50ms"),
        ("shutdown_timeout", "2s"),
    ];
    let started = Instant::now();
    let consumer = consume(
        broker,
        &unique("gate-group"),
        &topic,
        &options,
        Arc::new(handler.clone()),
    );
    let deferred = || consumer.stats().deferred.load(Ordering::Relaxed);
    let sick = keys("sick", 4);
    send_keyed(broker, &topic, &round_robin(&sick, 2)).await;
    assert!(
        eventually(Duration::from_secs(30), || handler.attempts_at("sick")
            >= 30)
        .await,
        "failing keys retry in place: {} attempts",
        handler.attempts_at("sick")
    );
    assert_eq!(deferred(), 0, "nothing deferred while the gate is shut");
    send_in_order(broker, &topic, &[("sick-new", 0)]).await;
    assert!(
        eventually(Duration::from_secs(30), || handler.attempts_at("sick-new")
            >= 6)
        .await,
        "a new failing key retries in place too"
    );
    assert_eq!(deferred(), 0, "nothing deferred while the gate is shut");
    let gated_attempts = handler.attempts_at("sick");

    // Healthy traffic, 200 messages every 100 ms, until failures defer again.
    let producer = test_producer(broker);
    let payload = serde_json::json!({ "n": 0 });
    let reopened = Instant::now();
    let mut batches = 0;
    while deferred() == 0 && reopened.elapsed() < Duration::from_secs(60) {
        let batch = keys(&format!("well-{batches}"), 200);
        let sends = batch.iter().map(|key| producer.send(&topic, key, &payload));
        for sent in futures::future::join_all(sends).await {
            sent.expect("send");
        }
        batches += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[{broker:?}] {gated_attempts} failed attempts and none deferred while gated; deferred \
         again {:.2} s after healthy traffic began ({} healthy handled by then)",
        reopened.elapsed().as_secs_f64(),
        handler.handled_at("well"),
    );
    assert!(deferred() > 0, "failures are deferred once the rate falls");

    handler.failing.store(false, Ordering::SeqCst);
    let recovered = eventually(Duration::from_secs(60), || {
        sick.iter().all(|key| handler.handled(key).len() == 2)
            && handler.handled("sick-new").len() == 1
    })
    .await;
    consumer.shutdown().await;
    assert!(
        recovered,
        "the failing keys' messages are handled once they recover"
    );
    for key in &sick {
        assert_eq!(handler.handled(key), [0, 1], "{key} in order, once each");
    }
    eprintln!(
        "[{broker:?}] gate test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

const FAST: [(&str, &str); 7] = [
    ("retry_base", "5ms"),
    ("max_retry_delay", "20ms"),
    ("max_retries", "1"),
    ("defer_base", "200ms"),
    ("defer_max_delay", "400ms"),
    ("commit_interval", "50ms"),
    ("shutdown_timeout", "2s"),
];

/// A key's deferred offsets are deleted (by DeleteRecords on Kafka, by overflowing the mock
/// cluster's retention) while its consumer is down. The next consumer resumes the backlog: the
/// deleted offsets are skipped with a logged reason and never handled, the key's later
/// messages run in order, and the partition commits to its end.
async fn deleted_offsets_are_skipped_with_a_logged_reason(broker: Broker) {
    let skips = logs::watch("skipping a deferred message Kafka no longer has");
    let topic = unique("deleted");
    create_topic(broker, &topic, 1).await;
    let group = unique("deleted-group");
    let started = Instant::now();

    let first = Timed::new(Duration::from_millis(5), true);
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(first.clone()));
    send_in_order(broker, &topic, &[("sick", 0), ("sick", 1), ("well", 0)]).await;
    assert!(
        eventually(Duration::from_secs(30), || {
            consumer.stats().deferred.load(Ordering::Relaxed) == 2
                && committed(broker, &group, &topic, 1) == vec![3]
        })
        .await,
        "two offsets deferred, all three committed"
    );
    consumer.shutdown().await;
    assert!(first.handled("sick").is_empty());

    // Loading a record a consumer once read may hit its loader's cache; a fresh consumer's
    // loader has to go to Kafka.
    delete_before(broker, &topic, 0, 3).await;
    send_in_order(broker, &topic, &[("sick", 2), ("sick", 3), ("well", 1)]).await;
    let (start, end) = watermarks(broker, &topic, 0);
    assert!(start >= 3, "offsets 0 to 2 are gone: log starts at {start}");

    let second = Timed::new(Duration::from_millis(5), false);
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(second.clone()));
    let finished = eventually(Duration::from_secs(60), || {
        second.handled("sick").len() == 2 && committed(broker, &group, &topic, 1) == vec![end]
    })
    .await;
    let undeferred = consumer.stats().undeferred.load(Ordering::Relaxed);
    consumer.shutdown().await;
    let lines = skips.lines_with(&format!("{topic}/0"));
    eprintln!(
        "[{broker:?}] log start {start}, end {end}; {undeferred} offsets left the backlog; \
         logged: {lines:#?}; took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        finished,
        "handled {:?}, committed {:?} of {end}",
        second.handled("sick"),
        committed(broker, &group, &topic, 1)
    );
    assert_eq!(
        second.handled("sick"),
        [2, 3],
        "deleted offsets are not handled"
    );
    assert_eq!(second.handled("well"), [1]);
    assert_eq!(
        lines.len(),
        2,
        "one skip logged per deleted offset: {lines:?}"
    );
    for (line, offset) in lines.iter().zip([0, 1]) {
        assert!(
            line.contains(&format!("offset={offset}")) && line.contains("deleted by retention"),
            "{line}"
        );
    }
}

on_both_brokers! {
    failure_rate_gate => the_failure_rate_gates_deferral();
    deleted_offsets_skipped => deleted_offsets_are_skipped_with_a_logged_reason();
}
