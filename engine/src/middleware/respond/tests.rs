use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde_json::json;

use super::{RespondLayer, ALREADY_HANDLED};
use crate::error::{HandlerError, Result};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::middleware::test_support::{context, message_with, timer};
use crate::middleware::{
    Backoff, Bounded, DedupLayer, Layer, MemoryDedupStore, ReplySink, RetryLayer,
};
use crate::request::headers::{millis_since_epoch, RequestHeaders};
use crate::request::Answer;

/// Keeps every answer, with where it went.
#[derive(Default)]
struct Answers(Mutex<Vec<(String, i32, Answer)>>);

impl Answers {
    fn taken(&self) -> Vec<(String, i32, Answer)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ReplySink for Answers {
    fn reply<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<()>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((
            topic.to_owned(),
            partition,
            answer.clone(),
        ));
        Box::pin(async { Ok(()) })
    }
}

/// Answers each call with its call number, after failing the first `failures` calls with
/// the given results.
struct Responder {
    failures: Mutex<Vec<std::result::Result<(), HandlerError>>>,
    calls: Mutex<u32>,
    saw_request: Mutex<Vec<bool>>,
}

impl Responder {
    fn new(failures: Vec<std::result::Result<(), HandlerError>>) -> Arc<Self> {
        Arc::new(Self {
            failures: Mutex::new(failures.into_iter().rev().collect()),
            calls: Mutex::new(0),
            saw_request: Mutex::default(),
        })
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Handler for Responder {
    fn on_message(&self, context: Context, _message: Message) -> HandlerFuture {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            *calls += 1;
            *calls
        };
        self.saw_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(context.answers_request());
        context.respond(json!({"call": call}));
        let result = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or(Ok(()));
        Box::pin(async move { result })
    }

    fn on_timer(&self, context: Context, _timer: Timer) -> HandlerFuture {
        context.respond(json!("from a timer"));
        Box::pin(async { Ok(()) })
    }
}

fn request(awaited: &[&str], deadline: SystemTime) -> Vec<(String, String)> {
    RequestHeaders {
        id: "8c1f0e52-0000-4000-8000-000000000001".into(),
        reply_topic: "prosody.replies".into(),
        reply_partition: 5,
        deadline_ms: millis_since_epoch(deadline),
        awaited: awaited.iter().map(|name| (*name).to_owned()).collect(),
    }
    .encode()
    .into_iter()
    .map(|(name, value)| {
        (
            name.to_owned(),
            String::from_utf8(value).unwrap_or_default(),
        )
    })
    .collect()
}

fn soon() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn request_message(headers: &[(String, String)], payload: serde_json::Value) -> Message {
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    message_with("k", payload, &borrowed)
}

fn layer(answers: &Arc<Answers>) -> RespondLayer {
    RespondLayer::new("billing", Arc::clone(answers) as Arc<dyn ReplySink>)
}

fn body(answer: &Answer) -> std::result::Result<serde_json::Value, String> {
    answer
        .body
        .clone()
        .map(|json| serde_json::from_slice(&json).unwrap_or_default())
}

#[tokio::test]
async fn a_success_answers_the_handlers_value_where_the_request_says() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let handler = layer(&answers).layer(Arc::clone(&inner));

    let message = request_message(&request(&["shipping", "billing"], soon()), json!({}));
    assert_eq!(handler.on_message(context("k").0, message).await, Ok(()));

    let taken = answers.taken();
    assert_eq!(taken.len(), 1);
    let (topic, partition, answer) = &taken[0];
    assert_eq!((topic.as_str(), *partition), ("prosody.replies", 5));
    assert_eq!(answer.subsystem, "billing");
    assert_eq!(answer.request_id, "8c1f0e52-0000-4000-8000-000000000001");
    assert_eq!(body(answer), Ok(json!({"call": 1})));
    let headers: Vec<(&str, &[u8])> = answer.headers().to_vec();
    assert!(headers.contains(&("prosody-outcome", b"success".as_slice())));
    assert!(headers.contains(&("prosody-reply-format", b"json/1".as_slice())));
}

#[tokio::test]
async fn messages_that_ask_other_subsystems_or_none_pass_unanswered() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let handler = layer(&answers).layer(Arc::clone(&inner));

    let other = request_message(&request(&["shipping"], soon()), json!({}));
    assert_eq!(handler.on_message(context("k").0, other).await, Ok(()));
    let plain = message_with("k", json!({}), &[]);
    assert_eq!(handler.on_message(context("k").0, plain).await, Ok(()));

    assert!(answers.taken().is_empty());
    assert_eq!(
        *inner
            .saw_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        vec![false, false]
    );
}

#[tokio::test]
async fn a_permanent_failure_answers_its_message() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![Err(HandlerError::permanent("no such order"))]);
    let handler = layer(&answers).layer(Arc::clone(&inner));

    let message = request_message(&request(&["billing"], soon()), json!({}));
    let result = handler.on_message(context("k").0, message).await;
    assert!(result.is_err());

    let taken = answers.taken();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].2.body, Err("no such order".to_owned()));
}

#[tokio::test]
async fn deferred_and_terminal_outcomes_answer_nothing() {
    for error in [
        HandlerError::transient("down").deferred(),
        HandlerError::terminal("shutting down"),
    ] {
        let answers = Arc::new(Answers::default());
        let inner = Responder::new(vec![Err(error)]);
        let handler = layer(&answers).layer(Arc::clone(&inner));
        let message = request_message(&request(&["billing"], soon()), json!({}));
        assert!(handler.on_message(context("k").0, message).await.is_err());
        assert!(answers.taken().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_retried_twice_then_handled_gets_one_answer_from_the_last_attempt() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![
        Err(HandlerError::transient("blip")),
        Err(HandlerError::transient("blip")),
    ]);
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    let retried =
        RetryLayer::new(Bounded(5), backoff).layer(Arc::clone(&inner) as Arc<dyn Handler>);
    let handler = layer(&answers).layer(Arc::new(retried));

    let message = request_message(&request(&["billing"], soon()), json!({}));
    assert_eq!(handler.on_message(context("k").0, message).await, Ok(()));

    assert_eq!(inner.calls(), 3);
    let taken = answers.taken();
    assert_eq!(taken.len(), 1, "one answer, from the final attempt");
    assert_eq!(body(&taken[0].2), Ok(json!({"call": 3})));
}

#[tokio::test]
async fn malformed_request_headers_are_counted_and_the_message_is_still_handled() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let layer = layer(&answers);
    let handler = layer.layer(Arc::clone(&inner));

    let mut headers = request(&["billing"], soon());
    headers.retain(|(name, _)| name != "prosody-reply-topic");
    let missing = request_message(&headers, json!({}));
    assert_eq!(handler.on_message(context("k").0, missing).await, Ok(()));
    let mut headers = request(&["billing"], soon());
    headers.push(("prosody-reply-partition".into(), "6".into()));
    let repeated = request_message(&headers, json!({}));
    assert_eq!(handler.on_message(context("k").0, repeated).await, Ok(()));

    assert_eq!(inner.calls(), 2);
    assert!(answers.taken().is_empty());
    assert_eq!(layer.metrics().rejected_total("missing"), 1);
    assert_eq!(layer.metrics().rejected_total("repeated"), 1);
}

#[tokio::test]
async fn an_answer_past_the_deadline_is_not_written() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let handler = layer(&answers).layer(Arc::clone(&inner));

    let past = SystemTime::now() - Duration::from_secs(1);
    let message = request_message(&request(&["billing"], past), json!({}));
    assert_eq!(handler.on_message(context("k").0, message).await, Ok(()));
    assert_eq!(inner.calls(), 1);
    assert!(answers.taken().is_empty());
}

#[tokio::test]
async fn timers_never_answer() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let handler = layer(&answers).layer(Arc::clone(&inner));
    assert_eq!(handler.on_timer(context("k").0, timer("k")).await, Ok(()));
    assert!(answers.taken().is_empty());
}

#[tokio::test]
async fn a_request_skipped_as_a_duplicate_says_so() {
    let answers = Arc::new(Answers::default());
    let inner = Responder::new(vec![]);
    let dedup = DedupLayer::new(Arc::new(MemoryDedupStore::new(16)), "billing", "v1")
        .layer(Arc::clone(&inner) as Arc<dyn Handler>);
    let handler = layer(&answers).layer(Arc::new(dedup));

    let headers = request(&["billing"], soon());
    for _ in 0..2 {
        let message = request_message(&headers, json!({"id": "e-1"}));
        assert_eq!(handler.on_message(context("k").0, message).await, Ok(()));
    }

    assert_eq!(inner.calls(), 1);
    let taken = answers.taken();
    assert_eq!(taken.len(), 2);
    assert_eq!(body(&taken[0].2), Ok(json!({"call": 1})));
    assert_eq!(taken[1].2.body, Err(ALREADY_HANDLED.to_owned()));
}

#[test]
fn the_prefetch_hint_passes_through() {
    let answers = Arc::new(Answers::default());
    let inner = crate::middleware::test_support::Scripted::new([]);
    let handler = layer(&answers).layer(Arc::clone(&inner));
    handler.prefetch(&request_message(&request(&["billing"], soon()), json!({})));
    assert_eq!(inner.prefetched(), [7]);
}
