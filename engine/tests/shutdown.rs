//! Shutdown and stall detection: a handler that ignores cancellation cannot hang shutdown and
//! its offset stays uncommitted; a cooperative handler is cancelled at 80% of
//! `shutdown_timeout` and its result counts; a blocked handler marks the consumer stalled once
//! `stall_threshold` passes, and only then.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use support::{committed, consume, create_topic, eventually, produce, unique, Broker};

/// How the handler treats the message it blocks on (the one with `seq == BLOCK_AT`).
#[derive(Clone, Copy)]
enum Behaviour {
    /// Sleeps 60 s without looking at its context.
    IgnoreCancellation,
    /// Waits for `context.cancelled()` (or 60 s), then returns `Ok`.
    AwaitCancellation,
    /// Waits until the test releases it, without looking at its context.
    UntilReleased,
}

const BLOCK_AT: i64 = 2;

/// Handles messages with `seq < BLOCK_AT` at once and blocks on `seq == BLOCK_AT`.
#[derive(Clone)]
struct Gate {
    behaviour: Behaviour,
    state: Arc<GateState>,
}

#[derive(Default)]
struct GateState {
    finished: AtomicUsize,
    blocked_since: Mutex<Option<Instant>>,
    woke: Mutex<Option<(Instant, bool)>>,
    slept_through: AtomicBool,
    release: tokio::sync::Notify,
}

impl Gate {
    fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            state: Arc::default(),
        }
    }

    fn blocked_since(&self) -> Option<Instant> {
        *self.state.blocked_since.lock().unwrap()
    }

    fn woke(&self) -> Option<(Instant, bool)> {
        *self.state.woke.lock().unwrap()
    }

    fn finished(&self) -> usize {
        self.state.finished.load(Ordering::SeqCst)
    }
}

impl Handler for Gate {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let state = Arc::clone(&self.state);
        let behaviour = self.behaviour;
        Box::pin(async move {
            if message.payload()["seq"].as_i64() == Some(BLOCK_AT) {
                *state.blocked_since.lock().unwrap() = Some(Instant::now());
                match behaviour {
                    Behaviour::IgnoreCancellation => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        state.slept_through.store(true, Ordering::SeqCst);
                    }
                    Behaviour::AwaitCancellation => {
                        tokio::select! {
                            () = context.cancelled() => {}
                            () = tokio::time::sleep(Duration::from_secs(60)) => {
                                state.slept_through.store(true, Ordering::SeqCst);
                            }
                        }
                        *state.woke.lock().unwrap() =
                            Some((Instant::now(), context.should_cancel()));
                    }
                    Behaviour::UntilReleased => state.release.notified().await,
                }
            }
            state.finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// Produces seq 0, 1 and 2 for one key on a one-partition topic and starts a consumer whose
/// handler blocks on seq 2. Returns once it is blocked.
async fn start_blocked(
    broker: Broker,
    name: &str,
    gate: &Gate,
    options: &[(&str, &str)],
) -> (prosody_engine::Consumer, String, String) {
    let topic = unique(name);
    create_topic(broker, &topic, 1).await;
    produce(broker, &topic, 1, 3).await;
    let group = unique(&format!("{name}-group"));
    let mut all = vec![("commit_interval", "50ms")];
    all.extend_from_slice(options);
    let consumer = consume(broker, &group, &topic, &all, Arc::new(gate.clone()));
    assert!(
        eventually(Duration::from_secs(30), || gate.blocked_since().is_some()).await,
        "the handler never reached the blocking message"
    );
    assert_eq!(gate.finished(), BLOCK_AT as usize);
    (consumer, topic, group)
}

async fn ignored_cancellation_does_not_hang_shutdown(broker: Broker) {
    let gate = Gate::new(Behaviour::IgnoreCancellation);
    let (consumer, topic, group) = start_blocked(
        broker,
        "shutdown-ignore",
        &gate,
        &[("shutdown_timeout", "2s")],
    )
    .await;
    // Give the periodic commit a chance to commit offsets 0 and 1, so the final check shows
    // the watermark stopped exactly at the unfinished message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    consumer.shutdown().await;
    let elapsed = start.elapsed();
    eprintln!("{broker:?}: shutdown with a stuck handler took {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(10),
        "shutdown took {elapsed:?} with a 2 s shutdown_timeout"
    );
    assert!(
        elapsed >= Duration::from_millis(1500),
        "shutdown returned after {elapsed:?}, before the handler's grace period could end"
    );
    assert!(!gate.state.slept_through.load(Ordering::SeqCst));
    assert_eq!(gate.finished(), BLOCK_AT as usize);
    assert_eq!(
        committed(broker, &group, &topic, 1),
        vec![BLOCK_AT],
        "offsets before the stuck message are committed; the stuck one is not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_ignored_cancellation_does_not_hang_shutdown() {
    ignored_cancellation_does_not_hang_shutdown(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_ignored_cancellation_does_not_hang_shutdown() {
    ignored_cancellation_does_not_hang_shutdown(Broker::Real).await;
}

async fn cooperative_handler_is_cancelled_near_the_deadline(broker: Broker) {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let gate = Gate::new(Behaviour::AwaitCancellation);
    let (consumer, topic, group) = start_blocked(
        broker,
        "shutdown-cancel",
        &gate,
        &[("shutdown_timeout", "3s")],
    )
    .await;
    assert!(gate.woke().is_none(), "cancelled before shutdown began");
    let start = Instant::now();
    consumer.shutdown().await;
    let elapsed = start.elapsed();
    let (woke_at, should_cancel) = gate.woke().expect("the handler woke up");
    let woke = woke_at - start;
    eprintln!("{broker:?}: handler cancelled after {woke:?}; shutdown took {elapsed:?}");
    assert!(
        should_cancel,
        "should_cancel() is true once cancelled() resolves"
    );
    assert!(!gate.state.slept_through.load(Ordering::SeqCst));
    // Cancellation is due at 80% of the timeout (2.4 s).
    assert!(
        woke >= TIMEOUT.mul_f64(0.7) && woke <= TIMEOUT.mul_f64(0.9),
        "cancelled after {woke:?}; expected about {:?}",
        TIMEOUT.mul_f64(0.8)
    );
    // The handler returned, so shutdown did not wait for the full timeout.
    assert!(
        elapsed < TIMEOUT,
        "shutdown took {elapsed:?}, as if the handler had been dropped rather than finished"
    );
    assert_eq!(gate.finished(), BLOCK_AT as usize + 1);
    assert_eq!(
        committed(broker, &group, &topic, 1),
        vec![BLOCK_AT + 1],
        "a cancelled handler's successful result is committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cooperative_handler_is_cancelled_near_the_deadline() {
    cooperative_handler_is_cancelled_near_the_deadline(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cooperative_handler_is_cancelled_near_the_deadline() {
    cooperative_handler_is_cancelled_near_the_deadline(Broker::Real).await;
}

async fn blocked_handler_is_reported_as_stalled(broker: Broker) {
    let topic = unique("stall");
    create_topic(broker, &topic, 1).await;
    let group = unique("stall-group");
    let gate = Gate::new(Behaviour::UntilReleased);
    let consumer = consume(
        broker,
        &group,
        &topic,
        // `timeout` defaults to 80% of `stall_threshold`; the timeout middleware would then
        // fail and retry the blocked attempt, which is not what this test is about.
        &[
            ("stall_threshold", "1s"),
            ("timeout", "1m"),
            ("shutdown_timeout", "2s"),
        ],
        Arc::new(gate.clone()),
    );
    assert!(!consumer.is_stalled(), "stalled right after subscribe");
    assert!(
        eventually(Duration::from_secs(30), || consumer.assigned_partitions()
            == 1)
        .await,
        "never assigned"
    );
    // An idle partition is not stalled, however long it waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !consumer.is_stalled(),
        "an idle partition counts as stalled"
    );

    produce(broker, &topic, 1, 3).await;
    assert!(
        eventually(Duration::from_secs(30), || gate.blocked_since().is_some()).await,
        "the handler never reached the blocking message"
    );
    let blocked_at = gate.blocked_since().unwrap();
    let deadline = blocked_at + Duration::from_secs(5);
    let mut stalled_after = None;
    while Instant::now() < deadline {
        let sampled_at = Instant::now();
        if consumer.is_stalled() {
            stalled_after = Some(sampled_at - blocked_at);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stalled_after = stalled_after.expect("a handler blocked for 5 s never counted as stalled");
    eprintln!("{broker:?}: stalled {stalled_after:?} after the handler blocked");
    // The stall clock starts when the message is taken, a moment before the handler starts.
    assert!(
        stalled_after >= Duration::from_millis(950),
        "stalled after only {stalled_after:?} with a 1 s threshold"
    );
    assert!(
        stalled_after <= Duration::from_millis(2000),
        "stall reported late: {stalled_after:?}"
    );

    gate.state.release.notify_one();
    assert!(
        eventually(Duration::from_secs(5), || !consumer.is_stalled()).await,
        "still stalled after the handler finished"
    );
    assert_eq!(gate.finished(), 3);
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_blocked_handler_is_reported_as_stalled() {
    blocked_handler_is_reported_as_stalled(Broker::Mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_blocked_handler_is_reported_as_stalled() {
    blocked_handler_is_reported_as_stalled(Broker::Real).await;
}
