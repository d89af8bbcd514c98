use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use tokio::time::{sleep, Instant};

use super::QosLayer;
use crate::error::{ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::middleware::test_support::{context, message};
use crate::middleware::{Backoff, Layer, RetryForever, RetryLayer};
use crate::qos::{FairScheduler, HotKeys, SchedulerSettings};

fn scheduler(permits: usize) -> FairScheduler {
    FairScheduler::new(SchedulerSettings {
        permits,
        failure_weight: 0.3,
        max_wait: Duration::from_secs(120),
        wait_weight: 200.0,
        cache_size: 1024,
    })
}

/// Every attempt takes 10 ms; keys starting with "bad" always fail. [`Recording`] notes the
/// successes.
#[derive(Default)]
struct Keyed {
    handled: Mutex<Vec<(String, Instant)>>,
}

impl Keyed {
    fn handled(&self) -> Vec<(String, Instant)> {
        self.handled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Handler for Keyed {
    fn on_message(&self, context: Context, _message: Message) -> HandlerFuture {
        let fail = context.key().starts_with("bad");
        Box::pin(async move {
            sleep(Duration::from_millis(10)).await;
            if fail {
                Err(HandlerError::transient("always fails"))
            } else {
                Ok(())
            }
        })
    }

    fn on_timer(&self, _context: Context, _timer: Timer) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }
}

/// Wraps [`Keyed`] to record successes (futures above cannot borrow the handler).
struct Recording(Arc<Keyed>);

impl Handler for Recording {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            let key = context.key().to_owned();
            let outcome = inner.on_message(context, message).await;
            if outcome.is_ok() {
                inner
                    .handled
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((key, Instant::now()));
            }
            outcome
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.0.on_timer(context, timer)
    }
}

#[tokio::test(start_paused = true)]
async fn failing_keys_backing_off_leave_the_permits_to_fresh_keys() {
    // Two permits, two keys that always fail and retry forever with back-off: fresh keys must
    // still run, since a permit is held only while a handler runs.
    let keyed = Arc::new(Keyed::default());
    let qos = QosLayer::new(scheduler(2), None).layer(Arc::new(Recording(Arc::clone(&keyed))));
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let stack = Arc::new(RetryLayer::new(RetryForever, backoff).layer(Arc::new(qos)));

    let mut failing = Vec::new();
    for key in ["bad-1", "bad-2"] {
        let (stack, (ctx, _token)) = (Arc::clone(&stack), context(key));
        failing.push(tokio::spawn(async move {
            stack.on_message(ctx, message(key, json!({}))).await
        }));
    }
    sleep(Duration::from_millis(5)).await;
    let started = Instant::now();
    let mut fresh = Vec::new();
    for n in 0..10 {
        let key = format!("good-{n}");
        let (stack, (ctx, _token)) = (Arc::clone(&stack), context(&key));
        fresh.push(tokio::spawn(async move {
            stack.on_message(ctx, message(&key, json!({}))).await
        }));
    }
    for task in fresh {
        assert_eq!(task.await.ok(), Some(Ok(())));
    }
    assert_eq!(keyed.handled().len(), 10);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for task in failing {
        task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_hot_key_is_held_back_and_others_run() {
    let hot = Arc::new(HotKeys::new(Duration::from_secs(2), 0.3, 64));
    let keyed = Arc::new(Keyed::default());
    let qos = QosLayer::new(scheduler(4), Some(Arc::clone(&hot)))
        .layer(Arc::new(Recording(Arc::clone(&keyed))));

    // 10 ms runs: after 61 back to back, "busy" has used 0.61 s of the 2 s window.
    for _ in 0..61 {
        qos.on_message(context("busy").0, message("busy", json!({})))
            .await
            .unwrap_or_default();
    }
    let error = qos
        .on_message(context("busy").0, message("busy", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(error.message().contains("is hot"), "{}", error.message());
    assert_eq!(
        qos.on_message(context("other").0, message("other", json!({})))
            .await,
        Ok(())
    );

    // Once the window has passed, the key runs again.
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        qos.on_message(context("busy").0, message("busy", json!({})))
            .await,
        Ok(())
    );
}

#[tokio::test(start_paused = true)]
async fn retries_wait_in_the_failure_class() {
    let scheduler = scheduler(1);
    let qos =
        Arc::new(QosLayer::new(scheduler.clone(), None).layer(Arc::new(Recording(Arc::default()))));
    let holder = scheduler.acquire("holder", crate::qos::Class::Normal).await;
    let (ctx, _token) = context("k");
    let retry = {
        let qos = Arc::clone(&qos);
        tokio::spawn(async move {
            qos.on_message(ctx.with_attempt(2), message("k", json!({})))
                .await
        })
    };
    let (ctx, _token2) = context("fresh");
    let first = {
        let qos = Arc::clone(&qos);
        tokio::spawn(async move { qos.on_message(ctx, message("fresh", json!({}))).await })
    };
    sleep(Duration::from_millis(1)).await;
    assert_eq!(scheduler.waiting(), (1, 1));

    drop(holder);
    assert_eq!(retry.await.ok(), Some(Ok(())));
    assert_eq!(first.await.ok(), Some(Ok(())));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_cancelled_before_its_permit_comes_does_not_run() {
    let scheduler = scheduler(1);
    let recorded = Arc::new(Keyed::default());
    let qos =
        QosLayer::new(scheduler.clone(), None).layer(Arc::new(Recording(Arc::clone(&recorded))));
    let holder = scheduler.acquire("holder", crate::qos::Class::Normal).await;
    let (ctx, token) = context("k");
    let waiting = tokio::spawn(async move { qos.on_message(ctx, message("k", json!({}))).await });
    sleep(Duration::from_millis(1)).await;
    token.cancel();
    drop(holder);

    let error = waiting.await.ok().and_then(Result::err);
    assert_eq!(error.map(|e| e.class()), Some(ErrorClass::Transient));
    assert!(recorded.handled().is_empty());
    assert_eq!(scheduler.free(), 1, "the permit came back");
}

#[tokio::test(start_paused = true)]
async fn successful_attempts_are_counted_in_the_failure_rate_when_asked() {
    let rate = Arc::new(crate::qos::FailureRate::new(Duration::from_secs(60)));
    rate.record(false, Instant::now());
    let qos = QosLayer::new(scheduler(2), None)
        .counting_successes(Arc::clone(&rate))
        .layer(Arc::new(Keyed::default()));

    for key in ["good", "bad", "good", "good"] {
        let _ = qos
            .on_message(context(key).0, message(key, json!({})))
            .await;
    }
    // Three successes beside the one failure recorded above: failed attempts are the
    // deferral layer's to count, once per event.
    assert!((rate.rate(Instant::now()) - 0.25).abs() < 1e-9);

    let uncounted = QosLayer::new(scheduler(2), None).layer(Arc::new(Keyed::default()));
    let _ = uncounted
        .on_message(context("good").0, message("good", json!({})))
        .await;
    assert!((rate.rate(Instant::now()) - 0.25).abs() < 1e-9);
}
