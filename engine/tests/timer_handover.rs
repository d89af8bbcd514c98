//! Timers across consumers: a restart and a rebalance hand every timer to the partition's new
//! owner, which fires each at least once and none early. Each scenario runs on the mock
//! cluster (in-memory store) and on real Kafka (Cassandra store).

mod support;
mod timer_support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use support::{eventually, Broker};
use timer_support::{now_secs, send, setup, start, Script, LIMIT};

/// Distinct (key, time) pairs fired, and whether any fired before its time.
fn summary(script: &Script) -> (usize, usize) {
    let distinct: HashSet<_> = script
        .fired()
        .into_iter()
        .map(|f| (f.key, f.time))
        .collect();
    (distinct.len(), script.fired_early())
}

async fn timers_survive_a_restart(broker: Broker) {
    let script = Script::named("first");
    let (topic, config, producer, first) = setup(broker, 4, &script, &[]).await;
    let base = now_secs() + 5;
    for key in 0..100u32 {
        let times: Vec<u32> = (0..10).map(|i| base + (key + i * 7) % 16).collect();
        let times: HashSet<u32> = times.into_iter().collect();
        let mut times: Vec<u32> = times.into_iter().collect();
        while times.len() < 10 {
            times.push(base + 16 + u32::try_from(times.len()).unwrap());
        }
        send(
            &producer,
            &topic,
            &format!("k{key}"),
            json!({"schedule": times}),
        )
        .await;
    }
    assert!(
        eventually(LIMIT, || script.listed_count() == 100).await,
        "errors: {:?}",
        script.errors()
    );
    // No graceful hand-over: the first consumer just goes away.
    drop(first);
    let second = start(&config, &script.renamed("second"));
    assert!(
        eventually(Duration::from_secs(90), || summary(&script).0 == 1_000).await,
        "distinct timers fired: {}",
        summary(&script).0
    );
    second.shutdown().await;
    assert_eq!(summary(&script), (1_000, 0), "(fired, fired early)");
}

async fn timers_move_with_their_partitions(broker: Broker) {
    let script = Script::named("first");
    let (topic, config, producer, first) = setup(broker, 4, &script, &[]).await;
    let base = now_secs() + 12;
    for key in 0..40 {
        send(
            &producer,
            &topic,
            &format!("k{key}"),
            json!({"schedule": [base, base + 1]}),
        )
        .await;
    }
    assert!(
        eventually(LIMIT, || script.listed_count() == 40).await,
        "errors: {:?}",
        script.errors()
    );
    let second = start(&config, &script.renamed("second"));
    assert!(
        eventually(LIMIT, || first.assigned_partitions() == 2
            && second.assigned_partitions() == 2)
        .await,
        "partitions never split: {} / {}",
        first.assigned_partitions(),
        second.assigned_partitions()
    );
    assert!(
        eventually(LIMIT, || summary(&script).0 == 80).await,
        "fired: {}",
        summary(&script).0
    );
    first.shutdown().await;
    second.shutdown().await;
    let by: HashSet<String> = script.fired().into_iter().map(|f| f.by).collect();
    assert_eq!(
        by,
        HashSet::from(["first".to_string(), "second".to_string()])
    );
    assert_eq!(summary(&script), (80, 0));
}

on_both_brokers! {
    restart => timers_survive_a_restart();
    rebalance => timers_move_with_their_partitions();
}
