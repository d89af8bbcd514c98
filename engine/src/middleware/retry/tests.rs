use std::sync::Arc;
use std::time::Duration;

use futures::poll;
use serde_json::json;

use super::{Backoff, Bounded, RetryForever, RetryLayer, RetryPolicy};
use crate::error::{ErrorClass, HandlerError};
use crate::handler::Handler;
use crate::middleware::test_support::{
    context, error_once_cancelled, message, ok, permanent, terminal, timer, transient, Scripted,
};
use crate::middleware::Layer;

const BASE: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_millis(800);

fn backoff() -> Backoff {
    Backoff::new(BASE, MAX)
}

#[tokio::test(start_paused = true)]
async fn retry_forever_retries_transient_errors_until_success() {
    let inner = Scripted::new((0..20).map(|_| transient("busy")).chain([ok()]));
    let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));

    let result = retry
        .on_message(context("k").0, message("k", json!({"n": 1})))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(inner.call_count(), 21);
    for call in inner.calls() {
        assert_eq!(
            call.message.map(|m| m.payload().clone()),
            Some(json!({"n": 1}))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn each_attempt_sees_its_number_counting_from_one() {
    let inner = Scripted::new([transient("one"), transient("two"), ok()]);
    let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));
    retry
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap();
    retry.on_timer(context("k").0, timer("k")).await.unwrap();

    let attempts: Vec<u32> = inner.calls().iter().map(|c| c.context.attempt()).collect();
    assert_eq!(attempts, [1, 2, 3, 1], "a new event starts again at 1");
}

#[tokio::test(start_paused = true)]
async fn permanent_and_terminal_errors_are_not_retried() {
    for (step, class) in [
        (permanent("bad"), ErrorClass::Permanent),
        (terminal("fatal"), ErrorClass::Terminal),
    ] {
        let inner = Scripted::new([step]);
        let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));
        let error = retry
            .on_message(context("k").0, message("k", json!({})))
            .await
            .unwrap_err();
        assert_eq!(error.class(), class);
        assert_eq!(inner.call_count(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn bounded_gives_up_after_max_retries_with_the_last_error() {
    let inner = Scripted::new([
        transient("one"),
        transient("two"),
        transient("three"),
        transient("four"),
        ok(),
    ]);
    let retry = RetryLayer::new(Bounded(3), backoff()).layer(Arc::clone(&inner));
    let error = retry
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        inner.call_count(),
        4,
        "one attempt plus max_retries retries"
    );
    assert_eq!(error, HandlerError::transient("four"));
}

#[tokio::test(start_paused = true)]
async fn bounded_zero_makes_a_single_attempt() {
    let inner = Scripted::new([transient("busy")]);
    let retry = RetryLayer::new(Bounded(0), backoff()).layer(Arc::clone(&inner));
    let result = retry
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert!(result.is_err());
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn waits_between_attempts_stay_within_the_backoff_bounds() {
    let inner = Scripted::new((0..8).map(|_| transient("busy")));
    let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));
    retry
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap();

    let calls = inner.calls();
    assert_eq!(calls.len(), 9);
    for (retry, pair) in calls.windows(2).enumerate() {
        let waited = pair[1].at - pair[0].at;
        let ceiling = backoff().ceiling(u32::try_from(retry).unwrap());
        assert!(
            waited <= ceiling,
            "retry {retry}: waited {waited:?} > {ceiling:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_next_attempt_waits_for_the_backoff_step_by_step() {
    let inner = Scripted::new([transient("busy")]);
    let retry = RetryLayer::new(RetryForever, Backoff::new(BASE, BASE)).layer(Arc::clone(&inner));
    let mut run = retry.on_message(context("k").0, message("k", json!({})));

    assert!(poll!(&mut run).is_pending(), "sleeping before the retry");
    assert_eq!(inner.call_count(), 1);
    tokio::time::advance(BASE).await;
    assert_eq!(poll!(&mut run), std::task::Poll::Ready(Ok(())));
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_a_backoff_sleep_and_forbids_the_commit() {
    let hour = Duration::from_secs(3600);
    let inner = Scripted::new([transient("busy")]);
    let retry = RetryLayer::new(RetryForever, Backoff::new(hour, hour)).layer(Arc::clone(&inner));
    let error = error_once_cancelled(&retry, "k").await;
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(error.message().contains("busy"), "{error}");
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_context_gets_no_further_attempt() {
    let inner = Scripted::new([transient("busy")]);
    let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));
    let (ctx, token) = context("k");
    token.cancel();
    let error = retry
        .on_message(ctx, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn timers_are_retried_too() {
    let inner = Scripted::new([transient("busy"), transient("busy")]);
    let retry = RetryLayer::new(RetryForever, backoff()).layer(Arc::clone(&inner));
    retry.on_timer(context("k").0, timer("k")).await.unwrap();
    assert_eq!(inner.call_count(), 3);
}

#[test]
fn backoff_ceiling_doubles_from_base_up_to_the_cap() {
    let ceilings: Vec<_> = (0..6).map(|n| backoff().ceiling(n).as_millis()).collect();
    assert_eq!(ceilings, [100, 200, 400, 800, 800, 800]);
    assert_eq!(backoff().ceiling(u32::MAX), MAX);
    let huge = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
    assert_eq!(huge.ceiling(64), Duration::MAX);
}

#[test]
fn backoff_delays_are_jittered_below_the_ceiling() {
    let delays: Vec<_> = (0..1000).map(|_| backoff().delay(2)).collect();
    assert!(delays.iter().all(|delay| *delay < backoff().ceiling(2)));
    let low = delays
        .iter()
        .filter(|d| **d < Duration::from_millis(200))
        .count();
    assert!(
        (300..700).contains(&low),
        "{low} of 1000 below half the ceiling"
    );
    assert_eq!(Backoff::new(Duration::ZERO, MAX).delay(5), Duration::ZERO);
}

#[test]
fn the_default_policy_retries_only_transient_errors_within_the_bound() {
    let flaky = HandlerError::transient("x");
    assert!(Bounded(1).should_retry(&flaky, 0));
    assert!(!Bounded(1).should_retry(&flaky, 1));
    assert!(RetryForever.should_retry(&flaky, u32::MAX));
    assert!(!RetryForever.should_retry(&HandlerError::terminal("x"), 0));
    assert!(!Bounded(5).should_retry(&HandlerError::permanent("x"), 0));
}
