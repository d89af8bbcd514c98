//! `Consumer::fire_timers`, mock mode's test hook: a timer an hour ahead fires on demand,
//! through the handler with its own time, once; other keys' timers wait; a real cluster
//! refuses the hook.

mod support;
mod timer_support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{eventually, Broker};
use timer_support::{now_secs, send, setup, Script};

/// Far below the hour the timer is scheduled ahead, so only the hook can have fired it.
const QUICK: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_a_keys_timers_now_with_their_own_time() {
    let script = Script::named("one");
    let (topic, _, producer, consumer) = setup(Broker::Mock, 2, &script, &[]).await;
    let later = now_secs() + 3_600;
    send(
        &producer,
        &topic,
        "k",
        json!({"schedule": [later, later + 60]}),
    )
    .await;
    send(&producer, &topic, "other", json!({"schedule": [later]})).await;
    assert!(eventually(QUICK, || script.listed_count() == 2).await);

    let started = Instant::now();
    let fired = consumer.fire_timers("k").await.expect("mock mode fires");
    assert_eq!(fired, 2);
    assert!(eventually(QUICK, || script.fired_count() == 2).await);
    assert!(started.elapsed() < QUICK);
    let mut times: Vec<u32> = script.fired().iter().map(|f| f.time).collect();
    times.sort_unstable();
    assert_eq!(times, [later, later + 60]);
    assert!(script.fired().iter().all(|f| f.key == "k"));

    // Fired once: their rows are gone (the key's next message lists nothing), and the other
    // key's timer still waits for its time.
    send(&producer, &topic, "k", json!({})).await;
    assert!(eventually(QUICK, || script.listed_count() == 3).await);
    assert_eq!(script.listed("k").last(), Some(&vec![]));
    assert_eq!(script.fired_count(), 2);
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cluster_refuses_to_fire_early() {
    let script = Script::named("one");
    let (_, _, _, consumer) = setup(Broker::Real, 1, &script, &[]).await;
    let error = consumer
        .fire_timers("k")
        .await
        .expect_err("not in mock mode");
    assert!(error.to_string().contains("mock"), "{error}");
    consumer.shutdown().await;
}
