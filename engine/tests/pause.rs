//! `Consumer::pause` and `resume` (the `prosody` command's TSTP and CONT), on both brokers: a
//! paused consumer takes nothing new while staying in its group, and takes up where it left
//! off when resumed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{consume, create_topic, eventually, produce, unique, Broker, Recorder, Slow};

async fn a_paused_consumer_takes_nothing_until_resumed(broker: Broker) {
    let topic = unique("pause");
    create_topic(broker, &topic, 2).await;
    let recorder = Recorder::default();
    let handler = Slow {
        inner: recorder.clone(),
        delay: Duration::from_millis(20),
    };
    let options = [("max_uncommitted", "8"), ("max_concurrency", "4")];
    let consumer = consume(
        broker,
        &unique("pause-group"),
        &topic,
        &options,
        Arc::new(handler),
    );
    produce(broker, &topic, 16, 400).await;
    assert!(
        eventually(Duration::from_secs(30), || recorder.handled() >= 20).await,
        "handling started"
    );

    consumer.pause();
    assert!(consumer.is_paused());
    // What was already buffered or running finishes; after that nothing more runs.
    assert!(
        eventually(Duration::from_secs(10), || consumer.in_flight() == 0).await,
        "in-flight work drains while paused"
    );
    let at_pause = recorder.handled();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(recorder.handled(), at_pause, "nothing taken while paused");
    assert!(at_pause < 400, "messages were left to take");
    assert_eq!(consumer.assigned_partitions(), 2, "still in the group");

    consumer.resume();
    assert!(!consumer.is_paused());
    let all = eventually(Duration::from_secs(60), || recorder.handled() >= 400).await;
    consumer.shutdown().await;
    assert!(all, "handled {} of 400 after resuming", recorder.handled());
}

on_both_brokers! {
    paused_then_resumed => a_paused_consumer_takes_nothing_until_resumed();
}
