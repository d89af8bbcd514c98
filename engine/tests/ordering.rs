//! Per-key order holds while different keys run concurrently, even within one partition.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::Consumer;
use support::{config, create_topic, produce, unique, Broker, Recorder};

const KEYS: usize = 24;
const MESSAGES: usize = 600;

async fn keys_stay_in_order(broker: Broker, partitions: i32) {
    let topic = unique("ordering");
    create_topic(broker, &topic, partitions).await;
    let sent = produce(broker, &topic, KEYS, MESSAGES).await;
    let recorder = Recorder::with_delay(5);
    let group = unique("ordering-group");
    let consumer = Consumer::subscribe(
        &config(
            broker,
            &[("group_id", &group), ("subscribed_topics", &topic)],
        ),
        Arc::new(recorder.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    recorder.wait_for(MESSAGES, Duration::from_secs(90)).await;
    consumer.shutdown().await;

    let seen = recorder.by_key();
    assert_eq!(seen.len(), KEYS);
    for (key, count) in sent {
        let expected: Vec<i64> = (0..count).collect();
        assert_eq!(seen[&key], expected, "key {key} out of order");
    }
    assert!(
        recorder.peak_running() > 1,
        "keys never ran concurrently (peak {})",
        recorder.peak_running()
    );
}

on_both_brokers! {
    one_partition_keeps_key_order_with_concurrency => keys_stay_in_order(1);
    four_partitions_keep_key_order => keys_stay_in_order(4);
}
