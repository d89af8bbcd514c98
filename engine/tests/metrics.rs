//! `/metrics` over HTTP, on the mock cluster and on real Kafka: events counted by topic, kind
//! and outcome (handled, failed, retried, filtered, deduplicated), handler durations, timers,
//! producer sends, gauges and lag, and the text checked by the Prometheus project's parser
//! under load and after a rebalance.

mod metrics_support;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use metrics_support::{check_with_parser, free_port, python, scrape, until, value};
use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Timer, TimerTime};
use support::{consume, create_topic, produce, test_producer, unique, Broker, Recorder};

/// Fails a message's first attempt when its payload says so (or its first two calls, which
/// with `max_retries: 1` defers it), schedules a timer when asked, and counts what succeeded.
#[derive(Clone, Default)]
struct Scripted {
    handled: Arc<AtomicUsize>,
    timers: Arc<AtomicUsize>,
    defer_calls: Arc<AtomicUsize>,
}

impl Handler for Scripted {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let payload = message.payload();
        let defer = payload["defer"] == true && self.defer_calls.fetch_add(1, Ordering::SeqCst) < 2;
        let fail = defer || (payload["fail_once"] == true && context.attempt() == 1);
        let timer = payload["timer"] == true;
        let handled = Arc::clone(&self.handled);
        Box::pin(async move {
            if fail {
                return Err(HandlerError::transient("the first attempt fails"));
            }
            if timer {
                let at = TimerTime::now().saturating_add(1);
                context
                    .schedule(at)
                    .await
                    .map_err(|e| HandlerError::transient(e.to_string()))?;
            }
            handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn on_timer(&self, _: Context, _: Timer) -> HandlerFuture {
        let timers = Arc::clone(&self.timers);
        Box::pin(async move {
            timers.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

async fn outcomes_are_counted_by_topic_kind_and_outcome(broker: Broker) {
    let (topic, group, port, port_text) = fixture(broker, "metrics-outcomes", 2).await;
    let handler = Scripted::default();
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[
            ("probe_host", "127.0.0.1"),
            ("probe_port", &port_text),
            ("allowed_events", "order."),
            ("retry_base", "10ms"),
            ("max_retries", "1"),
            ("defer_base", "100ms"),
        ],
        Arc::new(handler.clone()),
    );
    let producer = test_producer(broker);
    consumer.report_sends_of(&producer);
    let order = |id: usize| serde_json::json!({"type": "order.created", "id": id});
    let mut sends: Vec<(String, serde_json::Value)> =
        (0..10).map(|id| (format!("key-{id}"), order(id))).collect();
    sends.push(("key-0".into(), order(0))); // the same event again: deduplicated
    sends.push(("key-1".into(), order(1)));
    sends.push(("key-x".into(), serde_json::json!({"type": "audit.read"}))); // filtered
    for id in 100..103 {
        let mut payload = order(id);
        payload["fail_once"] = true.into();
        sends.push((format!("key-{id}"), payload));
    }
    let mut timer = order(200);
    timer["timer"] = true.into();
    sends.push(("key-timer".into(), timer));
    let mut deferred = order(300);
    deferred["defer"] = true.into();
    sends.push(("key-defer".into(), deferred));
    for (key, payload) in &sends {
        producer.send(&topic, key, payload).await.expect("sent");
    }

    let series = |outcome: &str, kind: &str| {
        [
            format!("group=\"{group}\""),
            format!("topic=\"{topic}\""),
            format!("kind=\"{kind}\""),
            format!("outcome=\"{outcome}\""),
        ]
    };
    let count = |samples: &_, outcome: &str, kind: &str| {
        let labels = series(outcome, kind);
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        value(samples, "prosody_events_total", &labels)
    };
    let samples = until(port, "every outcome counted", |s| {
        count(s, "handled", "message") == 15.0
            && count(s, "handled", "timer") == 1.0
            && count(s, "deduplicated", "message") == 2.0
    })
    .await;
    assert_eq!(handler.handled.load(Ordering::SeqCst), 15);
    // Three failed once; the deferred one failed twice in place, then its retry succeeded.
    assert_eq!(count(&samples, "failed", "message"), 5.0);
    assert_eq!(count(&samples, "retried", "message"), 5.0);
    assert_eq!(count(&samples, "deferred", "message"), 1.0);
    assert_eq!(count(&samples, "filtered", "message"), 1.0);
    let group_label = format!("group=\"{group}\"");
    let message = [group_label.as_str(), "kind=\"message\""];
    assert_eq!(
        value(&samples, "prosody_handler_duration_seconds_count", &message),
        20.0,
        "15 successful attempts and 5 failed ones are timed"
    );
    assert_eq!(
        value(
            &samples,
            "prosody_timer_fire_lag_seconds_count",
            &[&group_label]
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "prosody_producer_sends_total", &[&group_label]),
        sends.len() as f64
    );
    assert_eq!(
        value(&samples, "prosody_producer_errors_total", &[&group_label]),
        0.0
    );
    assert_eq!(
        value(&samples, "prosody_partitions_assigned", &[&group_label]),
        2.0
    );
    // Lag comes from librdkafka's statistics once the offsets are committed.
    until(port, "lag 0 on both partitions", |s| {
        let lags: Vec<f64> = s
            .iter()
            .filter(|(k, _)| k.starts_with("prosody_partition_lag{") && k.contains(&group_label))
            .map(|(_, v)| *v)
            .collect();
        lags == [0.0, 0.0]
    })
    .await;
    let (content_type, body) = scrape(port).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!body.contains("key-"), "no label carries a key:\n{body}");
    if let Some(python) = python() {
        check_with_parser(&python, &body);
    }
    consumer.shutdown().await;
}

/// Lag climbs while a consumer is held back, and the text parses throughout; after a second
/// consumer joins, each partition is reported once, by its new owner.
async fn scrapes_parse_under_load_and_after_a_rebalance(broker: Broker) {
    let partitions = 4;
    let (topic, group, port, port_text) = fixture(broker, "metrics-load", partitions).await;
    let options = [
        ("probe_host", "127.0.0.1"),
        ("probe_port", port_text.as_str()),
    ];
    let first_seen = Recorder::with_delay(10);
    let first = consume(
        broker,
        &group,
        &topic,
        &options,
        Arc::new(first_seen.clone()),
    );
    let group_label = format!("group=\"{group}\"");
    until(port, "four partitions assigned", |s| {
        value(s, "prosody_partitions_assigned", &[&group_label]) == 4.0
    })
    .await;
    let python = python();
    let total = 3_000;
    let load = {
        let topic = topic.clone();
        tokio::spawn(async move { produce(broker, &topic, 64, total).await })
    };
    // Scrape while the consumer works through the load.
    let mut checked = 0;
    while first_seen.handled() < total / 2 {
        let (_, body) = scrape(port).await;
        if let Some(python) = &python {
            check_with_parser(python, &body);
            checked += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    load.await.unwrap();

    let second_seen = Recorder::default();
    let second = consume(
        broker,
        &group,
        &topic,
        &options,
        Arc::new(second_seen.clone()),
    );
    let seen = || first_seen.handled() + second_seen.handled();
    assert!(
        support::eventually(metrics_support::LIMIT, || seen() >= total).await,
        "only {} of {total} handled",
        seen()
    );
    let samples = until(port, "the rebalanced partitions, all handled", |s| {
        let handled = [group_label.as_str(), "outcome=\"handled\""];
        value(s, "prosody_partitions_assigned", &[&group_label]) == 4.0
            && value(s, "prosody_events_total", &handled) >= total as f64
    })
    .await;
    let reported: Vec<&String> = samples
        .keys()
        .filter(|k| k.starts_with("prosody_timers_pending{") && k.contains(&group_label))
        .collect();
    assert_eq!(
        reported.len(),
        4,
        "each partition once, whichever consumer owns it: {reported:?}"
    );
    let (_, body) = scrape(port).await;
    if let Some(python) = &python {
        check_with_parser(python, &body);
        eprintln!("{checked} scrapes under load passed the Prometheus parser");
    }
    first.shutdown().await;
    second.shutdown().await;
}

/// Holds every message until the test releases them.
#[derive(Clone)]
struct Held(Arc<tokio::sync::Semaphore>);

impl Handler for Held {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        let release = Arc::clone(&self.0);
        Box::pin(async move {
            let _ = release.acquire().await;
            Ok(())
        })
    }
}

/// A new group's lag is the whole backlog while its handler holds it back, and falls to zero
/// once the offsets commit.
async fn lag_counts_the_backlog_held_back_and_then_falls_to_zero(broker: Broker) {
    let (topic, group, port, port_text) = fixture(broker, "metrics-lag", 1).await;
    let held = Held(Arc::new(tokio::sync::Semaphore::new(0)));
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[
            ("probe_host", "127.0.0.1"),
            ("probe_port", &port_text),
            ("timeout", "1m"),
        ],
        Arc::new(held.clone()),
    );
    let lag =
        format!("prosody_partition_lag{{group=\"{group}\",topic=\"{topic}\",partition=\"0\"}}");
    produce(broker, &topic, 1, 10).await;
    until(port, "lag 10", |s| s.get(&lag) == Some(&10.0)).await;
    held.0.add_permits(1_000);
    until(port, "lag 0", |s| s.get(&lag) == Some(&0.0)).await;
    consumer.shutdown().await;
}

on_both_brokers! {
    outcomes => outcomes_are_counted_by_topic_kind_and_outcome();
    lag => lag_counts_the_backlog_held_back_and_then_falls_to_zero();
    load_and_rebalance => scrapes_parse_under_load_and_after_a_rebalance();
}

/// A fresh topic of `partitions` partitions named after `name`, a group, and a free probe port
/// (as a number and as option text).
async fn fixture(broker: Broker, name: &str, partitions: i32) -> (String, String, u16, String) {
    let topic = unique(name);
    create_topic(broker, &topic, partitions).await;
    let port = free_port();
    (
        topic,
        unique(&format!("{name}-group")),
        port,
        port.to_string(),
    )
}
