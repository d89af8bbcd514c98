use std::sync::Arc;
use std::time::Duration;

use futures::poll;
use serde_json::json;

use super::TimeoutLayer;
use crate::error::{ErrorClass, HandlerError};
use crate::handler::Handler;
use crate::middleware::test_support::{
    context, error_once_cancelled, message, ok, timer, Scripted, Step,
};
use crate::middleware::Layer;

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test(start_paused = true)]
async fn a_handler_within_the_deadline_keeps_its_result() {
    let inner = Scripted::new([
        Step::Sleep(LIMIT - Duration::from_millis(1), Ok(())),
        Step::Sleep(Duration::from_secs(1), Err(HandlerError::permanent("bad"))),
    ]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let msg = || message("k", json!({}));

    assert_eq!(timeout.on_message(context("k").0, msg()).await, Ok(()));
    let error = timeout.on_message(context("k").0, msg()).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert!(!inner.calls()[0].context.should_cancel());
}

#[tokio::test(start_paused = true)]
async fn expiry_cancels_the_handler_context_and_fails_transiently() {
    let inner = Scripted::new([Step::UntilCancelled(Err(HandlerError::transient(
        "stopped",
    )))]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let (parent, _token) = context("k");
    let mut run = timeout.on_message(parent.clone(), message("k", json!({})));

    assert!(poll!(&mut run).is_pending());
    let seen = inner.calls()[0].context.clone();
    tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
    assert!(poll!(&mut run).is_pending());
    assert!(!seen.should_cancel());

    tokio::time::advance(Duration::from_millis(1)).await;
    let error = run.await.unwrap_err();
    assert!(seen.should_cancel());
    assert!(
        !parent.should_cancel(),
        "only the event's child context is cancelled"
    );
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.message(), "handler timed out after 10s (timeout)");
}

#[tokio::test(start_paused = true)]
async fn after_expiry_the_layer_waits_for_the_handler_to_stop() {
    let grace = Duration::from_secs(3);
    let inner = Scripted::new([Step::Sleep(
        LIMIT + grace,
        Err(HandlerError::transient("late")),
    )]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let started = tokio::time::Instant::now();

    let error = timeout
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), LIMIT + grace);
    assert_eq!(error.class(), ErrorClass::Transient);
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_stops_and_returns_after_expiry_succeeds() {
    // As a Ruby handler that rescues Async::Stop and returns: no retry, the offset commits.
    let inner = Scripted::new([Step::UntilCancelled(Ok(()))]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let started = tokio::time::Instant::now();

    let outcome = timeout
        .on_message(context("k").0, message("k", json!({})))
        .await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(started.elapsed(), LIMIT);
    assert!(inner.calls()[0].context.should_cancel());
}

#[tokio::test(start_paused = true)]
async fn a_terminal_error_after_expiry_stays_terminal() {
    let inner = Scripted::new([Step::UntilCancelled(Err(HandlerError::terminal("stop")))]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let error = timeout
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Terminal);
}

#[tokio::test(start_paused = true)]
async fn each_event_gets_its_own_child_context() {
    let inner = Scripted::new([Step::UntilCancelled(Ok(())), ok()]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let (parent, _token) = context("k");

    let _ = timeout
        .on_message(parent.clone(), message("k", json!({})))
        .await;
    timeout
        .on_message(parent, message("k", json!({})))
        .await
        .unwrap();
    let calls = inner.calls();
    assert!(calls[0].context.should_cancel());
    assert!(!calls[1].context.should_cancel());
}

#[tokio::test(start_paused = true)]
async fn partition_cancellation_reaches_the_child_context() {
    let inner = Scripted::new([Step::UntilCancelled(Err(HandlerError::transient(
        "stopped",
    )))]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let error = error_once_cancelled(&timeout, "k").await;
    assert_eq!(error.message(), "stopped");
}

#[tokio::test(start_paused = true)]
async fn timers_are_timed_out_too() {
    let inner = Scripted::new([Step::UntilCancelled(Err(HandlerError::transient(
        "stopped",
    )))]);
    let timeout = TimeoutLayer::new(LIMIT).layer(Arc::clone(&inner));
    let error = timeout
        .on_timer(context("k").0, timer("k"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
}
