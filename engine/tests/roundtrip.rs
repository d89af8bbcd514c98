//! A message produced is consumed, on the mock cluster and on a real broker.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::Consumer;
use support::{config, create_topic, produce, unique, Broker, Recorder};

async fn round_trip(broker: Broker) {
    let topic = unique("roundtrip");
    create_topic(broker, &topic, 2).await;
    let sent = produce(broker, &topic, 3, 30).await;
    let recorder = Recorder::default();
    let group = unique("roundtrip-group");
    let consumer_config = config(
        broker,
        &[("group_id", &group), ("subscribed_topics", &topic)],
    );
    let consumer = Consumer::subscribe(
        &consumer_config,
        Arc::new(recorder.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    recorder.wait_for(30, Duration::from_secs(60)).await;
    let seen = recorder.by_key();
    for (key, count) in sent {
        let expected: Vec<i64> = (0..count).collect();
        assert_eq!(seen.get(&key), Some(&expected), "messages for {key}");
    }
    assert_eq!(consumer.assigned_partitions(), 2);
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_subscribe_creates_a_missing_topic() {
    let topic = unique("subscribe-first");
    let recorder = Recorder::default();
    let group = unique("subscribe-first-group");
    let consumer = Consumer::subscribe(
        &config(
            Broker::Mock,
            &[("group_id", &group), ("subscribed_topics", &topic)],
        ),
        Arc::new(recorder.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while consumer.assigned_partitions() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        consumer.assigned_partitions(),
        prosody_engine::MOCK_PARTITIONS as usize
    );
    produce(Broker::Mock, &topic, 2, 4).await;
    recorder.wait_for(4, Duration::from_secs(20)).await;
    consumer.shutdown().await;
}

on_both_brokers! {
    produced_messages_are_consumed => round_trip();
}

/// The idempotent producer needs about half a second to start; a send made at once must not
/// spend its `send_timeout` on that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_right_after_start_up_gets_the_start_up_allowance() {
    let producer =
        prosody_engine::Producer::new(&config(Broker::Mock, &[("send_timeout", "200ms")]))
            .expect("producer");
    producer
        .send(
            &unique("early-send"),
            "k",
            &serde_json::json!({"early": true}),
        )
        .await
        .expect("the first send waits out the producer's start-up");
}
