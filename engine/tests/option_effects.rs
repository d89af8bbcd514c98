//! Quality-of-service options seen from outside a consumer (issue 12), on the mock cluster:
//! each test changes one option and observes what the consumer does differently. The scenarios
//! themselves run on both brokers in `deferral.rs`; what these pin down is that the option
//! reaches the behaviour.

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Producer};
use support::{config, consume, create_topic, eventually, unique, Broker};

/// Records each attempt's start per key; fails every attempt at keys starting with "sick" and
/// sleeps `work` in each one.
#[derive(Clone, Default)]
struct Probe {
    work: Duration,
    attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    handled: Arc<Mutex<HashMap<String, Vec<i64>>>>,
}

impl Probe {
    fn working(work: Duration) -> Self {
        Self {
            work,
            ..Self::default()
        }
    }

    fn attempts(&self, key: &str) -> Vec<Instant> {
        let attempts = self.attempts.lock().unwrap();
        attempts.get(key).cloned().unwrap_or_default()
    }

    fn handled(&self, key: &str) -> Vec<i64> {
        let handled = self.handled.lock().unwrap();
        handled.get(key).cloned().unwrap_or_default()
    }
}

impl Handler for Probe {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = context.key().to_owned();
            let now = Instant::now();
            this.attempts
                .lock()
                .unwrap()
                .entry(key.clone())
                .or_default()
                .push(now);
            tokio::time::sleep(this.work).await;
            if key.starts_with("sick") {
                return Err(HandlerError::transient("downstream unavailable"));
            }
            let n = message.payload()["n"].as_i64().unwrap_or(-1);
            this.handled.lock().unwrap().entry(key).or_default().push(n);
            Ok(())
        })
    }
}

async fn send_all(topic: &str, messages: &[(&str, i64)]) {
    let options = [("source_system", "option-effects"), ("send_timeout", "30s")];
    let producer = Producer::new(&config(Broker::Mock, &options)).expect("producer");
    for (key, n) in messages {
        let payload = serde_json::json!({ "n": n });
        producer.send(topic, key, &payload).await.expect("send");
    }
}

/// Healthy messages first, so the failure rate stays under the gate, then one failing key.
async fn one_sick_key_among_healthy_ones(topic: &str) {
    let mut messages: Vec<(String, i64)> = (0..30).map(|n| (format!("well-{n}"), 0)).collect();
    messages.push(("sick".into(), 0));
    let borrowed: Vec<(&str, i64)> = messages.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    send_all(topic, &borrowed).await;
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// Runs one failing key (`max_retries: 0`, so its first failure defers) among healthy ones
/// with `defer_base` and `defer_max_delay` as given, until it has made `attempts` attempts or
/// `limit` passes. Returns whether it got there, how many failures were deferred, and the
/// waits between its attempts.
async fn deferred_retries(
    base: &str,
    max_delay: &str,
    attempts: usize,
    limit: Duration,
) -> (bool, u64, Vec<Duration>) {
    let topic = unique("deferred-retries");
    create_topic(Broker::Mock, &topic, 1).await;
    let probe = Probe::default();
    let options = [
        ("max_retries", "0"),
        ("defer_base", base),
        ("defer_max_delay", max_delay),
    ];
    let consumer = consume(
        Broker::Mock,
        &unique("g"),
        &topic,
        &options,
        Arc::new(probe.clone()),
    );
    one_sick_key_among_healthy_ones(&topic).await;

    let reached = eventually(limit, || probe.attempts("sick").len() >= attempts).await;
    let deferred = consumer.stats().deferred.load(Ordering::Relaxed);
    consumer.shutdown().await;
    (reached, deferred, gaps(&probe.attempts("sick")))
}

/// With `max_retries: 0` the first failure defers; the deferred retry comes `defer_base` later
/// (the default, 1 s, would retry three times as soon).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defer_base_sets_the_wait_before_the_first_deferred_retry() {
    let (retried, deferred, waits) = deferred_retries("3s", "3s", 2, Duration::from_secs(20)).await;
    assert!(retried, "the deferred message came back");
    assert!(
        deferred >= 1,
        "the failure was deferred, not retried in place"
    );
    let first_wait = waits[0];
    assert!(
        first_wait >= Duration::from_millis(2_900),
        "retried after {first_wait:?}, before defer_base"
    );
}

/// Back-off doubles from `defer_base` up to `defer_max_delay`: with both at 500 ms, the waits
/// stay at 500 ms instead of growing to 1 s, 2 s and 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defer_max_delay_caps_the_deferred_back_off() {
    let (enough, _, waits) = deferred_retries("500ms", "500ms", 5, Duration::from_secs(30)).await;
    assert!(enough, "attempts: {}", waits.len() + 1);
    assert!(
        waits.iter().all(|wait| *wait >= Duration::from_millis(450)),
        "every deferred retry waits defer_base: {waits:?}"
    );
    // Uncapped, the three later waits would add up to 1 + 2 + 4 = 7 s.
    let later: Duration = waits[1..4].iter().sum();
    assert!(later < Duration::from_millis(4_500), "capped: {waits:?}");
}

/// Two keys each doing 150 ms runs in a 2 s window at threshold 0.3 are both hot; with
/// `monopolization_enabled: false` neither is held back, so nothing is deferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monopolization_enabled_false_lets_hot_keys_run() {
    let (deferred, probe) = two_hot_keys(&[("monopolization_enabled", "false")]).await;
    assert_eq!(deferred, 0, "nothing deferred without hot-key protection");
    for key in ["hot-a", "hot-b"] {
        assert_eq!(probe.handled(key), (0..8).collect::<Vec<_>>(), "{key}");
    }
}

/// The hot-key tracker remembers `monopolization_cache_size` keys. With room for both keys,
/// both are caught; with room for one, each run evicts the other key's record, so neither
/// accumulates enough to be held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monopolization_cache_size_bounds_the_keys_tracked() {
    let (deferred, _) = two_hot_keys(&[("monopolization_cache_size", "2")]).await;
    assert!(
        deferred > 0,
        "with room for both keys, hot keys are deferred"
    );

    let (deferred, probe) = two_hot_keys(&[("monopolization_cache_size", "1")]).await;
    assert_eq!(
        deferred, 0,
        "with room for one key, neither is ever seen as hot"
    );
    for key in ["hot-a", "hot-b"] {
        assert_eq!(probe.handled(key), (0..8).collect::<Vec<_>>(), "{key}");
    }
}

/// Runs 8 messages each of "hot-a" and "hot-b" (150 ms apiece) through a consumer with the
/// hot-key window at 2 s and threshold 0.3 plus `extra`; returns how many were deferred.
async fn two_hot_keys(extra: &[(&str, &str)]) -> (u64, Probe) {
    let topic = unique("hot-keys");
    create_topic(Broker::Mock, &topic, 1).await;
    let probe = Probe::working(Duration::from_millis(150));
    let mut options = vec![
        ("monopolization_window", "2s"),
        ("monopolization_threshold", "0.3"),
        ("defer_base", "200ms"),
        ("defer_max_delay", "200ms"),
    ];
    options.extend_from_slice(extra);
    let consumer = consume(
        Broker::Mock,
        &unique("g"),
        &topic,
        &options,
        Arc::new(probe.clone()),
    );
    let messages: Vec<(&str, i64)> = (0..8).flat_map(|n| [("hot-a", n), ("hot-b", n)]).collect();
    send_all(&topic, &messages).await;

    let done = eventually(Duration::from_secs(60), || {
        probe.handled("hot-a").len() == 8 && probe.handled("hot-b").len() == 8
    })
    .await;
    let deferred = consumer.stats().deferred.load(Ordering::Relaxed);
    consumer.shutdown().await;
    assert!(
        done,
        "a: {:?}, b: {:?}",
        probe.handled("hot-a"),
        probe.handled("hot-b")
    );
    (deferred, probe)
}
