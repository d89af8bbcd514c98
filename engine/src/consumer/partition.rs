//! One task per assigned partition: per-key ordering, concurrency and offset tracking.
//!
//! The poll thread sends envelopes through a bounded channel whose capacity is
//! `max_uncommitted`; since the poll thread never has more than that many envelopes
//! outstanding in total, a send never finds the channel full. Inside the task, [`KeyQueues`]
//! runs one event per key at a time, and a global semaphore caps running handlers at
//! `max_concurrency`. No task is spawned per message: running handlers are futures polled by
//! this task.
//!
//! Shutdown has three steps, driven by [`PartitionHandle`]'s tokens: `drain` stops new work
//! (queued events are abandoned uncommitted), `cancel` asks running handlers to stop, and
//! `terminate` drops them. Only completed offsets are ever published for commit.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::consumer::context::Context;
use crate::consumer::keyed::KeyQueues;
use crate::consumer::message::Message;
use crate::consumer::offsets::OffsetTracker;
use crate::consumer::shared::{Envelope, PartitionHandle, Progress, Shared, TopicPartition};
use crate::error::ErrorClass;

/// Starts the task for `partition` and returns its handle.
pub(crate) fn spawn(shared: &Arc<Shared>, partition: &TopicPartition) -> PartitionHandle {
    let (sender, receiver) = mpsc::channel(shared.settings.max_uncommitted.max(1));
    let progress = Arc::new(Progress {
        next_commit: AtomicI64::new(-1),
        busy: AtomicBool::new(false),
        last_progress_ms: AtomicU64::new(shared.now_ms()),
    });
    let (drain, cancel, terminate) = (
        CancellationToken::new(),
        CancellationToken::new(),
        CancellationToken::new(),
    );
    let task = PartitionTask {
        shared: Arc::clone(shared),
        progress: Arc::clone(&progress),
        cancel: cancel.clone(),
        tracker: OffsetTracker::default(),
        keys: KeyQueues::default(),
        label: format!("{}/{}", partition.0, partition.1).into(),
    };
    let task = shared
        .runtime
        .spawn(task.run(receiver, drain.clone(), terminate.clone()));
    PartitionHandle {
        sender,
        progress,
        drain,
        cancel,
        terminate,
        task,
    }
}

struct PartitionTask {
    shared: Arc<Shared>,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    tracker: OffsetTracker,
    keys: KeyQueues<Message>,
    label: Arc<str>,
}

/// What a finished handler reports back to its partition.
struct Done {
    key: Arc<str>,
    offset: i64,
    commit: bool,
}

impl PartitionTask {
    async fn run(
        mut self,
        mut receiver: mpsc::Receiver<Envelope>,
        drain: CancellationToken,
        terminate: CancellationToken,
    ) {
        let mut running = FuturesUnordered::new();
        let mut open = true;
        // Created once: a fresh `cancelled()` future per turn of the loop registers with (and
        // then leaves) the token's waiter list every time, twice per message.
        let terminated = terminate.cancelled();
        let drained = drain.cancelled();
        tokio::pin!(terminated, drained);
        loop {
            tokio::select! {
                biased;
                () = &mut terminated => break,
                Some(done) = running.next(), if !running.is_empty() => {
                    let done: Done = done;
                    if done.commit {
                        self.complete(done.offset);
                    }
                    self.shared.release(1);
                    if let Some(next) = self.keys.finish(&done.key) {
                        if open {
                            running.push(self.start(next));
                        } else {
                            self.shared.release(1);
                        }
                    }
                }
                () = &mut drained, if open => {
                    open = false;
                    receiver.close();
                }
                envelope = receiver.recv(), if open => match envelope {
                    Some(Envelope::Record(record)) => {
                        let offset = record.offset();
                        if !self.take(offset) {
                            self.shared.release(1);
                        } else {
                            match record.decode() {
                                Ok(message) => {
                                    if let Some(message) = self.keys.offer(&Arc::clone(message.shared_key()), message) {
                                        running.push(self.start(message));
                                    }
                                }
                                Err(reason) => {
                                    tracing::warn!(partition = %self.label, offset, %reason, "skipping record");
                                    self.shared.stats.skipped.fetch_add(1, Ordering::Relaxed);
                                    self.complete(offset);
                                    self.shared.release(1);
                                }
                            }
                        }
                    }
                    Some(Envelope::Skip(offset)) => {
                        if self.take(offset) {
                            self.complete(offset);
                        }
                        self.shared.release(1);
                    }
                    None => open = false,
                },
            }
            if !open && running.is_empty() {
                break;
            }
        }
        // Whatever was never started (or was dropped by `terminate`) stays uncommitted, so the
        // partition's next owner receives it again.
        let mut abandoned = running.len() + self.keys.queued();
        receiver.close();
        while receiver.try_recv().is_ok() {
            abandoned += 1;
        }
        self.shared.release(abandoned);
    }

    fn take(&mut self, offset: i64) -> bool {
        let was_busy = self.tracker.has_pending();
        let taken = self.tracker.take(offset);
        if taken && !was_busy {
            // An idle partition that receives work starts its stall clock now.
            self.progress
                .last_progress_ms
                .store(self.shared.now_ms(), Ordering::Release);
            self.progress.busy.store(true, Ordering::Release);
        }
        taken
    }

    fn complete(&mut self, offset: i64) {
        if self.tracker.complete(offset) {
            if let Some(next) = self.tracker.next_to_commit() {
                self.progress.next_commit.store(next, Ordering::Release);
            }
            self.progress
                .last_progress_ms
                .store(self.shared.now_ms(), Ordering::Release);
        }
        self.progress
            .busy
            .store(self.tracker.has_pending(), Ordering::Release);
    }

    fn start(&self, message: Message) -> impl std::future::Future<Output = Done> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let context = Context::new(Arc::clone(message.shared_key()), self.cancel.clone());
        let label = Arc::clone(&self.label);
        async move {
            let key = Arc::clone(message.shared_key());
            let offset = message.offset();
            shared.stats.dispatched.fetch_add(1, Ordering::Relaxed);
            let permit = Arc::clone(&shared.concurrency).acquire_owned().await;
            let outcome = std::panic::AssertUnwindSafe(shared.handler.on_message(context, message))
                .catch_unwind()
                .await;
            drop(permit);
            let commit = match outcome {
                Ok(Ok(())) => true,
                Ok(Err(error)) => {
                    tracing::warn!(partition = %label, offset, key = %key, %error, "handler failed");
                    error.class() != ErrorClass::Terminal
                }
                Err(_) => {
                    tracing::error!(partition = %label, offset, key = %key, "handler panicked; offset left uncommitted");
                    false
                }
            };
            Done {
                key,
                offset,
                commit,
            }
        }
    }
}
