//! A deferred timer's retry: the timer a handler scheduled fails in place until it is parked
//! in its key's backlog, and its retry from there runs with the baggage of the code that
//! scheduled it, in a `trigger` span tied to that code's trace as `timer_spans` says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prosody_engine::{
    Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Producer, Timer, TimerTime,
};

use super::scenarios::{collector, linked, LIMIT};
use super::Got;
use crate::support::{config, create_topic, send_successes, unique, Broker, DEFERRING};

/// The in-place attempts a timer fails (`max_retries` 1: two), so it is deferred and its
/// first retry from the backlog succeeds.
const FAILED_IN_PLACE: usize = 2;

/// Schedules a timer for messages whose key starts with "deferred-timer"; that timer fails
/// its in-place attempts, then succeeds. Records the baggage each timer attempt carried.
#[derive(Default)]
struct TimerFailsInPlace {
    attempts: AtomicUsize,
    baggage: Mutex<Vec<Option<String>>>,
}

impl TimerFailsInPlace {
    fn baggage(&self) -> Vec<Option<String>> {
        self.baggage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Handler for TimerFailsInPlace {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let schedules = message.key().starts_with("deferred-timer");
        Box::pin(async move {
            if schedules {
                context
                    .schedule(TimerTime::now())
                    .await
                    .map_err(|error| HandlerError::transient(error.to_string()))?;
            }
            Ok(())
        })
    }

    fn on_timer(&self, context: Context, _: Timer) -> HandlerFuture {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        let baggage = context.baggage().map(ToString::to_string);
        self.baggage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(baggage);
        Box::pin(async move {
            if attempt < FAILED_IN_PLACE {
                Err(HandlerError::transient("not yet"))
            } else {
                Ok(())
            }
        })
    }
}

/// A timer deferred after failing in place is retried from the backlog with the scheduling
/// message's baggage, and the retry's `trigger` span is a child of (`timer_spans` "child") or
/// links to (otherwise) the `receive` span whose handler scheduled it, like its first firing.
pub async fn deferred_timers_keep_their_trace_and_baggage(broker: Broker, timer_spans: &str) {
    let collector = collector();
    let (topic, group) = (unique("otel-defer-timer"), unique("otel-defer-timer-group"));
    if broker == Broker::Real {
        create_topic(broker, &topic, 1).await;
    }
    let producer = Producer::new(&config(broker, &[("send_timeout", "30s")])).expect("producer");
    let consumer_config = config(
        broker,
        &[
            &[
                ("group_id", group.as_str()),
                ("subscribed_topics", topic.as_str()),
                ("timer_spans", timer_spans),
            ],
            DEFERRING,
        ]
        .concat(),
    );
    let handler = Arc::new(TimerFailsInPlace::default());
    let consumer = Consumer::subscribe(
        &consumer_config,
        Arc::clone(&handler) as Arc<dyn Handler>,
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    send_successes(&producer, &topic).await;
    let key = unique("deferred-timer");
    producer
        .send_bytes(&topic, &key, b"{}", &[("baggage", b"tenant=acme")])
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + LIMIT;
    let (received, fired, retried) = loop {
        prosody_engine::otel::flush().await;
        let spans: Vec<Got> = collector
            .spans()
            .into_iter()
            .filter(|span| span.attr("messaging.kafka.message.key") == key)
            .collect();
        let find = |name: &str, outcome: &str| {
            spans
                .iter()
                .find(|s| s.name == name && s.attr("outcome") == outcome)
                .cloned()
        };
        if let (Some(received), Some(fired), Some(retried)) = (
            find("receive", "success"),
            find("trigger", "deferred"),
            find("trigger", "success"),
        ) {
            break (received, fired, retried);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no trigger span for the deferred timer's retry; got {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    consumer.shutdown().await;
    assert_eq!(
        handler.baggage(),
        vec![Some("tenant=acme".to_owned()); FAILED_IN_PLACE + 1],
        "every attempt, the retry from the backlog included, has the scheduling baggage"
    );
    assert_eq!(fired.attr("attempt"), FAILED_IN_PLACE.to_string());
    assert_eq!(retried.attr("attempt"), "1");
    assert_eq!(retried.attr("timer.time"), fired.attr("timer.time"));
    assert!(
        retried.repeated.is_empty(),
        "each attribute once: {retried:#?}"
    );
    for trigger in [&fired, &retried] {
        if timer_spans == "child" {
            assert_eq!(
                trigger.trace, received.trace,
                "a child trigger joins the scheduling trace"
            );
            assert_eq!(trigger.parent, received.id, "under the scheduling span");
        } else {
            assert!(
                trigger.parent.is_empty(),
                "a follows_from trigger is a root"
            );
            assert!(
                linked(trigger, &received),
                "the trigger links to the span that scheduled it: {trigger:#?}"
            );
        }
    }
}
