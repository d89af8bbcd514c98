//! The coalescer in `coalesce.rs`, driven by a scripted statement on a current-thread runtime,
//! so every queued caller has run before a statement is let through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::coalesce::{Coalescer, Flush, Limits};
use super::DedupKey;
use crate::error::{Error, Result};

/// A statement that records the keys of each batch, waits for a pass from `gate`, then
/// answers whether each key is "found" (an even hash), or fails when scripted to.
#[derive(Clone)]
struct Scripted {
    batches: Arc<Mutex<Vec<Vec<DedupKey>>>>,
    gate: Arc<Semaphore>,
    /// Batch numbers (0-based) that fail.
    failing: Arc<Mutex<Vec<usize>>>,
    /// Set once a batch got its pass: what a write's caller must not outrun.
    written: Arc<AtomicBool>,
}

impl Default for Scripted {
    fn default() -> Self {
        Self {
            batches: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            failing: Arc::default(),
            written: Arc::default(),
        }
    }
}

impl Scripted {
    fn batches(&self) -> Vec<Vec<DedupKey>> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Flush for Scripted {
    type Output = bool;
    const OPERATION: &'static str = "dedup test";

    fn flush(&self, keys: Vec<DedupKey>) -> BoxFuture<'_, std::result::Result<Vec<bool>, String>> {
        let number = {
            let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
            batches.push(keys.clone());
            batches.len() - 1
        };
        Box::pin(async move {
            let pass = self.gate.acquire().await.map_err(|e| e.to_string())?;
            pass.forget();
            self.written.store(true, Ordering::SeqCst);
            let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
            if failing.contains(&number) {
                return Err("no hosts".into());
            }
            Ok(keys
                .iter()
                .map(|key| key.as_u128().is_multiple_of(2))
                .collect())
        })
    }
}

fn key(n: u32) -> DedupKey {
    DedupKey::new("g", "t", "k", &n.to_string(), "v")
}

const LIMITS: Limits = Limits {
    batch: 64,
    in_flight: 1,
    queue: 256,
};

/// Lets every ready task run (a current-thread runtime runs them all on each yield).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn spawn_calls(
    coalescer: &Coalescer<Scripted>,
    keys: impl IntoIterator<Item = DedupKey>,
) -> Vec<(DedupKey, JoinHandle<Result<bool>>)> {
    keys.into_iter()
        .map(|key| {
            let coalescer = coalescer.clone();
            (key, tokio::spawn(async move { coalescer.call(key).await }))
        })
        .collect()
}

#[tokio::test]
async fn concurrent_lookups_share_one_statement_and_each_gets_its_own_answer() {
    let statement = Scripted::default();
    let coalescer = Coalescer::start(statement.clone(), LIMITS).unwrap();
    // The first key goes out alone and holds the only slot while 40 more queue behind it.
    let mut calls = spawn_calls(&coalescer, [key(0)]);
    settle().await;
    calls.extend(spawn_calls(&coalescer, (1..=40).map(key)));
    settle().await;
    statement.gate.add_permits(10);
    for (key, call) in calls {
        let found = call.await.unwrap().unwrap();
        assert_eq!(
            found,
            key.as_u128().is_multiple_of(2),
            "{key:?} got its own answer"
        );
    }
    let sizes: Vec<usize> = statement.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 40], "41 callers, two statements");
}

#[tokio::test]
async fn a_batch_holds_at_most_its_limit_of_keys() {
    let statement = Scripted::default();
    let limits = Limits {
        batch: 16,
        ..LIMITS
    };
    let coalescer = Coalescer::start(statement.clone(), limits).unwrap();
    let mut calls = spawn_calls(&coalescer, [key(0)]);
    settle().await;
    calls.extend(spawn_calls(&coalescer, (1..=40).map(key)));
    settle().await;
    statement.gate.add_permits(10);
    for (_, call) in calls {
        call.await.unwrap().unwrap();
    }
    let sizes: Vec<usize> = statement.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 16, 16, 8]);
}

#[tokio::test]
async fn a_failed_batch_fails_every_caller_in_it_with_a_transient_error() {
    let statement = Scripted::default();
    statement
        .failing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(1);
    let coalescer = Coalescer::start(statement.clone(), LIMITS).unwrap();
    let first = spawn_calls(&coalescer, [key(0)]);
    settle().await;
    let failed = spawn_calls(&coalescer, (1..=5).map(key));
    settle().await;
    statement.gate.add_permits(10);
    for (_, call) in first {
        assert!(call.await.unwrap().is_ok(), "the first batch succeeded");
    }
    for (_, call) in failed {
        let error = call.await.unwrap().unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert_eq!(error.to_string(), "cassandra dedup test failed: no hosts");
    }
    // The coalescer carries on after a failure.
    statement.gate.add_permits(1);
    let after = coalescer.call(key(2)).await.unwrap();
    assert_eq!(after, key(2).as_u128().is_multiple_of(2));
}

#[tokio::test]
async fn a_caller_is_not_released_before_its_batch_is_written() {
    let statement = Scripted::default();
    let coalescer = Coalescer::start(statement.clone(), LIMITS).unwrap();
    let calls = spawn_calls(&coalescer, [key(0), key(1)]);
    settle().await;
    for (_, call) in &calls {
        assert!(!call.is_finished(), "waits for the statement");
    }
    assert!(!statement.written.load(Ordering::SeqCst));
    statement.gate.add_permits(10);
    for (_, call) in calls {
        call.await.unwrap().unwrap();
        assert!(
            statement.written.load(Ordering::SeqCst),
            "released after the write"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_lone_key_goes_out_at_once_without_waiting_for_company() {
    let statement = Scripted::default();
    statement.gate.add_permits(1);
    let coalescer = Coalescer::start(statement.clone(), LIMITS).unwrap();
    let start = tokio::time::Instant::now();
    coalescer.call(key(0)).await.unwrap();
    assert_eq!(
        start.elapsed(),
        std::time::Duration::ZERO,
        "no timer on the way"
    );
    assert_eq!(statement.batches().len(), 1);
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let error = Coalescer::start(Scripted::default(), LIMITS)
        .err()
        .map(|error: Error| error.is_transient());
    assert_eq!(error, Some(true));
}

#[test]
fn callers_fail_once_the_task_is_gone() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let coalescer = runtime
        .block_on(async { Coalescer::start(Scripted::default(), LIMITS) })
        .unwrap();
    // Shutting the runtime down drops the task, and with it the queue's receiving end.
    drop(runtime);
    let error = futures::executor::block_on(coalescer.call(key(0))).unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("stopped"), "{error}");
}

// Reads started early (`lookahead.rs`): what `Handler::prefetch` starts for the dedup store.

use super::lookahead::Reads;

#[tokio::test]
async fn an_early_read_answers_the_attempt_without_a_second_statement() {
    let statement = Scripted::default();
    let reads = Reads::new(Coalescer::start(statement.clone(), LIMITS).unwrap(), 16);
    let keys = [key(1), key(2)];
    for key in keys {
        reads.start(key);
    }
    settle().await;
    statement.gate.add_permits(10);
    for key in keys {
        assert_eq!(
            reads.read(key).await.unwrap(),
            key.as_u128().is_multiple_of(2)
        );
    }
    // Both were queued before the flush task ran: one statement, and no more from `read`.
    assert_eq!(statement.batches(), [[key(1), key(2)]]);
}

#[tokio::test]
async fn a_read_with_nothing_parked_asks_itself_and_an_answer_is_used_once() {
    let statement = Scripted::default();
    let reads = Reads::new(Coalescer::start(statement.clone(), LIMITS).unwrap(), 16);
    statement.gate.add_permits(10);
    reads.start(key(1));
    assert_eq!(
        reads.read(key(1)).await.unwrap(),
        key(1).as_u128().is_multiple_of(2)
    );
    // The parked answer was taken: a retry of the same key reads again.
    assert_eq!(
        reads.read(key(1)).await.unwrap(),
        key(1).as_u128().is_multiple_of(2)
    );
    assert_eq!(
        reads.read(key(3)).await.unwrap(),
        key(3).as_u128().is_multiple_of(2)
    );
    assert_eq!(statement.batches(), [[key(1)], [key(1)], [key(3)]]);
}

#[tokio::test]
async fn a_failed_early_read_fails_the_attempt_that_takes_it() {
    let statement = Scripted::default();
    statement
        .failing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(0);
    let reads = Reads::new(Coalescer::start(statement.clone(), LIMITS).unwrap(), 16);
    reads.start(key(1));
    statement.gate.add_permits(10);
    let error = reads.read(key(1)).await.unwrap_err();
    assert!(matches!(error, Error::Cassandra { .. }), "{error}");
    assert_eq!(statement.batches().len(), 1, "no second statement");
}

#[tokio::test]
async fn starting_a_read_never_waits_for_a_full_queue() {
    let statement = Scripted::default();
    let limits = Limits { queue: 1, ..LIMITS };
    let reads = Reads::new(Coalescer::start(statement.clone(), limits).unwrap(), 16);
    // key 0 runs (the statement holds it at the gate) and key 1 fills the queue: key 2 finds
    // no room, and `start` returns at once without parking it.
    reads.start(key(0));
    settle().await;
    reads.start(key(1));
    reads.start(key(2));
    statement.gate.add_permits(10);
    for n in 0..3 {
        assert_eq!(
            reads.read(key(n)).await.unwrap(),
            key(n).as_u128().is_multiple_of(2)
        );
    }
    let batches = statement.batches();
    assert_eq!(batches.concat(), [key(0), key(1), key(2)]);
    assert_eq!(batches[0], [key(0)]);
}
