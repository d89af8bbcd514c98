//! Deferred application timers (issue 12), on the mock cluster and on real Kafka + Cassandra:
//! a failing timer is parked in its key's backlog and retried with its original time, the
//! key's later timers (and messages) queue behind it in order, a restart loses nothing, and the
//! context's timer methods see and remove deferred timers.

mod support;
mod timer_deferral_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prosody_engine::{Consumer, Producer};
use serde_json::json;
use support::{consume, create_topic, eventually, test_producer, unique, Broker};
use timer_deferral_support::{now_secs, Op, Seen, Timers};

const LIMIT: Duration = Duration::from_secs(60);

const OPTIONS: [(&str, &str); 6] = [
    ("max_retries", "1"),
    ("retry_base", "5ms"),
    ("max_retry_delay", "20ms"),
    ("defer_base", "300ms"),
    ("defer_max_delay", "600ms"),
    ("commit_interval", "50ms"),
];

async fn send(producer: &Producer, topic: &str, key: &str, payload: serde_json::Value) {
    producer.send(topic, key, &payload).await.expect("sent");
}

/// A topic and group of their own and a consumer running `handler`, warmed up: a few healthy
/// messages are handled first, so the consumer owns the partition and the failure rate starts
/// low (the gate lets the first deferral through).
async fn setup(broker: Broker, handler: &Timers) -> (String, String, Producer, Consumer) {
    let topic = unique("timer-deferral");
    create_topic(broker, &topic, 1).await;
    let group = unique("timer-deferral-group");
    let consumer = consume(broker, &group, &topic, &OPTIONS, Arc::new(handler.clone()));
    let producer = test_producer(broker);
    for n in 0..5 {
        send(&producer, &topic, "warm", json!({ "n": n })).await;
    }
    assert!(
        eventually(LIMIT, || handler.seen("warm").len() == 5).await,
        "warm-up handled"
    );
    (topic, group, producer, consumer)
}

fn deferred_timers(consumer: &Consumer) -> u64 {
    consumer.stats().deferred_timers.load(Ordering::Relaxed)
}

/// A timer that keeps failing is deferred; the key's later timers queue behind it without
/// running, other keys' timers run meanwhile, and once it succeeds they all run in order, each
/// once, with its original time.
async fn a_failing_timer_is_deferred_and_the_key_recovers_in_order(broker: Broker) {
    let handler = Timers::default();
    let (topic, _group, producer, consumer) = setup(broker, &handler).await;
    handler.fail("sick", true);
    let now = now_secs();
    let (t0, t1, t2) = (now + 2, now + 3, now + 4);
    send(
        &producer,
        &topic,
        "sick",
        json!({ "schedule": [t0, t1, t2] }),
    )
    .await;
    send(&producer, &topic, "well", json!({ "schedule": [t1] })).await;

    assert!(
        eventually(LIMIT, || deferred_timers(&consumer) == 3).await,
        "the failing timer and the two behind it are deferred: {}",
        deferred_timers(&consumer)
    );
    assert_eq!(handler.seen("well"), [Seen::Timer(t1)], "other keys run");
    assert!(handler.attempts("sick", t0) >= 3, "in place, then deferred");
    assert_eq!(
        (handler.attempts("sick", t1), handler.attempts("sick", t2)),
        (0, 0),
        "later timers of the key wait without running"
    );

    handler.fail("sick", false);
    let all = [Seen::Timer(t0), Seen::Timer(t1), Seen::Timer(t2)];
    assert!(
        eventually(LIMIT, || handler.seen("sick").len() == 3).await,
        "the backlog drains once the key recovers"
    );
    // Nothing fires a second time, from the store or the backlog.
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&producer, &topic, "sick", json!({ "list": true })).await;
    assert!(eventually(LIMIT, || handler.listed().len() == 1).await);
    let undeferred = || consumer.stats().undeferred_timers.load(Ordering::Relaxed);
    assert!(
        eventually(LIMIT, || undeferred() == 3).await,
        "{}",
        undeferred()
    );
    consumer.shutdown().await;
    assert_eq!(handler.seen("sick"), all, "in order, original times");
    assert_eq!(handler.listed(), [Vec::<u32>::new()], "no timer left");
}

/// A consumer stopped mid-deferral loses nothing: the next one loads the key's deferred timers
/// and message and runs them in the order they were deferred.
async fn a_restart_mid_deferral_keeps_timers_and_messages_in_order(broker: Broker) {
    let first = Timers::default();
    let (topic, group, producer, consumer) = setup(broker, &first).await;
    first.fail("sick", true);
    let now = now_secs();
    let (t0, t1) = (now + 2, now + 4);
    send(&producer, &topic, "sick", json!({ "schedule": [t0, t1] })).await;
    assert!(
        eventually(LIMIT, || deferred_timers(&consumer) == 1).await,
        "the first timer is deferred"
    );
    send(&producer, &topic, "sick", json!({ "n": 1 })).await;
    assert!(
        eventually(LIMIT, || deferred_timers(&consumer) == 2
            && consumer.stats().deferred.load(Ordering::Relaxed) == 1)
        .await,
        "the message, then the second timer, join the backlog"
    );
    consumer.shutdown().await;
    assert!(first.seen("sick").is_empty());

    let second = Timers::default();
    let consumer = consume(broker, &group, &topic, &OPTIONS, Arc::new(second.clone()));
    assert!(
        eventually(LIMIT, || second.seen("sick").len() == 3).await,
        "the next consumer finishes the backlog: {:?}",
        second.seen("sick")
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    consumer.shutdown().await;
    assert_eq!(
        second.seen("sick"),
        [Seen::Timer(t0), Seen::Message(1), Seen::Timer(t1)]
    );
}

/// While a key is deferred, its handler's timer methods see the deferred timers: `scheduled`
/// lists them (but not the one being retried), `unschedule` and `clear_scheduled` remove them
/// for good, and a timer scheduled meanwhile runs after the backlog.
async fn the_context_sees_and_removes_deferred_timers(broker: Broker) {
    let handler = Timers::default();
    let (topic, _group, producer, consumer) = setup(broker, &handler).await;
    handler.fail("sick", true);
    let now = now_secs();
    let (t0, t1, t2, t3, later, far) = (now + 2, now + 3, now + 4, now + 5, now + 8, now + 3_600);
    handler.on("sick", t0, &[Op::List, Op::Unschedule(t1), Op::List]);
    handler.on(
        "sick",
        t2,
        &[Op::List, Op::Clear, Op::List, Op::Schedule(later)],
    );
    send(
        &producer,
        &topic,
        "sick",
        json!({ "schedule": [t0, t1, t2, t3, far] }),
    )
    .await;
    assert!(
        eventually(LIMIT, || deferred_timers(&consumer) == 4).await,
        "four timers deferred"
    );
    handler.fail("sick", false);
    assert!(
        eventually(LIMIT, || handler.seen("sick").len() == 3).await,
        "the retried timers and the one scheduled meanwhile ran: {:?}",
        handler.seen("sick")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    consumer.shutdown().await;
    assert_eq!(
        handler.listed(),
        [
            vec![t1, t2, t3, far],
            vec![t2, t3, far],
            vec![t3, far],
            vec![],
        ]
    );
    assert_eq!(
        handler.seen("sick"),
        [Seen::Timer(t0), Seen::Timer(t2), Seen::Timer(later)],
        "removed timers never fire"
    );
    assert_eq!(handler.attempts("sick", t1), 0);
    assert_eq!(handler.attempts("sick", t3), 0);
}

/// A deferred timer that then fails permanently is given up, and the next one runs.
async fn a_permanent_failure_of_a_deferred_timer_moves_on(broker: Broker) {
    let handler = Timers::default();
    let (topic, _group, producer, consumer) = setup(broker, &handler).await;
    handler.fail("sick", true);
    let now = now_secs();
    let (t0, t1) = (now + 2, now + 3);
    send(&producer, &topic, "sick", json!({ "schedule": [t0, t1] })).await;
    assert!(
        eventually(LIMIT, || deferred_timers(&consumer) == 2).await,
        "both timers deferred"
    );
    handler
        .0
        .permanent
        .lock()
        .unwrap()
        .insert(("sick".into(), t0));
    handler.fail("sick", false);
    assert!(
        eventually(LIMIT, || handler.seen("sick") == [Seen::Timer(t1)]).await,
        "the next timer runs: {:?}",
        handler.seen("sick")
    );
    let undeferred = || consumer.stats().undeferred_timers.load(Ordering::Relaxed);
    assert!(
        eventually(LIMIT, || undeferred() == 2).await,
        "both left the backlog: {}",
        undeferred()
    );
    consumer.shutdown().await;
    assert!(handler.attempts("sick", t0) >= 3);
}

/// A consumer joining mid-deferral takes partitions over with their deferred timers: every
/// one is handled, each key's in order.
async fn a_rebalance_mid_deferral_hands_the_deferred_timers_over(broker: Broker) {
    let topic = unique("timer-deferral-rebalance");
    create_topic(broker, &topic, 2).await;
    let group = unique("timer-deferral-rebalance-group");
    let first = Timers::default();
    let a = consume(broker, &group, &topic, &OPTIONS, Arc::new(first.clone()));
    let producer = test_producer(broker);
    let keys: Vec<String> = (0..6).map(|n| format!("sick-{n}")).collect();
    for key in &keys {
        first.fail(key, true);
    }
    // Healthy traffic first keeps the failure rate under the gate, so failures defer.
    for n in 0..20 {
        send(&producer, &topic, &format!("well-{n}"), json!({ "n": 0 })).await;
    }
    assert!(
        eventually(LIMIT, || (0..20)
            .all(|n| first.seen(&format!("well-{n}")).len() == 1))
        .await,
        "healthy keys handled"
    );
    let now = now_secs();
    let (t0, t1) = (now + 2, now + 3);
    for key in &keys {
        send(&producer, &topic, key, json!({ "schedule": [t0, t1] })).await;
    }
    assert!(
        eventually(LIMIT, || deferred_timers(&a) == 12).await,
        "every timer deferred on the first consumer: {}",
        deferred_timers(&a)
    );

    let second = Timers::default();
    let b = consume(broker, &group, &topic, &OPTIONS, Arc::new(second.clone()));
    let taken_over = || keys.iter().any(|key| !second.seen(key).is_empty());
    assert!(
        eventually(LIMIT, taken_over).await,
        "the second consumer resumes the deferred timers of the partitions it took over"
    );
    for key in &keys {
        first.fail(key, false);
    }
    let done = || {
        keys.iter().all(|key| {
            let mut seen = first.seen(key);
            seen.extend(second.seen(key));
            seen.sort_unstable_by_key(|seen| format!("{seen:?}"));
            seen.dedup();
            seen == [Seen::Timer(t0), Seen::Timer(t1)]
        })
    };
    assert!(
        eventually(LIMIT, done).await,
        "every deferred timer handled"
    );
    a.shutdown().await;
    b.shutdown().await;
    for key in &keys {
        for seen in [first.seen(key), second.seen(key)] {
            let times: Vec<_> = seen.iter().map(|seen| format!("{seen:?}")).collect();
            assert!(
                times.windows(2).all(|pair| pair[0] <= pair[1]),
                "{key} in order: {seen:?}"
            );
        }
    }
}

on_both_brokers! {
    rebalance_mid_timer_deferral => a_rebalance_mid_deferral_hands_the_deferred_timers_over();
    failing_timer_recovers_in_order => a_failing_timer_is_deferred_and_the_key_recovers_in_order();
    restart_mid_timer_deferral => a_restart_mid_deferral_keeps_timers_and_messages_in_order();
    context_sees_deferred_timers => the_context_sees_and_removes_deferred_timers();
    permanent_failure_moves_on => a_permanent_failure_of_a_deferred_timer_moves_on();
}
