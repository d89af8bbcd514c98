//! Rebalances mid-stream: a second consumer joins the group while messages flow, takes some
//! partitions, then leaves. Nothing is lost, each consumer sees every key in order, and the
//! first consumer ends up owning everything again.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use support::{consume, create_topic, eventually, produce_paced, unique, Broker, Recorder};

const PARTITIONS: i32 = 4;
const KEYS: usize = 40;
const MESSAGES: usize = 4_000;
const PER_BATCH: usize = 25;
// 160 batches 100 ms apart: the stream lasts about sixteen seconds plus send time, so it is
// still flowing when a hand-over completes. Under the `consumer` group protocol each step of a
// hand-over waits for the members' next heartbeat, 5 s apart by default.
const PAUSE: Duration = Duration::from_millis(100);

/// Panics unless each key's sequence numbers never go backwards in `recorder`'s own record.
/// Redelivery after a rebalance may repeat a number, but a consumer must never see an older
/// message for a key after a newer one.
fn assert_key_order(name: &str, recorder: &Recorder) {
    for (key, seqs) in recorder.by_key() {
        if let Some(pair) = seqs.windows(2).find(|pair| pair[1] < pair[0]) {
            panic!(
                "{name}: key {key} went backwards ({} after {})",
                pair[1], pair[0]
            );
        }
    }
}

async fn join_and_leave_mid_stream(broker: Broker) {
    let topic = unique("rebalance");
    create_topic(broker, &topic, PARTITIONS).await;
    let group = unique("rebalance-group");
    let options = [("commit_interval", "100ms"), ("shutdown_timeout", "5s")];

    let a_seen = Recorder::with_delay(2);
    let a = consume(broker, &group, &topic, &options, Arc::new(a_seen.clone()));
    assert!(
        eventually(Duration::from_secs(30), || a.assigned_partitions()
            == PARTITIONS as usize)
        .await,
        "A never got the whole topic"
    );

    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            produce_paced(broker, &topic, KEYS, MESSAGES, PER_BATCH, PAUSE).await
        })
    };
    a_seen.wait_for(200, Duration::from_secs(30)).await;

    let b_seen = Recorder::with_delay(2);
    let b = consume(broker, &group, &topic, &options, Arc::new(b_seen.clone()));
    let mut b_peak = 0;
    assert!(
        eventually(Duration::from_secs(30), || {
            b_peak = b_peak.max(b.assigned_partitions());
            b_peak > 0 && a.assigned_partitions() < PARTITIONS as usize
        })
        .await,
        "B never got a partition (B had {b_peak}, A has {})",
        a.assigned_partitions()
    );
    let b_partitions = b.assigned_partitions();
    // Let B do some real work before it leaves.
    b_seen.wait_for(100, Duration::from_secs(30)).await;
    let a_before_leave = a_seen.handled();
    b.shutdown().await;
    let handled_by_b = b_seen.handled();

    assert!(
        eventually(Duration::from_secs(30), || a.assigned_partitions()
            == PARTITIONS as usize)
        .await,
        "A did not take back every partition after B left (A has {})",
        a.assigned_partitions()
    );
    let sent = producer.await.expect("producer task");
    let everything: HashSet<(String, i64)> = sent
        .iter()
        .flat_map(|(key, count)| (0..*count).map(move |seq| (key.clone(), seq)))
        .collect();
    assert_eq!(everything.len(), MESSAGES);
    let union =
        || -> HashSet<(String, i64)> { a_seen.pairs().into_iter().chain(b_seen.pairs()).collect() };
    let complete = eventually(Duration::from_secs(60), || union().len() == MESSAGES).await;
    let a_partitions_at_end = a.assigned_partitions();
    a.shutdown().await;

    let union = union();
    let missing: Vec<_> = everything.difference(&union).take(10).collect();
    assert!(
        complete && missing.is_empty(),
        "{} of {MESSAGES} messages handled; missing e.g. {missing:?}",
        union.len()
    );
    assert!(union.is_subset(&everything), "handled a message never sent");
    assert_key_order("A", &a_seen);
    assert_key_order("B", &b_seen);
    assert_eq!(a_partitions_at_end, PARTITIONS as usize);
    let total = a_seen.handled() + handled_by_b;
    eprintln!(
        "{broker:?}: B held {b_partitions} partitions and handled {handled_by_b}; A handled {} \
         ({a_before_leave} before B left); {} redelivered",
        a_seen.handled(),
        total - MESSAGES
    );
    // Each consumer sees each message at most once per assignment of its partition; with two
    // hand-overs, no message can have been handled more than three times.
    let mut counts: HashMap<(String, i64), usize> = HashMap::new();
    for pair in a_seen.pairs().into_iter().chain(b_seen.pairs()) {
        *counts.entry(pair).or_default() += 1;
    }
    let worst = counts.values().copied().max().unwrap_or(0);
    assert!(worst <= 3, "a message was handled {worst} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_consumer_joins_and_leaves_mid_stream() {
    join_and_leave_mid_stream(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_consumer_joins_and_leaves_mid_stream() {
    join_and_leave_mid_stream(Broker::Real).await;
}
