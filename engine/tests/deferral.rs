//! Quality of service through a real consumer (issue 12), on the mock cluster and on real
//! Kafka + Cassandra: failing keys do not starve the rest, and deferred keys keep their order.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Producer};
use support::{committed, config, consume, create_topic, eventually, unique, Broker};

/// Fails every attempt at keys starting with "sick" while `failing` is set; records the
/// payload `n` of each message it handles, per key, in order.
#[derive(Clone, Default)]
struct Flaky {
    failing: Arc<AtomicBool>,
    handled: Arc<Mutex<HashMap<String, Vec<i64>>>>,
    attempts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Flaky {
    fn failing() -> Self {
        let flaky = Self::default();
        flaky.failing.store(true, Ordering::SeqCst);
        flaky
    }

    fn handled(&self, key: &str) -> Vec<i64> {
        self.handled
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn attempts(&self, key: &str) -> usize {
        self.attempts.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.handled.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl Handler for Flaky {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = context.key().to_owned();
            *this
                .attempts
                .lock()
                .unwrap()
                .entry(key.clone())
                .or_default() += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if key.starts_with("sick") && this.failing.load(Ordering::SeqCst) {
                return Err(HandlerError::transient("downstream unavailable"));
            }
            let n = message.payload()["n"].as_i64().unwrap_or(-1);
            this.handled.lock().unwrap().entry(key).or_default().push(n);
            Ok(())
        })
    }
}

async fn send_all(broker: Broker, topic: &str, messages: &[(&str, i64)]) {
    let producer = Producer::new(&config(
        broker,
        &[("source_system", "deferral-test"), ("send_timeout", "30s")],
    ))
    .expect("producer");
    for (key, n) in messages {
        producer
            .send(topic, key, &serde_json::json!({ "n": n }))
            .await
            .expect("send");
    }
}

/// Fast retries, and a gate that any success opens: the gate weighs every attempt, and a key
/// retrying every few milliseconds can pile up enough failures to shut it (at 0.9) before the
/// healthy messages beside it arrive in a later fetch. The gate itself is tested in `qos_gate.rs`.
const FAST: [(&str, &str); 7] = [
    ("defer_failure_threshold", "1.0"),
    ("retry_base", "5ms"),
    ("max_retry_delay", "20ms"),
    ("max_retries", "1"),
    ("defer_base", "200ms"),
    ("defer_max_delay", "400ms"),
    ("commit_interval", "50ms"),
];

/// A key that fails is deferred: the partition commits past it and other keys run; when it
/// recovers, its messages run exactly in order.
async fn a_failing_key_is_deferred_and_recovers_in_order(broker: Broker) {
    let topic = unique("deferral");
    create_topic(broker, &topic, 1).await;
    let group = unique("deferral-group");
    let handler = Flaky::failing();
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(handler.clone()));
    let messages = [
        ("sick", 0),
        ("well", 0),
        ("sick", 1),
        ("well", 1),
        ("sick", 2),
        ("well", 2),
    ];
    send_all(broker, &topic, &messages).await;

    assert!(
        eventually(Duration::from_secs(30), || handler.handled("well").len()
            == 3)
        .await,
        "healthy keys run while another key fails"
    );
    assert!(
        eventually(Duration::from_secs(30), || {
            committed(broker, &group, &topic, 1) == vec![6]
        })
        .await,
        "the partition commits past the deferred key"
    );
    assert!(handler.handled("sick").is_empty());
    let stats = consumer.stats();
    assert_eq!(stats.deferred.load(Ordering::Relaxed), 3);
    assert!(
        eventually(Duration::from_secs(30), || handler.attempts("sick") >= 5).await,
        "the deferred head is retried"
    );

    handler.failing.store(false, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(30), || handler.handled("sick").len()
            == 3)
        .await,
        "the deferred messages run once the key recovers"
    );
    consumer.shutdown().await;
    assert_eq!(handler.handled("sick"), [0, 1, 2]);
    assert_eq!(handler.handled("well"), [0, 1, 2]);
}

/// Sends `messages`, three of key `sick` among four, to a new topic of one partition, where a
/// first consumer defers the three and commits past all four, then stops. Returns the topic
/// and the group.
async fn defer_three_then_stop(
    broker: Broker,
    name: &str,
    messages: &[(&str, i64)],
) -> (String, String) {
    let topic = unique(name);
    create_topic(broker, &topic, 1).await;
    let group = unique(&format!("{name}-group"));
    let first = Flaky::failing();
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(first.clone()));
    send_all(broker, &topic, messages).await;
    assert!(
        eventually(Duration::from_secs(30), || {
            consumer.stats().deferred.load(Ordering::Relaxed) == 3
                && committed(broker, &group, &topic, 1) == vec![4]
        })
        .await,
        "three deferred messages, all committed"
    );
    consumer.shutdown().await;
    assert!(first.handled("sick").is_empty());
    (topic, group)
}

/// A consumer that stops mid-deferral loses nothing: the next one reads the backlog from the
/// store and finishes it, in order.
async fn a_restart_mid_deferral_resumes_the_backlog(broker: Broker) {
    let messages = [("sick", 0), ("sick", 1), ("well", 0), ("sick", 2)];
    let (topic, group) = defer_three_then_stop(broker, "deferral-restart", &messages).await;

    let second = Flaky::default();
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(second.clone()));
    assert!(
        eventually(Duration::from_secs(30), || second.handled("sick").len()
            == 3)
        .await,
        "the next consumer finishes the backlog"
    );
    consumer.shutdown().await;
    assert_eq!(second.handled("sick"), [0, 1, 2]);
    assert!(
        second.handled("well").is_empty(),
        "committed work is not redelivered"
    );
}

/// Without deferral, two keys that always fail and retry in place, with `max_concurrency: 2`,
/// leave the permits to other keys between attempts.
async fn failing_keys_do_not_take_every_permit(broker: Broker) {
    let topic = unique("starvation");
    create_topic(broker, &topic, 2).await;
    let group = unique("starvation-group");
    let handler = Flaky::failing();
    let options = [
        ("max_concurrency", "2"),
        ("defer_enabled", "false"),
        ("retry_base", "50ms"),
        ("max_retry_delay", "200ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(handler.clone()));
    let mut messages = vec![("sick-a", 0), ("sick-b", 0)];
    let keys: Vec<String> = (0..10).map(|n| format!("fresh-{n}")).collect();
    messages.extend(keys.iter().map(|key| (key.as_str(), 0)));
    send_all(broker, &topic, &messages).await;

    let all_fresh = eventually(Duration::from_secs(10), || handler.total() == 10).await;
    consumer.shutdown().await;
    assert!(all_fresh, "fresh keys handled: {}", handler.total());
    assert!(handler.attempts("sick-a") > 1 && handler.attempts("sick-b") > 1);
}

on_both_brokers! {
    deferred_key_recovers_in_order => a_failing_key_is_deferred_and_recovers_in_order();
    restart_mid_deferral => a_restart_mid_deferral_resumes_the_backlog();
    failing_keys_leave_permits => failing_keys_do_not_take_every_permit();
    hot_key_deferred => a_hot_key_is_deferred_and_others_keep_running();
    rebalance_mid_deferral => a_rebalance_mid_deferral_hands_the_backlog_over();
    redelivered_backlog => a_redelivered_backlog_runs_once_in_order();
}

/// The next owner of a partition can start behind the backlog it restores: its last commit
/// trailed the deferrals, as in a handover whose final commit lands late. The messages the
/// backlog already holds run once, in order, not again behind it.
async fn a_redelivered_backlog_runs_once_in_order(broker: Broker) {
    let messages = [("sick", 0), ("well", 0), ("sick", 1), ("sick", 2)];
    let (topic, group) = defer_three_then_stop(broker, "deferral-redelivered", &messages).await;
    support::offsets::rewind(broker, &group, &topic, 0);

    let second = Flaky::default();
    let consumer = consume(broker, &group, &topic, &FAST, Arc::new(second.clone()));
    assert!(
        eventually(Duration::from_secs(30), || {
            second.handled("sick").len() >= 3 && committed(broker, &group, &topic, 1) == vec![4]
        })
        .await,
        "the next consumer finishes the backlog and commits"
    );
    consumer.shutdown().await;
    assert_eq!(second.handled("sick"), [0, 1, 2]);
    assert_eq!(
        second.handled("well"),
        [0],
        "what the lagging commit left out runs again"
    );
}

/// A consumer joining mid-deferral takes some partitions over with their backlogs: every
/// deferred message is handled, each key's in order.
async fn a_rebalance_mid_deferral_hands_the_backlog_over(broker: Broker) {
    let topic = unique("deferral-rebalance");
    create_topic(broker, &topic, 2).await;
    let group = unique("deferral-rebalance-group");
    let first = Flaky::failing();
    let a = consume(broker, &group, &topic, &FAST, Arc::new(first.clone()));
    let keys: Vec<String> = (0..8).map(|n| format!("sick-{n}")).collect();
    let healthy: Vec<String> = (0..40).map(|n| format!("well-{n}")).collect();
    // Healthy traffic first keeps the failure rate under the gate, so failures defer.
    let mut messages: Vec<(&str, i64)> = healthy.iter().map(|key| (key.as_str(), 0)).collect();
    for n in 0..2 {
        messages.extend(keys.iter().map(|key| (key.as_str(), n)));
    }
    send_all(broker, &topic, &messages).await;
    assert!(
        eventually(Duration::from_secs(30), || {
            a.stats().deferred.load(Ordering::Relaxed) == 16
        })
        .await,
        "every message deferred on the first consumer"
    );

    let second = Flaky::default();
    let b = consume(broker, &group, &topic, &FAST, Arc::new(second.clone()));
    assert!(
        eventually(Duration::from_secs(60), || second.total() > 0).await,
        "the second consumer resumes the backlogs of the partitions it took over"
    );
    first.failing.store(false, Ordering::SeqCst);
    let done = || {
        keys.iter().all(|key| {
            let mut seen = first.handled(key);
            seen.extend(second.handled(key));
            seen.sort_unstable();
            seen.dedup();
            seen == [0, 1]
        })
    };
    assert!(
        eventually(Duration::from_secs(60), done).await,
        "every deferred message handled"
    );
    a.shutdown().await;
    b.shutdown().await;
    for key in &keys {
        for seen in [first.handled(key), second.handled(key)] {
            assert!(
                seen.windows(2).all(|pair| pair[0] <= pair[1]),
                "{key} in order: {seen:?}"
            );
        }
    }
}

/// A key whose handlers take most of the monopolization window is held back, and deferred,
/// while the other keys on its partition keep running.
async fn a_hot_key_is_deferred_and_others_keep_running(broker: Broker) {
    let topic = unique("hot-key");
    create_topic(broker, &topic, 1).await;
    let group = unique("hot-key-group");
    let handler = Arc::new(Slow::default());
    let options = [
        ("monopolization_window", "2s"),
        ("monopolization_threshold", "0.3"),
        ("defer_base", "5s"),
        ("commit_interval", "50ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, handler.clone());
    let mut messages: Vec<(&str, i64)> = (0..12).map(|n| ("hot", n)).collect();
    messages.extend((0..5).map(|n| ("cool", n)));
    send_all(broker, &topic, &messages).await;

    assert!(
        eventually(Duration::from_secs(30), || handler.handled("cool").len()
            == 5)
        .await,
        "other keys run while one key is hot"
    );
    assert!(
        eventually(Duration::from_secs(30), || {
            consumer.stats().deferred.load(Ordering::Relaxed) > 0
        })
        .await,
        "the hot key is deferred"
    );
    let hot = handler.handled("hot");
    consumer.shutdown().await;
    assert!(hot.len() < 12, "the hot key was held back: handled {hot:?}");
    assert!(
        hot.windows(2).all(|pair| pair[0] < pair[1]),
        "in order: {hot:?}"
    );
}

/// Every message takes 150 ms; records what it handled per key.
#[derive(Default)]
struct Slow {
    handled: Arc<Mutex<HashMap<String, Vec<i64>>>>,
}

impl Slow {
    fn handled(&self, key: &str) -> Vec<i64> {
        self.handled
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }
}

impl Handler for Slow {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let handled = Arc::clone(&self.handled);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let n = message.payload()["n"].as_i64().unwrap_or(-1);
            let key = context.key().to_owned();
            handled.lock().unwrap().entry(key).or_default().push(n);
            Ok(())
        })
    }
}
