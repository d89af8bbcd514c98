//! A Cassandra outage under timers (issue 6), on real Kafka and the real Cassandra reached
//! through a TCP proxy the test cuts and restores: scheduling fails as a transient error, the
//! message is retried (not committed, not dropped), and once Cassandra is back the timer is
//! stored and fires. Once with in-place retries only, once with deferral on (the deferral store
//! is behind the same proxy, so parking the message waits for Cassandra too).
//!
//! The deferred variant was once turned off because its retry seemed to hang in `schedule` for
//! 40 s after the proxy came back. It did not hang: the deferred retry ran after the timer's due
//! time, so the timer was already firing when the handler listed its timers, and `scheduled`
//! leaves a firing timer out by design. The check below accepts that case.

mod support;
mod timer_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prosody_engine::Consumer;
use serde_json::json;
use support::proxy::Proxy;
use support::{
    cassandra_nodes, committed, config, create_topic, eventually, test_producer, unique, Broker,
};
use timer_support::{now_secs, Script};

const LIMIT: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_during_an_outage_is_retried_until_cassandra_is_back() {
    outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_during_an_outage_is_deferred_until_cassandra_is_back() {
    outage(true).await;
}

async fn outage(defer: bool) {
    let proxy = Proxy::start(&cassandra_nodes()).await;
    let topic = unique("timer-outage");
    let group = format!("{topic}-group");
    create_topic(Broker::Real, &topic, 1).await;
    let address = proxy.address();
    let consumer_config = config(
        Broker::Real,
        &[
            ("group_id", &group),
            ("subscribed_topics", &topic),
            ("cassandra_nodes", &address),
            ("commit_interval", "50ms"),
            ("retry_base", "100ms"),
            ("max_retry_delay", "500ms"),
            ("defer_enabled", if defer { "true" } else { "false" }),
            ("defer_base", "200ms"),
            ("defer_max_delay", "1s"),
        ],
    );
    let script = Script::named("one");
    let consumer = Consumer::subscribe(
        &consumer_config,
        Arc::new(script.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    let producer = test_producer(Broker::Real);
    let committed_now = || committed(Broker::Real, &group, &topic, 1)[0];

    // Healthy: a timer far ahead is stored through the proxy.
    let later = now_secs() + 3_600;
    producer
        .send(&topic, "warm", &json!({"schedule": [later]}))
        .await
        .expect("sent");
    assert!(
        eventually(LIMIT, || script.listed("warm") == [vec![later]]).await,
        "errors: {:?}",
        script.errors()
    );
    assert!(
        eventually(LIMIT, || committed_now() == 1).await,
        "offset 0 committed"
    );

    // Outage: scheduling fails, naming Cassandra, and is retried; nothing commits.
    proxy.cut();
    let due = now_secs() + 4;
    producer
        .send(&topic, "k", &json!({"schedule": [due]}))
        .await
        .expect("sent");
    assert!(
        eventually(LIMIT, || script.errors().len() >= if defer { 4 } else { 3 }).await,
        "scheduling kept failing and was retried"
    );
    let error = script.errors()[0].clone();
    assert!(
        error.contains("could not schedule a timer for key `k`") && error.contains("cassandra"),
        "{error}"
    );
    assert_eq!(committed_now(), 1, "not committed while cassandra is down");
    assert!(script.listed("k").is_empty());
    assert_eq!(script.fired_count(), 0);

    if defer {
        // Every in-place attempt failed, so the message is being parked, but the deferral store
        // is unreachable too: still nothing commits.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(committed_now(), 1, "not committed before it is parked");
    }

    // Recovery: the retried message stores the timer, commits, and the timer fires. A retry
    // that comes after `due` finds the timer already firing, which `scheduled` leaves out.
    proxy.restore();
    let stored = || {
        let listed = script.listed("k");
        listed == [vec![due]]
            || (listed == [Vec::<u32>::new()] && script.fired().iter().any(|f| f.time == due))
    };
    assert!(
        eventually(LIMIT, stored).await,
        "scheduled once cassandra was back: {:?}",
        script.listed("k")
    );
    assert!(
        eventually(LIMIT, || committed_now() == 2).await,
        "offset 1 committed"
    );
    assert!(
        eventually(LIMIT, || script
            .fired()
            .iter()
            .any(|f| f.key == "k" && f.time == due))
        .await,
        "the timer fired after the outage"
    );
    let deferred = consumer.stats().deferred.load(Ordering::Relaxed);
    consumer.shutdown().await;
    assert_eq!(script.fired_early(), 0, "no timer fired before its time");
    assert_eq!(deferred, u64::from(defer), "deferred only with deferral on");
}
