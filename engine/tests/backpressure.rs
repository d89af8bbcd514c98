//! Backpressure: with a slow handler the consumer never holds more than `max_uncommitted`
//! messages and still handles everything. A consumer that is full but still finishing messages
//! keeps its assignment fetching (a pause would throw its prefetch away, to fetch it again on
//! resume); one that stalls pauses, and resumes once its handlers move again.

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use support::{consume, create_topic, eventually, produce, unique, Broker, Recorder, Slow};
use tokio::sync::watch;

const PARTITIONS: i32 = 4;
const KEYS: usize = 500;
// About 2.5 MiB per partition on the mock cluster, well under its 5 MiB retention.
const MESSAGES: usize = 50_000;
const MAX_UNCOMMITTED: usize = 64;

async fn slow_handler_is_bounded_and_complete(broker: Broker) {
    let topic = unique("backpressure");
    create_topic(broker, &topic, PARTITIONS).await;
    let sent = produce(broker, &topic, KEYS, MESSAGES).await;
    let group = unique("backpressure-group");
    let recorder = Recorder::default();
    let handler = Slow {
        inner: recorder.clone(),
        delay: Duration::from_millis(1),
    };
    let max = MAX_UNCOMMITTED.to_string();
    // Full for several of these in a row, yet always finishing something within one: the
    // consumer has no reason to pause.
    let options = [
        ("max_uncommitted", max.as_str()),
        ("max_concurrency", "32"),
        ("poll_interval", "500ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(handler));
    let start = Instant::now();
    recorder.wait_for(MESSAGES, Duration::from_secs(60)).await;
    let elapsed = start.elapsed();
    let stats = consumer.stats();
    let peak = stats.peak_in_flight.load(Ordering::SeqCst);
    let pauses = stats.pauses.load(Ordering::SeqCst);
    let resumes = stats.resumes.load(Ordering::SeqCst);
    eprintln!(
        "{broker:?}: {MESSAGES} messages in {elapsed:?} ({:.0} msg/s), peak in flight {peak}, \
         {pauses} pauses, {resumes} resumes",
        MESSAGES as f64 / elapsed.as_secs_f64()
    );
    consumer.shutdown().await;

    assert_eq!(
        recorder.handled(),
        MESSAGES,
        "each message handled exactly once"
    );
    let seen = recorder.by_key();
    let expected: HashMap<String, Vec<i64>> = sent
        .into_iter()
        .map(|(key, count)| (key, (0..count).collect()))
        .collect();
    assert_eq!(seen.len(), expected.len());
    for (key, seqs) in &expected {
        assert_eq!(seen.get(key), Some(seqs), "messages for {key}");
    }
    assert!(
        peak <= MAX_UNCOMMITTED,
        "peak in flight {peak} exceeds max_uncommitted {MAX_UNCOMMITTED}"
    );
    assert!(
        peak >= MAX_UNCOMMITTED / 2,
        "peak in flight {peak}: the consumer never came near its limit, so this test proves nothing"
    );
    assert_eq!(
        (pauses, resumes),
        (0, 0),
        "a full consumer that keeps finishing messages must keep fetching"
    );
}

/// Holds every message until the gate opens.
#[derive(Clone)]
struct Gated {
    inner: Recorder,
    open: watch::Receiver<bool>,
}

impl Handler for Gated {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let mut open = self.open.clone();
        let inner = self.inner.on_message(context, message);
        Box::pin(async move {
            let _ = open.wait_for(|open| *open).await;
            inner.await
        })
    }
}

async fn stalled_consumer_pauses_then_resumes(broker: Broker) {
    const STALLED_MESSAGES: usize = 2_000;
    let topic = unique("stall");
    create_topic(broker, &topic, PARTITIONS).await;
    produce(broker, &topic, KEYS, STALLED_MESSAGES).await;
    let recorder = Recorder::default();
    let (gate, open) = watch::channel(false);
    let handler = Gated {
        inner: recorder.clone(),
        open,
    };
    let max = MAX_UNCOMMITTED.to_string();
    let options = [("max_uncommitted", max.as_str()), ("poll_interval", "50ms")];
    let consumer = consume(
        broker,
        &unique("stall-group"),
        &topic,
        &options,
        Arc::new(handler),
    );
    let stats = consumer.stats();
    let paused = eventually(Duration::from_secs(30), || {
        stats.pauses.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert!(paused, "a consumer full of stuck handlers must pause");
    assert_eq!(recorder.handled(), 0, "the gate held every handler");
    assert_eq!(stats.resumes.load(Ordering::SeqCst), 0);

    gate.send_replace(true);
    recorder
        .wait_for(STALLED_MESSAGES, Duration::from_secs(60))
        .await;
    let (pauses, resumes) = (
        stats.pauses.load(Ordering::SeqCst),
        stats.resumes.load(Ordering::SeqCst),
    );
    consumer.shutdown().await;
    assert_eq!(recorder.handled(), STALLED_MESSAGES);
    assert!(resumes >= 1, "a paused consumer must resume once it moves");
    assert!(
        resumes == pauses || resumes + 1 == pauses,
        "pauses ({pauses}) and resumes ({resumes}) must alternate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_stalled_consumer_pauses_then_resumes() {
    stalled_consumer_pauses_then_resumes(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_stalled_consumer_pauses_then_resumes() {
    stalled_consumer_pauses_then_resumes(Broker::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_slow_handler_is_bounded_and_complete() {
    slow_handler_is_bounded_and_complete(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_slow_handler_is_bounded_and_complete() {
    slow_handler_is_bounded_and_complete(Broker::Real).await;
}

/// A consumer taking over a group's backlog on a busy machine. Its first assignment is where
/// records used to reach the poll thread through librdkafka's main queue (fetching had started
/// before the partition's queue was split): they bypassed `max_uncommitted`, overfilled the
/// partition's channel and arrived after newer records, so some were never handled while their
/// offsets were committed. Several takeovers run at once to keep both cores busy.
async fn takeover_under_load_is_bounded_and_complete(broker: Broker) {
    const SCENARIOS: usize = 6;
    const BACKLOG: usize = 2_000;
    let max = MAX_UNCOMMITTED.to_string();
    let options = [
        ("max_uncommitted", max.as_str()),
        ("commit_interval", "50ms"),
    ];
    let takeover = |_| async move {
        let topic = unique("takeover");
        create_topic(broker, &topic, PARTITIONS).await;
        let sent = produce(broker, &topic, 50, BACKLOG).await;
        let group = unique("takeover-group");
        let first = Recorder::with_delay(2);
        let consumer = consume(broker, &group, &topic, &options, Arc::new(first.clone()));
        first.wait_for(BACKLOG / 2, Duration::from_secs(60)).await;
        consumer.shutdown().await;
        let second = Recorder::default();
        let consumer = consume(broker, &group, &topic, &options, Arc::new(second.clone()));
        let everything: usize = sent.values().map(|&n| n as usize).sum();
        let union = || {
            first
                .pairs()
                .into_iter()
                .chain(second.pairs())
                .collect::<std::collections::HashSet<_>>()
                .len()
        };
        let complete = eventually(Duration::from_secs(30), || union() == everything).await;
        let peak = consumer.stats().peak_in_flight.load(Ordering::SeqCst);
        consumer.shutdown().await;
        (complete, union(), peak)
    };
    let results = futures::future::join_all((0..SCENARIOS).map(takeover)).await;
    for (index, (complete, handled, peak)) in results.into_iter().enumerate() {
        assert!(
            complete,
            "takeover {index}: {handled} of {BACKLOG} messages handled"
        );
        assert!(
            peak <= MAX_UNCOMMITTED,
            "takeover {index}: peak in flight {peak} exceeds max_uncommitted {MAX_UNCOMMITTED}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_takeover_under_load_is_bounded_and_complete() {
    takeover_under_load_is_bounded_and_complete(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_takeover_under_load_is_bounded_and_complete() {
    takeover_under_load_is_bounded_and_complete(Broker::Real).await;
}
