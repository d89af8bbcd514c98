//! At-least-once delivery: nothing is lost across restarts, redelivery is limited to what was
//! not committed, and undecodable records are skipped without blocking their partition.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prosody_engine::Producer;
use support::{committed, config, consume, create_topic, produce, unique, Broker, Recorder};

const MESSAGES: usize = 2_000;
const MAX_UNCOMMITTED: usize = 64;

fn pairs(recorder: &Recorder) -> Vec<(String, i64)> {
    let mut all = Vec::new();
    for (key, seqs) in recorder.by_key() {
        all.extend(seqs.into_iter().map(|seq| (key.clone(), seq)));
    }
    all
}

fn union_size(first: &Recorder, second: &Recorder) -> usize {
    pairs(first)
        .into_iter()
        .chain(pairs(second))
        .collect::<HashSet<_>>()
        .len()
}

async fn restart_loses_nothing(broker: Broker, drop_instead_of_shutdown: bool) {
    let topic = unique("restart");
    create_topic(broker, &topic, 4).await;
    produce(broker, &topic, 50, MESSAGES).await;
    let group = unique("restart-group");
    let options = [("max_uncommitted", "64"), ("commit_interval", "50ms")];

    let first = Recorder::with_delay(2);
    let consumer = consume(broker, &group, &topic, &options, Arc::new(first.clone()));
    first.wait_for(MESSAGES / 2, Duration::from_secs(60)).await;
    if drop_instead_of_shutdown {
        drop(consumer);
        // A dropped consumer commits and leaves in the background. A member joining before it
        // has left starts a rebalance that its final commit can lose (issue 14), so wait for
        // its commits to settle: what this test bounds is redelivery after a clean drop.
        let mut last = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = committed(broker, &group, &topic, 4);
            if now == last || std::time::Instant::now() > deadline {
                break;
            }
            last = now;
        }
    } else {
        consumer.shutdown().await;
    }
    let handled_first = first.handled();
    assert!(
        handled_first < MESSAGES,
        "the first consumer should stop mid-stream"
    );

    let second = Recorder::default();
    let consumer = consume(broker, &group, &topic, &options, Arc::new(second.clone()));
    // A dropped consumer finishes its in-flight work in the background, so wait on the union.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while union_size(&first, &second) < MESSAGES && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumer.shutdown().await;

    let mut union: HashSet<(String, i64)> = pairs(&first).into_iter().collect();
    let before = union.len();
    let mut redelivered = 0;
    for pair in pairs(&second) {
        if !union.insert(pair) {
            redelivered += 1;
        }
    }
    assert_eq!(
        union.len(),
        MESSAGES,
        "every message handled at least once (first saw {before})"
    );
    assert!(
        redelivered <= MAX_UNCOMMITTED,
        "redelivered {redelivered} messages; at most {MAX_UNCOMMITTED} can have been uncommitted"
    );
    let total: i64 = committed(broker, &group, &topic, 4)
        .iter()
        .map(|o| (*o).max(0))
        .sum();
    assert_eq!(
        total, MESSAGES as i64,
        "committed offsets cover every message"
    );
}

async fn bad_records_are_skipped_and_committed(broker: Broker) {
    let topic = unique("bad-records");
    create_topic(broker, &topic, 1).await;
    let producer = Producer::new(&config(
        broker,
        &[("source_system", "test"), ("send_timeout", "30s")],
    ))
    .expect("producer");
    producer
        .send_bytes(&topic, "k", b"{not json", &[])
        .await
        .expect("send");
    producer
        .send_bytes(&topic, "k", b"", &[])
        .await
        .expect("send");
    producer
        .send(&topic, "k", &serde_json::json!({"seq": 0}))
        .await
        .expect("send");
    producer
        .send_bytes(&topic, "k", b"[1,", &[])
        .await
        .expect("send");
    producer
        .send(&topic, "k", &serde_json::json!({"seq": 1}))
        .await
        .expect("send");

    let group = unique("bad-records-group");
    let recorder = Recorder::default();
    let consumer = consume(broker, &group, &topic, &[], Arc::new(recorder.clone()));
    recorder.wait_for(2, Duration::from_secs(30)).await;
    let stats = consumer.stats();
    assert_eq!(stats.skipped.load(std::sync::atomic::Ordering::SeqCst), 3);
    consumer.shutdown().await;
    assert_eq!(recorder.by_key()["k"], vec![0, 1]);
    assert_eq!(committed(broker, &group, &topic, 1), vec![5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_after_unsubscribe_resumes_where_it_left_off() {
    let broker = Broker::Mock;
    let topic = unique("resubscribe");
    create_topic(broker, &topic, 2).await;
    let group = unique("resubscribe-group");
    let recorder = Recorder::default();
    produce(broker, &topic, 4, 20).await;
    let consumer = consume(broker, &group, &topic, &[], Arc::new(recorder.clone()));
    recorder.wait_for(20, Duration::from_secs(30)).await;
    consumer.shutdown().await;
    produce(broker, &topic, 4, 20).await;
    let consumer = consume(broker, &group, &topic, &[], Arc::new(recorder.clone()));
    recorder.wait_for(40, Duration::from_secs(30)).await;
    consumer.shutdown().await;
    assert_eq!(
        recorder.handled(),
        40,
        "the second subscription starts from the committed offsets"
    );
}

on_both_brokers! {
    graceful_restart_loses_nothing => restart_loses_nothing(false);
    dropped_consumer_loses_nothing => restart_loses_nothing(true);
    bad_records_are_skipped_and_committed => bad_records_are_skipped_and_committed();
}
