//! W3C baggage through the consumer: a record's `baggage` header reaches the handler, the
//! handler's sends carry it on, a timer the handler schedules keeps it (in memory on the mock
//! cluster, in Cassandra on real Kafka) for its own handler's sends, even when it is retried
//! from the deferred backlog, and a deferred message read back carries it too. Bad baggage is
//! trimmed to what is valid and within the W3C limits, never an error. No spans are exported
//! here: baggage travels without them.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prosody_engine::{
    Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Producer, Timer, TimerTime,
    MAX_BAGGAGE_ENTRIES,
};
use serde_json::json;
use support::{config, create_topic, eventually, send_successes, unique, Broker, DEFERRING};

const LIMIT: Duration = Duration::from_secs(60);

fn failed(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::transient(error.to_string())
}

/// Sends one record to `next` per message (and schedules a timer now), and one per timer, each
/// continuing what the event carries on. Fails the first `fail_first` attempts at messages
/// keyed "deferred…", and the first `fail_timers_first` attempts at timers.
#[derive(Default)]
struct Relay {
    producer: Option<Producer>,
    next: String,
    fail_first: usize,
    attempts: AtomicUsize,
    schedule: bool,
    fail_timers_first: usize,
    timer_attempts: AtomicUsize,
}

impl Handler for Relay {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let (producer, next, schedule) = (self.producer.clone(), self.next.clone(), self.schedule);
        let Some(producer) = producer else {
            return Box::pin(async { Err(HandlerError::permanent("no producer")) });
        };
        let fail = message.key().starts_with("deferred")
            && self.attempts.fetch_add(1, Ordering::SeqCst) < self.fail_first;
        Box::pin(async move {
            if !message.key().starts_with("baggage") && !message.key().starts_with("deferred") {
                return Ok(());
            }
            if fail {
                return Err(HandlerError::transient("not yet"));
            }
            let payload = json!({"from": "message"});
            producer
                .send_in_trace(&next, message.key(), &payload, context.continuation())
                .await
                .map_err(failed)?;
            if schedule {
                context.schedule(TimerTime::now()).await.map_err(failed)?;
            }
            Ok(())
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let (producer, next) = (self.producer.clone(), self.next.clone());
        let fail = self.timer_attempts.fetch_add(1, Ordering::SeqCst) < self.fail_timers_first;
        Box::pin(async move {
            if fail {
                return Err(HandlerError::transient("not yet"));
            }
            let producer = producer.ok_or_else(|| HandlerError::permanent("no producer"))?;
            let payload = json!({"from": "timer"});
            producer
                .send_in_trace(&next, &timer.key, &payload, context.continuation())
                .await
                .map_err(failed)
                .map(|_| ())
        })
    }
}

/// A record read: its `from` field and its `baggage` header, as checked.
type Seen = (String, Option<String>);

/// Records every record it reads.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Seen>>>);

impl Capture {
    fn seen(&self) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Handler for Capture {
    fn on_message(&self, _: Context, message: Message) -> HandlerFuture {
        let from = message.payload()["from"].as_str().unwrap_or("?").to_owned();
        let baggage = message.baggage().map(|baggage| baggage.to_string());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((from, baggage));
        Box::pin(async { Ok(()) })
    }
}

/// Topics `first` → `next`, a `Relay` on the first (with `options`) and a `Capture` on the next.
async fn pipeline(
    broker: Broker,
    relay: impl FnOnce(Producer, String) -> Relay,
    options: &[(&str, &str)],
) -> (String, Producer, Capture, [Consumer; 2]) {
    let (first, next) = (unique("baggage-a"), unique("baggage-b"));
    if broker == Broker::Real {
        create_topic(broker, &first, 1).await;
        create_topic(broker, &next, 1).await;
    }
    let producer = Producer::new(&config(broker, &[("send_timeout", "30s")])).expect("producer");
    let group = unique("baggage-relay");
    let mut all = vec![("group_id", group.as_str()), ("subscribed_topics", &first)];
    all.extend_from_slice(options);
    let runtime = tokio::runtime::Handle::current();
    let relaying = Consumer::subscribe(
        &config(broker, &all),
        Arc::new(relay(producer.clone(), next.clone())),
        runtime.clone(),
    )
    .expect("relay consumer");
    let capture = Capture::default();
    let capture_group = unique("baggage-capture");
    let capturing = Consumer::subscribe(
        &config(
            broker,
            &[("group_id", &capture_group), ("subscribed_topics", &next)],
        ),
        Arc::new(capture.clone()),
        runtime,
    )
    .expect("capture consumer");
    (first, producer, capture, [relaying, capturing])
}

/// The header sent: two valid members, an invalid one, then more members than the limit.
fn oversized_header() -> (String, String) {
    let extra: Vec<String> = (0..MAX_BAGGAGE_ENTRIES + 20)
        .map(|i| format!("k{i}=v"))
        .collect();
    let sent = format!(
        "tenant=acme, bad key=1,user=J%C3%B6rg;p,{}",
        extra.join(",")
    );
    let kept = format!(
        "tenant=acme,user=J%C3%B6rg;p,{}",
        extra[..MAX_BAGGAGE_ENTRIES - 2].join(",")
    );
    (sent, kept)
}

async fn messages_and_timers_carry_baggage_on(broker: Broker) {
    let (first, producer, capture, consumers) = pipeline(
        broker,
        |producer, next| Relay {
            producer: Some(producer),
            next,
            schedule: true,
            ..Relay::default()
        },
        &[],
    )
    .await;
    let (sent, kept) = oversized_header();
    producer
        .send_bytes(
            &first,
            &unique("baggage"),
            b"{}",
            &[("baggage", sent.as_bytes())],
        )
        .await
        .expect("send");
    let arrived = eventually(LIMIT, || capture.seen().len() >= 2).await;
    for consumer in consumers {
        consumer.shutdown().await;
    }
    assert!(arrived, "both records arrived: {:?}", capture.seen());
    let mut seen = capture.seen();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("message".to_owned(), Some(kept.clone())),
            ("timer".to_owned(), Some(kept))
        ]
    );
}

/// Sends a message with the baggage `tenant=acme` under `key`, after messages that succeed.
async fn send_after_successes(producer: &Producer, topic: &str, key: &str) {
    send_successes(producer, topic).await;
    producer
        .send_bytes(topic, key, b"{}", &[("baggage", b"tenant=acme")])
        .await
        .expect("send");
}

async fn deferred_messages_carry_baggage_on(broker: Broker) {
    let (first, producer, capture, consumers) = pipeline(
        broker,
        |producer, next| Relay {
            producer: Some(producer),
            next,
            fail_first: 2,
            ..Relay::default()
        },
        DEFERRING,
    )
    .await;
    send_after_successes(&producer, &first, &unique("deferred")).await;
    let arrived = eventually(LIMIT, || !capture.seen().is_empty()).await;
    for consumer in consumers {
        consumer.shutdown().await;
    }
    assert!(arrived, "the deferred message was never handled");
    assert_eq!(
        capture.seen(),
        [("message".to_owned(), Some("tenant=acme".to_owned()))]
    );
}

/// A timer scheduled by a message with baggage fails its two in-place attempts, is parked in
/// its key's deferred backlog (its timer row deleted), and its retry from there still sends
/// with that baggage.
async fn deferred_timers_carry_baggage_on(broker: Broker) {
    let (first, producer, capture, consumers) = pipeline(
        broker,
        |producer, next| Relay {
            producer: Some(producer),
            next,
            schedule: true,
            fail_timers_first: 2,
            ..Relay::default()
        },
        DEFERRING,
    )
    .await;
    send_after_successes(&producer, &first, &unique("baggage")).await;
    let arrived = eventually(LIMIT, || capture.seen().len() >= 2).await;
    let deferred = consumers[0].stats().deferred_timers.load(Ordering::Relaxed);
    for consumer in consumers {
        consumer.shutdown().await;
    }
    assert!(arrived, "both records arrived: {:?}", capture.seen());
    assert_eq!(deferred, 1, "the timer was deferred, not retried in place");
    let mut seen = capture.seen();
    seen.sort();
    let carried = Some("tenant=acme".to_owned());
    assert_eq!(
        seen,
        [
            ("message".to_owned(), carried.clone()),
            ("timer".to_owned(), carried)
        ]
    );
}

on_both_brokers! {
    messages_and_timers => messages_and_timers_carry_baggage_on();
    deferred_messages => deferred_messages_carry_baggage_on();
    deferred_timers => deferred_timers_carry_baggage_on();
}
