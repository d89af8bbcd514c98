use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::DeferLayer;
use crate::error::ErrorClass;
use crate::handler::Handler;
use crate::middleware::test_support::{context, message, ok, timer, transient, Scripted};
use crate::middleware::{Backoff, Layer};
use crate::qos::FailureRate;

fn layer(rate: &Arc<FailureRate>) -> DeferLayer {
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    DeferLayer::new(Arc::clone(rate), 0.5, backoff)
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_deferred_while_failures_are_rare() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    for _ in 0..10 {
        rate.record(true, Instant::now());
    }
    let inner = Scripted::new([transient("down")]);
    let defer = layer(&rate).layer(Arc::clone(&inner));

    let error = defer
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert!(error.is_deferred());
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn at_a_high_failure_rate_it_retries_in_place_until_the_rate_falls() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(16)));
    for _ in 0..10 {
        rate.record(false, Instant::now());
    }
    let inner = Scripted::new([transient("down"), transient("down"), ok()]);
    let defer = layer(&rate).layer(Arc::clone(&inner));

    assert_eq!(
        defer
            .on_message(context("k").0, message("k", json!({})))
            .await,
        Ok(())
    );
    assert_eq!(inner.call_count(), 3);

    // Once successes bring the rate under the threshold, failures defer again.
    for _ in 0..30 {
        rate.record(true, Instant::now());
    }
    let inner = Scripted::new([transient("down")]);
    let defer = layer(&rate).layer(Arc::clone(&inner));
    let error = defer
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert!(error.is_deferred());
}

#[tokio::test(start_paused = true)]
async fn the_rate_counts_an_event_once_however_often_it_retries_in_place() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    rate.record(true, Instant::now());
    rate.record(false, Instant::now());
    let inner = Scripted::new([
        transient("down"),
        transient("down"),
        transient("down"),
        ok(),
    ]);
    let defer = layer(&rate).layer(Arc::clone(&inner));
    let outcome = defer
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(inner.call_count(), 4, "retried in place: the gate was shut");
    // One failure and one success for the event, not three failures.
    assert!((rate.rate(Instant::now()) - 0.5).abs() < 1e-9);
    // A lone failing event with nothing else seen shuts the gate by itself.
    let fresh = Arc::new(FailureRate::new(Duration::from_secs(60)));
    let inner = Scripted::new([transient("down"), ok()]);
    let defer = layer(&fresh).layer(Arc::clone(&inner));
    let outcome = defer
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_deferred_message_coming_back_is_deferred_again_whatever_the_rate() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(16)));
    for _ in 0..10 {
        rate.record(false, Instant::now());
    }
    let inner = Scripted::new([transient("still down")]);
    let defer = layer(&rate).layer(Arc::clone(&inner));

    let retry = context("k").0.into_deferred_retry(1);
    let error = defer
        .on_message(retry, message("k", json!({})))
        .await
        .unwrap_err();
    assert!(error.is_deferred());
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_are_not_deferred() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    let inner = Scripted::new([
        crate::middleware::test_support::permanent("bad"),
        crate::middleware::test_support::permanent("bad timer"),
    ]);
    let defer = layer(&rate).layer(Arc::clone(&inner));

    let error = defer
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert!(!error.is_deferred());
    assert_eq!(error.class(), ErrorClass::Permanent);
    let error = defer
        .on_timer(context("k").0, timer("k"))
        .await
        .unwrap_err();
    assert!(!error.is_deferred());
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn timers_obey_the_same_gate_as_messages() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(16)));
    for _ in 0..10 {
        rate.record(true, Instant::now());
    }
    let inner = Scripted::new([transient("timer down")]);
    let defer = layer(&rate).layer(Arc::clone(&inner));
    let error = defer
        .on_timer(context("k").0, timer("k"))
        .await
        .unwrap_err();
    assert!(error.is_deferred(), "deferred while failures are rare");

    // Above the threshold a first failure retries in place...
    for _ in 0..20 {
        rate.record(false, Instant::now());
    }
    let inner = Scripted::new([transient("down"), transient("down"), ok()]);
    let defer = layer(&rate).layer(Arc::clone(&inner));
    assert_eq!(defer.on_timer(context("k").0, timer("k")).await, Ok(()));
    assert_eq!(inner.call_count(), 3);

    // ...while a deferred timer coming back is deferred again whatever the rate.
    let inner = Scripted::new([transient("still down")]);
    let defer = layer(&rate).layer(Arc::clone(&inner));
    let retry = context("k").0.into_deferred_retry(1);
    let error = defer.on_timer(retry, timer("k")).await.unwrap_err();
    assert!(error.is_deferred());
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn it_retries_in_place_first_numbering_the_attempts() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    for _ in 0..10 {
        rate.record(true, Instant::now());
    }
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    let retrying = || layer(&rate).retrying_first(2, backoff);

    // A blip within `max_retries` never reaches the gate.
    let inner = Scripted::new([transient("blip"), transient("blip"), ok()]);
    let defer = retrying().layer(Arc::clone(&inner));
    let outcome = defer
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    let numbers: Vec<u32> = inner.calls().iter().map(|c| c.context.attempt()).collect();
    assert_eq!(numbers, [1, 2, 3]);

    // Past them, the event is deferred after exactly 1 + max_retries attempts.
    let inner = Scripted::new([transient("down"), transient("down"), transient("down")]);
    let defer = retrying().layer(Arc::clone(&inner));
    let error = defer
        .on_timer(context("k").0, timer("k"))
        .await
        .unwrap_err();
    assert!(error.is_deferred());
    assert_eq!(inner.call_count(), 3);
    let retries: Vec<u32> = inner.calls().iter().map(|c| c.context.retries()).collect();
    assert_eq!(retries, [0, 1, 2]);
}

/// Issue 18: `Context::retries` goes on counting when a deferred event comes back, from the
/// attempts its earlier rounds made (`max_retries + 1` each).
#[tokio::test(start_paused = true)]
async fn retries_go_on_counting_after_a_deferral() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    let inner = Scripted::new([transient("down"), transient("down"), ok()]);
    let defer = layer(&rate)
        .retrying_first(2, backoff)
        .layer(Arc::clone(&inner));
    // The second deferred retry: the first delivery's round and one failed retry, 3 attempts
    // each, came before.
    let retry = context("k").0.into_deferred_retry(6);
    let outcome = defer.on_message(retry, message("k", json!({}))).await;
    assert_eq!(outcome, Ok(()));
    let calls = inner.calls();
    let attempts: Vec<u32> = calls.iter().map(|c| c.context.attempt()).collect();
    let retries: Vec<u32> = calls.iter().map(|c| c.context.retries()).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(retries, [6, 7, 8]);
}

#[tokio::test(start_paused = true)]
async fn successes_are_left_to_the_qos_layer_when_it_counts_them() {
    let rate = Arc::new(FailureRate::new(Duration::from_secs(60)));
    rate.record(false, Instant::now());
    let inner = Scripted::new([ok(), ok()]);

    let inside = layer(&rate)
        .successes_counted_inside()
        .layer(Arc::clone(&inner));
    let outcome = inside
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    assert!(
        (rate.rate(Instant::now()) - 1.0).abs() < 1e-9,
        "not counted here"
    );

    let counting = layer(&rate).layer(Arc::clone(&inner));
    let outcome = counting
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    assert!((rate.rate(Instant::now()) - 0.5).abs() < 1e-9);
}
