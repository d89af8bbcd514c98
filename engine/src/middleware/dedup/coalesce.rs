//! Coalesces concurrent dedup reads (or writes) into a few statements.
//!
//! Each caller queues its key with a reply slot and waits for the answer of the batch that
//! carries its key: a read learns whether its key was found, a write is released only once the
//! statement that wrote its key returned. One task per [`Coalescer`] takes the queue: as soon as
//! it holds a key and fewer than [`Limits::in_flight`] batches are running, it takes every key
//! already queued (up to [`Limits::batch`]) and runs them as one statement. There is no timer,
//! so a lone key goes out at once; keys that arrive while batches run wait for a free slot, so
//! batches grow with load and Cassandra answers fewer, larger statements.
//!
//! A batch that fails fails every caller in it, each with an [`Error::Cassandra`] naming the
//! operation, which the [`Dedup`](super::Dedup) layer turns into a transient handler error.
//!
//! # Backpressure
//!
//! The queue is bounded ([`Limits::queue`] calls). Its callers are one consumer's handler
//! attempts, each waiting on one key at a time, and lookups started early for received messages
//! (at most one each), so it holds at most twice `max_uncommitted` calls. A burst beyond its
//! room waits in [`Coalescer::call`] rather than being dropped; [`Coalescer::start_call`], which
//! must not wait, gives up instead, and the attempt asks again when it runs.
//!
//! # Shutdown
//!
//! The task owns the receiving end and ends once every [`Coalescer`] handle is gone (the store
//! was dropped) and the queue is empty, after answering what was queued and waiting for running
//! batches. A caller that stops waiting (its handler was cancelled) leaves its key in its batch,
//! which is harmless. If the task is gone (its runtime shut down), a call fails with
//! [`Error::Cassandra`], a transient error.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::DedupKey;
use crate::error::{Error, Result};

/// One statement over a batch of keys.
pub(super) trait Flush: Send + Sync + 'static {
    /// What each caller learns about its key.
    type Output: Send + 'static;

    /// What the statement does, named in errors (`dedup read`).
    const OPERATION: &'static str;

    /// Runs one statement for `keys`, answering each key in order, or the driver's message.
    fn flush(
        &self,
        keys: Vec<DedupKey>,
    ) -> BoxFuture<'_, std::result::Result<Vec<Self::Output>, String>>;
}

/// How large batches get and how many run at once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Keys in one statement at most.
    pub(super) batch: usize,
    /// Statements running at once at most; more keys wait in the queue meanwhile.
    pub(super) in_flight: usize,
    /// Queued calls at most before a caller waits for room.
    pub(super) queue: usize,
}

/// A queued key and where its answer goes.
struct Call<O> {
    key: DedupKey,
    reply: oneshot::Sender<Result<O>>,
}

/// A handle on one flush task; cloning shares the task.
pub(super) struct Coalescer<F: Flush> {
    calls: mpsc::Sender<Call<F::Output>>,
}

impl<F: Flush> Clone for Coalescer<F> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
        }
    }
}

impl<F: Flush> Coalescer<F> {
    /// Starts the flush task for `flush` on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Cassandra`] when called outside a Tokio runtime.
    pub(super) fn start(flush: F, limits: Limits) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| Error::Cassandra {
            operation: F::OPERATION,
            reason: e.to_string(),
        })?;
        let (calls, queue) = mpsc::channel(limits.queue.max(1));
        runtime.spawn(run(flush, queue, limits));
        Ok(Self { calls })
    }

    /// The answer for `key`, once the batch carrying it returned.
    ///
    /// # Errors
    ///
    /// [`Error::Cassandra`] when the batch failed or the task is gone.
    pub(super) async fn call(&self, key: DedupKey) -> Result<F::Output> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Call { key, reply })
            .await
            .map_err(|_| stopped::<F>())?;
        answer.await.map_err(|_| stopped::<F>())?
    }
}

impl<F: Flush> Coalescer<F> {
    /// Queues `key` without waiting and returns where its answer will arrive, or `None` when
    /// the queue is full or the task is gone (the caller then asks again later with
    /// [`call`](Self::call)).
    pub(super) fn start_call(&self, key: DedupKey) -> Option<Answer<F::Output>> {
        let (reply, answer) = oneshot::channel();
        self.calls.try_send(Call { key, reply }).ok()?;
        Some(answer)
    }
}

/// Where the answer to a call queued by [`Coalescer::start_call`] arrives; dropping it
/// abandons the answer.
pub(super) type Answer<O> = oneshot::Receiver<Result<O>>;

fn stopped<F: Flush>() -> Error {
    Error::Cassandra {
        operation: F::OPERATION,
        reason: "the batching task stopped".into(),
    }
}

/// Takes queued calls into batches until the queue closes, then finishes running batches.
async fn run<F: Flush>(flush: F, mut queue: mpsc::Receiver<Call<F::Output>>, limits: Limits) {
    let flush = Arc::new(flush);
    let (most, in_flight) = (limits.batch.max(1), limits.in_flight.max(1));
    let mut running = FuturesUnordered::new();
    let mut open = true;
    while open || !running.is_empty() {
        tokio::select! {
            // Finished batches first: each one frees a slot for the keys queued meanwhile.
            biased;
            Some(()) = running.next(), if !running.is_empty() => {}
            call = queue.recv(), if open && running.len() < in_flight => match call {
                Some(first) => {
                    let mut batch = Vec::with_capacity(most.min(64));
                    batch.push(first);
                    while batch.len() < most {
                        match queue.try_recv() {
                            Ok(call) => batch.push(call),
                            Err(_) => break,
                        }
                    }
                    running.push(execute(Arc::clone(&flush), batch));
                }
                None => open = false,
            },
        }
    }
}

/// Runs one batch and answers each of its callers.
async fn execute<F: Flush>(flush: Arc<F>, batch: Vec<Call<F::Output>>) {
    let keys = batch.iter().map(|call| call.key).collect();
    let expected = batch.len();
    let outcome = match flush.flush(keys).await {
        Ok(answers) if answers.len() == expected => Ok(answers),
        Ok(answers) => Err(format!(
            "the statement answered {} of {expected} keys",
            answers.len()
        )),
        Err(reason) => Err(reason),
    };
    match outcome {
        Ok(answers) => {
            for (call, answer) in batch.into_iter().zip(answers) {
                // A caller that stopped waiting needs no answer.
                let _ = call.reply.send(Ok(answer));
            }
        }
        Err(reason) => {
            for call in batch {
                let _ = call.reply.send(Err(Error::Cassandra {
                    operation: F::OPERATION,
                    reason: reason.clone(),
                }));
            }
        }
    }
}
